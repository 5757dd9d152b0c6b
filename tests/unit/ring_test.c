/* ring: the same ring from the same membership in any order, owners
 * against an independent reference (each node's clockwise distance,
 * computed from the documented point formula), balance over 5/20/100
 * nodes, minimal movement on a join and a leave, the replica property
 * the overlay relies on (kill 2 supernodes, every name keeps an owner
 * that holds it), empty and single-node rings, argument checks, and a
 * retirement through QSBR. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "src/sn/gidx.h"
#include "src/sn/ring.h"

#define NAMES     100000u /* names for the balance and movement tests */
#define REF_NAMES 2000u   /* names checked against the slow reference */

static const uint8_t ring_key[GIDX_HASH_KEY_LEN] = RING_HASH_KEY_INIT;

/* Deterministic stand-ins for the random ids nodes draw at start-up. */
static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void make_ids(uint64_t seed, uint64_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ids[i] = splitmix64(&seed);
}

static struct ring *make(const uint64_t *ids, size_t n, unsigned vnodes)
{
	struct ring *r;

	cr_assert_eq(ring_create(n, vnodes, &r), 0);
	cr_assert_eq(ring_build(r, ids, n, vnodes), 0);
	return r;
}

static size_t name_of(unsigned i, char *buf)
{
	return (size_t)snprintf(buf, 32, "user-%u", i);
}

static size_t min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

static bool has(const uint64_t *set, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] == id)
			return true;
	return false;
}

/* point(id, i) exactly as ring.h documents it, not through ring.c. */
static uint64_t ref_point(uint64_t id, uint32_t i)
{
	uint8_t in[12];

	for (unsigned b = 0; b < 8; b++)
		in[b] = (uint8_t)(id >> (8 * b));
	for (unsigned b = 0; b < 4; b++)
		in[8 + b] = (uint8_t)(i >> (8 * b));
	return gidx_siphash24(ring_key, in, sizeof(in));
}

/* Owners by definition: walking clockwise from h, a node first appears at
 * its point nearest after h, so sort nodes by min_i (point(id, i) - h)
 * (unsigned arithmetic is the wrap-around). Selection sort: n is small. */
static size_t ref_owners(const uint64_t *ids, size_t n, unsigned vnodes, uint64_t h, uint64_t *out,
                         size_t want)
{
	uint64_t dist[128], id[128];

	cr_assert_leq(n, 128);
	for (size_t k = 0; k < n; k++) {
		id[k] = ids[k];
		dist[k] = UINT64_MAX;
		for (unsigned v = 0; v < vnodes; v++) {
			uint64_t d = ref_point(ids[k], v) - h;

			if (d < dist[k])
				dist[k] = d;
		}
	}
	want = min_sz(min_sz(want, n), RING_REPLICAS_MAX);
	for (size_t j = 0; j < want; j++) {
		size_t best = j;

		for (size_t k = j + 1; k < n; k++)
			if (dist[k] < dist[best] || (dist[k] == dist[best] && id[k] < id[best]))
				best = k;
		out[j] = id[best];
		dist[best] = dist[j], id[best] = id[j];
		dist[j] = 0, id[j] = out[j];
	}
	return want;
}

Test(ring, points_follow_the_documented_formula)
{
	uint64_t ids[7];
	struct ring *r;

	make_ids(1, ids, 7);
	r = make(ids, 7, 16);
	cr_assert_eq(r->n_nodes, 7);
	cr_assert_eq(r->n_points, 7 * 16);
	cr_assert_eq(r->vnodes, 16);
	for (size_t i = 0; i < r->n_points; i++) {
		if (i > 0)
			cr_assert(r->points[i - 1].pos < r->points[i].pos ||
			          (r->points[i - 1].pos == r->points[i].pos &&
			           r->points[i - 1].node < r->points[i].node));
		bool found = false;
		for (uint32_t v = 0; v < 16; v++)
			found |= ref_point(r->points[i].node, v) == r->points[i].pos;
		cr_assert(found, "point %zu is not point(node, i) for any i", i);
	}
	for (size_t i = 1; i < r->n_nodes; i++)
		cr_assert_lt(r->nodes[i - 1], r->nodes[i]);
	ring_destroy(r);
}

/* Pins the protocol constants: a change of the key or of the encoding
 * moves every name on a mixed-version network. Values from this code. */
Test(ring, positions_are_pinned)
{
	cr_assert_eq(ring_key_of("alice", 5), UINT64_C(0x15378a1cceef3947));
	cr_assert_eq(ref_point(UINT64_C(0x0123456789abcdef), 0), UINT64_C(0x8c172da4e5772d5d));
	cr_assert_eq(ring_key_of("alice", 5), gidx_siphash24(ring_key, "alice", 5));
}

Test(ring, same_ring_for_any_order_of_ids)
{
	uint64_t ids[20], rev[20], shuf[20], seed = 99, a[3], b[3], c[3];
	struct ring *ra, *rb, *rc;
	char name[32];

	make_ids(2, ids, 20);
	for (size_t i = 0; i < 20; i++)
		rev[i] = ids[19 - i];
	memcpy(shuf, ids, sizeof(ids));
	for (size_t i = 19; i > 0; i--) {
		size_t j = splitmix64(&seed) % (i + 1);
		uint64_t t = shuf[i];

		shuf[i] = shuf[j];
		shuf[j] = t;
	}
	ra = make(ids, 20, RING_VNODES_DEFAULT);
	rb = make(rev, 20, RING_VNODES_DEFAULT);
	rc = make(shuf, 20, RING_VNODES_DEFAULT);
	cr_assert_eq(ra->n_points, rb->n_points);
	cr_assert_eq(memcmp(ra->points, rb->points, ra->n_points * sizeof(*ra->points)), 0);
	cr_assert_eq(memcmp(ra->points, rc->points, ra->n_points * sizeof(*ra->points)), 0);
	cr_assert_eq(memcmp(ra->nodes, rc->nodes, 20 * sizeof(uint64_t)), 0);
	for (unsigned i = 0; i < 10000; i++) {
		size_t len = name_of(i, name);

		cr_assert_eq(ring_owners(ra, name, len, a, 3), 3);
		cr_assert_eq(ring_owners(rb, name, len, b, 3), 3);
		cr_assert_eq(ring_owners(rc, name, len, c, 3), 3);
		cr_assert_eq(memcmp(a, b, sizeof(a)), 0);
		cr_assert_eq(memcmp(a, c, sizeof(a)), 0);
	}
	ring_destroy(ra);
	ring_destroy(rb);
	ring_destroy(rc);
}

Test(ring, owners_match_the_reference)
{
	static const size_t sizes[] = {1, 2, 3, 5, 20};
	static const size_t wants[] = {0, 1, 2, 3, 5, 16, 40};
	uint64_t ids[20], got[RING_REPLICAS_MAX], ref[RING_REPLICAS_MAX];
	char name[32];

	make_ids(3, ids, 20);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(*sizes); s++) {
		size_t n = sizes[s];
		struct ring *r = make(ids, n, RING_VNODES_DEFAULT);

		for (size_t w = 0; w < sizeof(wants) / sizeof(*wants); w++)
			for (unsigned i = 0; i < REF_NAMES / 4; i++) {
				size_t len = name_of(i, name), want = wants[w];
				size_t k = ring_owners(r, name, len, got, want);
				size_t e = ref_owners(ids, n, RING_VNODES_DEFAULT,
				                      ring_key_of(name, len), ref, want);

				cr_assert_eq(k, min_sz(min_sz(want, n), RING_REPLICAS_MAX),
				             "n %zu want %zu", n, want);
				cr_assert_eq(k, e);
				cr_assert_eq(memcmp(got, ref, k * sizeof(*got)), 0,
				             "n %zu want %zu %s", n, want, name);
				for (size_t j = 0; j < k; j++)
					cr_assert_not(has(got, j, got[j]), "owners repeat");
			}
		ring_destroy(r);
	}
}

Test(ring, is_owner_agrees_with_owners)
{
	uint64_t ids[8], own[5];
	struct ring *r;
	char name[32];

	make_ids(4, ids, 8);
	r = make(ids, 8, RING_VNODES_DEFAULT);
	for (unsigned i = 0; i < REF_NAMES; i++) {
		size_t len = name_of(i, name);

		for (size_t rep = 0; rep <= 5; rep++) {
			size_t k = ring_owners(r, name, len, own, rep);

			for (size_t j = 0; j < 8; j++)
				cr_assert_eq(ring_is_owner(r, ids[j], name, len, rep),
				             has(own, k, ids[j]));
			cr_assert_not(ring_is_owner(r, 12345, name, len, rep), "not a member");
		}
	}
	ring_destroy(r);
}

/* Each node's share of NAMES primaries (and of replica copies) against
 * 1/n. With v points a share spreads by about 1/sqrt(v) = 12.5 % for 64,
 * plus sampling noise (about 3 % at 1000 names a node). */
static void balance(size_t n, uint64_t seed, double *max_ratio, double *min_ratio,
                    double *max_rep_ratio)
{
	static uint32_t primary[100], copies[100];
	uint64_t ids[100], own[RING_REPLICAS];
	struct ring *r;
	char name[32];
	double mean = (double)NAMES / (double)n, rep_mean = mean * RING_REPLICAS;
	uint32_t hi = 0, lo = UINT32_MAX, rep_hi = 0;

	make_ids(seed, ids, n);
	r = make(ids, n, RING_VNODES_DEFAULT);
	memset(primary, 0, sizeof(primary));
	memset(copies, 0, sizeof(copies));
	for (unsigned i = 0; i < NAMES; i++) {
		size_t len = name_of(i, name);
		size_t k = ring_owners(r, name, len, own, RING_REPLICAS);

		cr_assert_eq(k, RING_REPLICAS);
		for (size_t j = 0; j < k; j++)
			for (size_t x = 0; x < n; x++)
				if (ids[x] == own[j]) {
					primary[x] += j == 0;
					copies[x]++;
				}
	}
	for (size_t x = 0; x < n; x++) {
		hi = primary[x] > hi ? primary[x] : hi;
		lo = primary[x] < lo ? primary[x] : lo;
		rep_hi = copies[x] > rep_hi ? copies[x] : rep_hi;
	}
	*max_ratio = hi / mean;
	*min_ratio = lo / mean;
	*max_rep_ratio = rep_hi / rep_mean;
	ring_destroy(r);
}

Test(ring, balance_with_64_vnodes)
{
	static const size_t sizes[] = {5, 20, 100};

	for (size_t s = 0; s < 3; s++)
		for (uint64_t seed = 10; seed < 13; seed++) {
			double mx, mn, rep;

			balance(sizes[s], seed, &mx, &mn, &rep);
			cr_log_info("balance n=%zu seed=%llu: primary max/mean %.3f min/mean %.3f, "
			            "copies max/mean %.3f",
			            sizes[s], (unsigned long long)seed, mx, mn, rep);
			cr_assert_lt(mx, 1.6, "n %zu: max/mean %.3f", sizes[s], mx);
			cr_assert_gt(mn, 0.5, "n %zu: min/mean %.3f", sizes[s], mn);
			cr_assert_lt(rep, 1.6, "n %zu: copies max/mean %.3f", sizes[s], rep);
		}
}

/* A join: only names the new node now owns first change their primary,
 * about 1/(n+1) of them, and the only owner added anywhere is the new
 * node. */
Test(ring, a_join_moves_about_one_share)
{
	static const size_t sizes[] = {5, 20, 100};
	uint64_t ids[101], a[RING_REPLICAS], b[RING_REPLICAS], add[RING_REPLICAS];
	char name[32];

	make_ids(20, ids, 101);
	for (size_t s = 0; s < 3; s++) {
		size_t n = sizes[s];
		uint64_t newcomer = ids[n];
		struct ring *before = make(ids, n, RING_VNODES_DEFAULT);
		struct ring *after = make(ids, n + 1, RING_VNODES_DEFAULT);
		unsigned moved = 0, set_changed = 0;

		for (unsigned i = 0; i < NAMES; i++) {
			size_t len = name_of(i, name), k;

			ring_owners(before, name, len, a, RING_REPLICAS);
			ring_owners(after, name, len, b, RING_REPLICAS);
			if (a[0] != b[0]) {
				moved++;
				cr_assert_eq(b[0], newcomer, "a primary moved to an old node");
			}
			k = ring_added_owners(before, after, name, len, RING_REPLICAS, add);
			if (memcmp(a, b, sizeof(a)) != 0) {
				set_changed++;
				cr_assert(has(b, RING_REPLICAS, newcomer));
				cr_assert_eq(k, 1);
				cr_assert_eq(add[0], newcomer);
			} else {
				cr_assert_eq(k, 0);
			}
		}
		cr_log_info("join %zu -> %zu: primaries moved %.4f (1/(n+1) = %.4f), owner sets "
		            "changed %.4f",
		            n, n + 1, (double)moved / NAMES, 1.0 / (double)(n + 1),
		            (double)set_changed / NAMES);
		cr_assert_lt((double)moved / NAMES, 2.0 / (double)(n + 1), "n %zu", n);
		cr_assert_gt(moved, 0);
		ring_destroy(before);
		ring_destroy(after);
	}
}

/* A leave: names the node neither owned nor replicated keep exactly
 * their owners; the others keep the survivors in order and gain one. */
Test(ring, a_leave_touches_only_its_names)
{
	static const size_t sizes[] = {3, 5, 20};
	uint64_t ids[20], rest[20], a[RING_REPLICAS], b[RING_REPLICAS], add[RING_REPLICAS];
	char name[32];

	make_ids(30, ids, 20);
	for (size_t s = 0; s < 3; s++) {
		size_t n = sizes[s], gone = n / 2, m = 0;
		struct ring *before = make(ids, n, RING_VNODES_DEFAULT), *after;
		unsigned touched = 0;

		for (size_t i = 0; i < n; i++)
			if (i != gone)
				rest[m++] = ids[i];
		after = make(rest, m, RING_VNODES_DEFAULT);
		for (unsigned i = 0; i < NAMES; i++) {
			size_t len = name_of(i, name), j = 0;
			size_t kb = ring_owners(before, name, len, a, RING_REPLICAS);
			size_t ka = ring_owners(after, name, len, b, RING_REPLICAS);
			size_t k = ring_added_owners(before, after, name, len, RING_REPLICAS, add);

			cr_assert_eq(kb, RING_REPLICAS);
			cr_assert_eq(ka, min_sz(m, RING_REPLICAS));
			if (!has(a, kb, ids[gone])) {
				cr_assert_eq(memcmp(a, b, sizeof(a)), 0, "an unrelated name moved");
				cr_assert_eq(k, 0);
				continue;
			}
			touched++;
			for (size_t x = 0; x < kb; x++)
				if (a[x] != ids[gone])
					cr_assert_eq(b[j++], a[x], "a survivor lost its rank");
			cr_assert_eq(j, kb - 1);
			if (m >= RING_REPLICAS) {
				cr_assert_eq(k, 1);
				cr_assert_eq(add[0], b[RING_REPLICAS - 1]);
				cr_assert_not(has(a, kb, add[0]));
			} else {
				cr_assert_eq(k, 0, "fewer nodes than replicas: nobody comes in");
			}
		}
		cr_log_info("leave %zu -> %zu: owner sets changed %.4f (replicas/n = %.4f)", n, m,
		            (double)touched / NAMES, (double)RING_REPLICAS / (double)n);
		ring_destroy(before);
		ring_destroy(after);
	}
}

/* The overlay's promise: kill 2 supernodes and every user who logged in
 * is still found, because at least one of the 3 copies survives and
 * every survivor is still among the name's owners on the new ring. */
static void kill_two(const uint64_t *ids, size_t n, size_t x, size_t y)
{
	uint64_t rest[20], a[RING_REPLICAS], b[RING_REPLICAS];
	struct ring *before = make(ids, n, RING_VNODES_DEFAULT), *after;
	size_t m = 0;
	char name[32];

	for (size_t i = 0; i < n; i++)
		if (i != x && i != y)
			rest[m++] = ids[i];
	after = make(rest, m, RING_VNODES_DEFAULT);
	for (unsigned i = 0; i < NAMES / 5; i++) {
		size_t len = name_of(i, name), alive = 0;

		ring_owners(before, name, len, a, RING_REPLICAS);
		cr_assert_eq(ring_owners(after, name, len, b, RING_REPLICAS), RING_REPLICAS);
		for (size_t j = 0; j < RING_REPLICAS; j++) {
			if (a[j] == ids[x] || a[j] == ids[y])
				continue;
			alive++;
			cr_assert(has(b, RING_REPLICAS, a[j]),
			          "a surviving copy is no longer an owner");
		}
		cr_assert_geq(alive, 1, "%s lost every copy", name);
	}
	ring_destroy(before);
	ring_destroy(after);
}

Test(ring, killing_two_supernodes_loses_no_name)
{
	uint64_t ids[20], seed = 77;

	make_ids(40, ids, 20);
	for (size_t x = 0; x < 5; x++)
		for (size_t y = x + 1; y < 5; y++)
			kill_two(ids, 5, x, y);
	for (unsigned t = 0; t < 5; t++) {
		size_t x = splitmix64(&seed) % 20, y = (x + 1 + splitmix64(&seed) % 19) % 20;

		kill_two(ids, 20, x, y);
	}
}

Test(ring, empty_ring)
{
	uint64_t id = 42, out[RING_REPLICAS];
	struct ring *empty, *one;

	cr_assert_eq(ring_create(4, 8, &empty), 0);
	cr_assert_eq(empty->n_nodes, 0);
	cr_assert_eq(ring_owners(empty, "bob", 3, out, RING_REPLICAS), 0);
	cr_assert_not(ring_is_owner(empty, 42, "bob", 3, RING_REPLICAS));
	one = make(&id, 1, 8);
	cr_assert_eq(ring_added_owners(empty, one, "bob", 3, RING_REPLICAS, out), 1,
	             "from nothing, every owner is new");
	cr_assert_eq(out[0], 42);
	cr_assert_eq(ring_added_owners(one, empty, "bob", 3, RING_REPLICAS, out), 0);
	ring_destroy(empty);
	ring_destroy(one);
}

Test(ring, single_node_owns_everything)
{
	uint64_t id = 0xfeedull, out[RING_REPLICAS];
	struct ring *r = make(&id, 1, 1);
	char name[32];

	for (unsigned i = 0; i < 1000; i++) {
		size_t len = name_of(i, name);

		cr_assert_eq(ring_owners(r, name, len, out, RING_REPLICAS), 1);
		cr_assert_eq(out[0], id);
		cr_assert(ring_is_owner(r, id, name, len, 1));
		cr_assert_not(ring_is_owner(r, id, name, len, 0));
	}
	cr_assert_eq(ring_owners(r, "", 0, out, RING_REPLICAS), 1, "the empty name too");
	ring_destroy(r);
}

Test(ring, want_is_capped)
{
	uint64_t ids[40], out[RING_REPLICAS_MAX + 1];
	struct ring *r;

	make_ids(50, ids, 40);
	r = make(ids, 40, 4);
	out[RING_REPLICAS_MAX] = 7;
	cr_assert_eq(ring_owners(r, "carol", 5, out, 1000), RING_REPLICAS_MAX);
	cr_assert_eq(out[RING_REPLICAS_MAX], 7, "wrote past the cap");
	ring_destroy(r);
}

Test(ring, bad_arguments)
{
	static const uint64_t ids[5] = {1, 2, 3, 4, 5}, dup[3] = {9, 8, 9};
	uint64_t out[RING_REPLICAS];
	static char not_null;
	struct ring *r = (struct ring *)(void *)&not_null; /* must come back NULL */

	cr_assert_eq(ring_create(0, 8, &r), -EINVAL);
	cr_assert_null(r);
	cr_assert_eq(ring_create(RING_NODES_MAX + 1, 8, &r), -EINVAL);
	cr_assert_eq(ring_create(4, 0, &r), -EINVAL);
	cr_assert_eq(ring_create(4, RING_VNODES_MAX + 1, &r), -EINVAL);
	cr_assert_eq(ring_create(4, 8, &r), 0);

	/* Every failure leaves the ring empty, even after a good build. */
	static const struct {
		const uint64_t *ids;
		size_t n;
		unsigned vnodes;
		int err;
	} bad[] = {
	    {ids, 0, 8, -EINVAL}, {NULL, 3, 8, -EINVAL}, {ids, 3, 0, -EINVAL},
	    {ids, 5, 8, -ENOSPC}, {ids, 3, 9, -ENOSPC},  {dup, 3, 8, -EINVAL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		cr_assert_eq(ring_build(r, ids, 4, 8), 0);
		cr_assert_eq(ring_owners(r, "dave", 4, out, RING_REPLICAS), 3);
		cr_assert_eq(ring_build(r, bad[i].ids, bad[i].n, bad[i].vnodes), bad[i].err,
		             "case %zu", i);
		cr_assert_eq(r->n_nodes, 0);
		cr_assert_eq(r->n_points, 0);
		cr_assert_eq(ring_owners(r, "dave", 4, out, RING_REPLICAS), 0);
	}
	/* At capacity is fine, with fewer vnodes too. */
	cr_assert_eq(ring_build(r, ids, 4, 8), 0);
	cr_assert_eq(ring_build(r, ids + 1, 4, 3), 0);
	cr_assert_eq(r->n_points, 12);
	ring_destroy(r);
	ring_destroy(NULL);
}

/* The publishing pattern of ring.h: a reader online in the domain holds
 * the old ring back until its quiescent point. */
Test(ring, retired_through_qsbr)
{
	uint64_t ids[3] = {7, 8, 9};
	struct qsbr q;
	struct qsbr_limbo l;
	struct ring *old = make(ids, 3, 8);
	int slot;

	cr_assert_eq(qsbr_init(&q, 2), 0);
	qsbr_limbo_init(&l, &q);
	slot = qsbr_register(&q);
	cr_assert_geq(slot, 0);
	qsbr_retire(&l, &old->retire, ring_retire_free);
	cr_assert_eq(qsbr_reclaim(&l), 0, "freed under an online reader");
	qsbr_quiescent(&q, slot);
	cr_assert_eq(qsbr_reclaim(&l), 1);
	qsbr_unregister(&q, slot);
	qsbr_limbo_fini(&l);
	qsbr_fini(&q);
}

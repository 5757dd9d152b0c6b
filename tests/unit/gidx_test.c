/* gidx: records by name with versions, expiry and presence on injected
 * clocks, argument checks, hash spread, growth and capacity, a random
 * single-thread model check, and one writer per shard under concurrent
 * readers that check every record they see (run under ThreadSanitizer
 * and ASan too). */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "src/sn/gidx.h"

#define H  3600ull
#define T0 1700000000ull /* real-time seconds */
#define M0 5000ull       /* monotonic seconds */

static const uint8_t key_a[GIDX_HASH_KEY_LEN] = {1, 2,  3,  4,  5,  6,  7,  8,
                                                 9, 10, 11, 12, 13, 14, 15, 16};

static struct qsbr q;

static struct gidx *make(unsigned shards, uint32_t max, uint32_t slots, uint64_t ttl)
{
	struct gidx_config c = {
	    .n_shards = shards, .max_records = max, .initial_slots = slots, .ttl_s = ttl};
	struct gidx *g;

	memcpy(c.hash_key, key_a, sizeof(key_a));
	cr_assert_eq(gidx_create(&c, &q, &g), 0);
	return g;
}

static void setup(void)
{
	cr_assert_eq(qsbr_init(&q, 8), 0);
}

static void teardown(void)
{
	qsbr_fini(&q);
}

/* The i-th name (counting from *next) that lands in shard. */
static size_t name_in(const struct gidx *g, unsigned shard, unsigned *next, char *buf)
{
	for (;;) {
		size_t n = (size_t)snprintf(buf, 32, "user-%u", (*next)++);

		if (gidx_shard_of(g, buf, n) == shard)
			return n;
	}
}

/* Puts name (routed to its shard) with a blob equal to the name. */
static int put(struct gidx *g, const char *name, uint64_t login, uint64_t ver)
{
	size_t n = strlen(name);

	return gidx_put(g, gidx_shard_of(g, name, n), name, n, name, n, login, ver);
}

static int look(struct gidx *g, const char *name, uint64_t now, struct gidx_view *v)
{
	return gidx_lookup(g, name, strlen(name), now, v);
}

TestSuite(gidx, .init = setup, .fini = teardown);

Test(gidx, create_rejects_bad_config)
{
	struct gidx_config c = {.n_shards = 3, .max_records = 10};
	static char not_null;
	struct gidx *g = (struct gidx *)(void *)&not_null; /* must come back NULL */

	cr_assert_eq(gidx_create(&c, &q, &g), -EINVAL, "not a power of two");
	cr_assert_null(g);
	c.n_shards = 0;
	cr_assert_eq(gidx_create(&c, &q, &g), -EINVAL);
	c.n_shards = GIDX_SHARDS_MAX * 2;
	cr_assert_eq(gidx_create(&c, &q, &g), -EINVAL);
	c.n_shards = 4;
	c.max_records = 0;
	cr_assert_eq(gidx_create(&c, &q, &g), -EINVAL);
	c.max_records = GIDX_SHARD_RECORDS_MAX + 1;
	cr_assert_eq(gidx_create(&c, &q, &g), -EINVAL);
	c.max_records = 10;
	cr_assert_eq(gidx_create(&c, NULL, &g), -EINVAL);
	gidx_destroy(NULL);
}

Test(gidx, siphash_reference_vectors)
{
	/* The SipHash paper's key 00..0f on messages 00..(n-1). */
	uint8_t k[16], m[16];

	for (int i = 0; i < 16; i++)
		k[i] = m[i] = (uint8_t)i;
	cr_assert_eq(gidx_siphash24(k, m, 0), 0x726fdb47dd0e0e31ull);
	cr_assert_eq(gidx_siphash24(k, m, 1), 0x74f839c593dc67fdull);
	cr_assert_eq(gidx_siphash24(k, m, 8), 0x93f5f5799a932462ull);
	cr_assert_eq(gidx_siphash24(k, m, 15), 0xa129ca6149be45e5ull);
}

Test(gidx, put_lookup_replace_by_version_delete)
{
	struct gidx *g = make(4, 100, 0, 0);
	struct gidx_view v;
	struct gidx_stats st;
	unsigned sh = gidx_shard_of(g, "alice", 5);

	cr_assert_eq(look(g, "alice", T0, &v), -ENOENT);
	cr_assert_eq(gidx_put(g, sh, "alice", 5, "blob-1", 6, T0, 7), 0);
	cr_assert_eq(look(g, "alice", T0, &v), 0);
	cr_assert_eq(v.name_len, 5);
	cr_assert_eq(memcmp(v.name, "alice", 5), 0);
	cr_assert_eq(v.blob_len, 6);
	cr_assert_eq(memcmp(v.blob, "blob-1", 6), 0);
	cr_assert_eq((uintptr_t)v.blob % 16, 0);
	cr_assert_eq(v.version, 7);
	cr_assert_eq(v.last_login, T0);
	cr_assert_eq(v.expires_at, T0 + 72 * H);
	cr_assert_eq(v.presence_until, 0, "a new record starts offline");

	cr_assert_eq(gidx_put(g, sh, "alice", 5, "old", 3, T0, 6), -ESTALE);
	cr_assert_eq(gidx_put(g, sh, "alice", 5, "same", 4, T0, 7), -EEXIST);
	cr_assert_eq(look(g, "alice", T0, &v), 0);
	cr_assert_eq(v.version, 7, "refused puts change nothing");
	cr_assert_eq(gidx_put(g, sh, "alice", 5, "blob-two", 8, T0 + 10, 9), 0);
	cr_assert_eq(look(g, "alice", T0 + 10, &v), 0);
	cr_assert_eq(v.version, 9);
	cr_assert_eq(memcmp(v.blob, "blob-two", 8), 0);
	cr_assert_eq(v.expires_at, T0 + 10 + 72 * H);
	cr_assert_eq(gidx_stats(g, sh, &st), 0);
	cr_assert_eq(st.count, 1);
	cr_assert_eq(st.pending, 1, "the replaced record waits in limbo");

	cr_assert_eq(gidx_del(g, sh, "alice", 5), 0);
	cr_assert_eq(look(g, "alice", T0, &v), -ENOENT);
	cr_assert_eq(gidx_del(g, sh, "alice", 5), -ENOENT);
	gidx_stats(g, sh, &st);
	cr_assert_eq(st.count, 0);
	cr_assert_eq(st.bytes, 0);
	/* Deleted, the name takes any version again. */
	cr_assert_eq(gidx_put(g, sh, "alice", 5, NULL, 0, T0, 1), 0);
	gidx_destroy(g);
}

Test(gidx, record_older_than_72h_is_gone)
{
	struct gidx *g = make(1, 100, 0, 0);
	struct gidx_view v;
	struct gidx_stats st;

	cr_assert_eq(put(g, "bob", T0, 1), 0);
	cr_assert_eq(look(g, "bob", T0 + 71 * H + 59 * 60, &v), 0, "71h59m: found");
	cr_assert_eq(look(g, "bob", T0 + 72 * H - 1, &v), 0);
	cr_assert_eq(look(g, "bob", T0 + 72 * H, &v), -ENOENT, "72h: gone, even unswept");
	cr_assert_eq(gidx_expire(g, 0, T0 + 72 * H - 1, 1000), 0);
	cr_assert_eq(gidx_expire(g, 0, T0 + 72 * H, 1000), 1);
	gidx_stats(g, 0, &st);
	cr_assert_eq(st.count, 0);
	cr_assert_eq(st.expired, 1);
	/* A login renews: the 72 h run from the last one. */
	cr_assert_eq(put(g, "bob", T0, 2), 0);
	cr_assert_eq(put(g, "bob", T0 + 48 * H, 3), 0);
	cr_assert_eq(look(g, "bob", T0 + 100 * H, &v), 0);
	cr_assert_eq(gidx_expire(g, 0, T0 + 100 * H, 1000), 0);
	gidx_destroy(g);

	g = make(1, 100, 0, 60); /* configured ttl */
	cr_assert_eq(put(g, "bob", T0, 1), 0);
	cr_assert_eq(look(g, "bob", T0 + 59, &v), 0);
	cr_assert_eq(look(g, "bob", T0 + 60, &v), -ENOENT);
	gidx_destroy(g);
}

Test(gidx, presence_follows_injected_clock)
{
	struct gidx *g = make(2, 100, 0, 0);
	struct gidx_view v;
	unsigned sh = gidx_shard_of(g, "carol", 5);

	cr_assert_eq(gidx_touch_presence(g, sh, "carol", 5, M0 + 90), -ENOENT);
	cr_assert_eq(put(g, "carol", T0, 1), 0);
	cr_assert_eq(gidx_touch_presence(g, sh, "carol", 5, M0 + 90), 0);
	cr_assert_eq(look(g, "carol", T0, &v), 0);
	cr_assert(gidx_view_online(&v, M0 + 89));
	cr_assert_not(gidx_view_online(&v, M0 + 90));
	cr_assert_eq(put(g, "carol", T0 + 5, 2), 0);
	cr_assert_eq(look(g, "carol", T0 + 5, &v), 0);
	cr_assert_eq(v.presence_until, M0 + 90, "a new version keeps presence");
	cr_assert_eq(gidx_touch_presence(g, sh, "carol", 5, 0), 0, "logout");
	cr_assert_eq(look(g, "carol", T0 + 5, &v), 0);
	cr_assert_not(gidx_view_online(&v, M0));
	gidx_destroy(g);
}

Test(gidx, bad_lengths_and_routing)
{
	static uint8_t big[GIDX_BLOB_MAX + 1];
	struct gidx *g = make(8, 100, 0, 0);
	struct gidx_view v;
	char name[GIDX_NAME_MAX + 1];
	unsigned sh;

	memset(name, 'n', sizeof(name));
	sh = gidx_shard_of(g, name, GIDX_NAME_MAX);
	cr_assert_eq(gidx_put(g, sh, name, 0, "x", 1, T0, 1), -EINVAL);
	cr_assert_eq(gidx_put(g, sh, NULL, 3, "x", 1, T0, 1), -EINVAL);
	cr_assert_eq(gidx_put(g, sh, name, GIDX_NAME_MAX + 1, "x", 1, T0, 1), -EINVAL);
	cr_assert_eq(gidx_put(g, sh, name, GIDX_NAME_MAX, big, GIDX_BLOB_MAX + 1, T0, 1), -EINVAL);
	cr_assert_eq(gidx_put(g, sh, name, GIDX_NAME_MAX, NULL, 5, T0, 1), -EINVAL);
	cr_assert_eq(gidx_put(g, 8, name, GIDX_NAME_MAX, "x", 1, T0, 1), -EINVAL);
	cr_assert_eq(gidx_put(g, (sh + 1) % 8, name, GIDX_NAME_MAX, "x", 1, T0, 1), -EXDEV);
	cr_assert_eq(gidx_del(g, (sh + 1) % 8, name, GIDX_NAME_MAX), -EXDEV);
	cr_assert_eq(gidx_lookup(g, name, 0, T0, &v), -EINVAL);
	cr_assert_eq(gidx_lookup(g, name, GIDX_NAME_MAX + 1, T0, &v), -EINVAL);
	cr_assert_eq(gidx_lookup(g, NULL, 4, T0, &v), -EINVAL);
	cr_assert_eq(gidx_expire(g, 8, T0, 10), -EINVAL);
	/* The largest of both fit; names are bytes, NULs included. */
	cr_assert_eq(gidx_put(g, sh, name, GIDX_NAME_MAX, big, GIDX_BLOB_MAX, T0, 1), 0);
	cr_assert_eq(gidx_lookup(g, name, GIDX_NAME_MAX, T0, &v), 0);
	cr_assert_eq(v.blob_len, GIDX_BLOB_MAX);
	cr_assert_eq(gidx_lookup(g, name, GIDX_NAME_MAX - 1, T0, &v), -ENOENT);
	cr_assert_eq(gidx_put(g, gidx_shard_of(g, "a\0b", 3), "a\0b", 3, "1", 1, T0, 1), 0);
	cr_assert_eq(gidx_lookup(g, "a\0c", 3, T0, &v), -ENOENT);
	cr_assert_eq(gidx_lookup(g, "a\0b", 3, T0, &v), 0);
	gidx_destroy(g);
}

Test(gidx, hash_spreads_names_over_shards)
{
	struct gidx *g = make(64, 100, 0, 0);
	uint8_t key_b[GIDX_HASH_KEY_LEN] = {0};
	unsigned count[64] = {0}, moved = 0;
	char name[32];

	for (unsigned i = 0; i < 65536; i++) {
		size_t n = (size_t)snprintf(name, sizeof(name), "user-%u", i);
		unsigned s = gidx_shard_of(g, name, n);

		count[s]++;
		moved += s != ((gidx_siphash24(key_b, name, n) >> 32) & 63);
	}
	/* 1024 expected per shard, sigma ~32: +-25 % is 8 sigma. */
	for (int s = 0; s < 64; s++)
		cr_assert(count[s] > 768 && count[s] < 1280, "shard %d got %u", s, count[s]);
	/* Another key places names elsewhere (63/64 expected). */
	cr_assert_gt(moved, 60000);
	gidx_destroy(g);
}

Test(gidx, capacity_and_growth)
{
	struct gidx *g = make(4, 100, 16, 0);
	struct gidx_view v;
	struct gidx_stats st;
	char names[101][32];
	size_t len[101];
	unsigned next = 0;

	for (int i = 0; i < 101; i++)
		len[i] = name_in(g, 2, &next, names[i]);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(gidx_put(g, 2, names[i], len[i], names[i], len[i], T0, 1), 0, "%d", i);
	cr_assert_eq(gidx_put(g, 2, names[100], len[100], "x", 1, T0, 1), -ENOSPC);
	cr_assert_eq(gidx_put(g, 2, names[5], len[5], "newer", 5, T0, 2), 0, "replacing fits");
	gidx_stats(g, 2, &st);
	cr_assert_eq(st.count, 100);
	cr_assert_geq(st.slots, 200, "grown to keep load at most 3/4");
	cr_assert_gt(st.rebuilds, 0);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(gidx_lookup(g, names[i], len[i], T0, &v), 0, "%d after growth", i);
	cr_assert_eq(gidx_del(g, 2, names[0], len[0]), 0);
	cr_assert_eq(gidx_put(g, 2, names[100], len[100], "x", 1, T0, 1), 0);
	gidx_stats(g, 1, &st);
	cr_assert_eq(st.count, 0, "other shards untouched");
	gidx_destroy(g);
}

Test(gidx, random_ops_match_a_model)
{
	enum { N = 300, OPS = 60000 };
	static char names[N][32];
	static size_t len[N];
	static uint64_t ver[N];
	static bool live[N];
	struct gidx *g = make(1, 1000, 16, 0);
	struct gidx_stats st;
	struct gidx_view v;
	uint64_t x = 88172645463325252ull;

	for (int i = 0; i < N; i++)
		len[i] = (size_t)snprintf(names[i], sizeof(names[i]), "m%d", i);
	for (int op = 0; op < OPS; op++) {
		int k = (int)((x ^= x << 13, x ^= x >> 7, x ^= x << 17) % N);
		int r;

		if (x % 3) {
			r = gidx_put(g, 0, names[k], len[k], &op, sizeof(op), T0, ver[k] + 1);
			cr_assert_eq(r, 0);
			ver[k]++;
			live[k] = true;
		} else {
			r = gidx_del(g, 0, names[k], len[k]);
			cr_assert_eq(r, live[k] ? 0 : -ENOENT);
			live[k] = false;
		}
		k = (int)((x >> 20) % N);
		r = gidx_lookup(g, names[k], len[k], T0, &v);
		cr_assert_eq(r, live[k] ? 0 : -ENOENT, "op %d name %d", op, k);
		cr_assert(!live[k] || v.version == ver[k]);
		if (op % 64 == 0)
			gidx_reclaim(g, 0);
	}
	gidx_reclaim(g, 0);
	gidx_stats(g, 0, &st);
	cr_assert_leq(st.slots, 1024, "tombstones must not make the table grow");
	cr_assert_eq(st.pending, 0, "no reader registered: all freed");
	gidx_destroy(g);
}

Test(gidx, expire_is_bounded_per_call_and_shrinks)
{
	struct gidx *g = make(1, 5000, 0, 0);
	struct gidx_stats st;
	char name[32];
	int total = 0, calls = 0, r;

	for (int i = 0; i < 4000; i++) {
		snprintf(name, sizeof(name), "e%d", i);
		cr_assert_eq(put(g, name, i < 3000 ? T0 : T0 + H, 1), 0);
	}
	cr_assert_eq(gidx_expire(g, 0, T0 + 72 * H - 1, 100000), 0);
	while ((r = gidx_expire(g, 0, T0 + 72 * H, 64)) >= 0 && calls < 10000) {
		cr_assert_leq(r, 64);
		total += r;
		calls++;
		gidx_stats(g, 0, &st);
		if (st.count == 1000)
			break;
	}
	cr_assert_eq(total, 3000);
	gidx_stats(g, 0, &st);
	cr_assert_eq(st.expired, 3000);
	cr_assert_leq(st.slots, 4096, "rebuilt smaller after the wave");
	for (int i = 3000; i < 4000; i++) {
		struct gidx_view v;

		snprintf(name, sizeof(name), "e%d", i);
		cr_assert_eq(look(g, name, T0 + 72 * H, &v), 0, "%s survives the sweep", name);
	}
	gidx_destroy(g);
}

Test(gidx, reclaim_waits_for_readers)
{
	struct gidx *g = make(1, 10, 0, 0);
	struct gidx_stats st;
	struct gidx_view v;
	int r = qsbr_register(&q);

	cr_assert_eq(put(g, "dave", T0, 1), 0);
	cr_assert_eq(look(g, "dave", T0, &v), 0);
	cr_assert_eq(put(g, "dave", T0, 2), 0);
	cr_assert_eq(gidx_reclaim(g, 0), 0, "the reader may still hold version 1");
	cr_assert_eq(v.version, 1);
	cr_assert_eq(memcmp(v.blob, "dave", 4), 0, "still readable until quiescent");
	qsbr_quiescent(&q, r);
	cr_assert_eq(gidx_reclaim(g, 0), 1);
	gidx_stats(g, 0, &st);
	cr_assert_eq(st.reclaimed, 1);
	cr_assert_eq(st.pending, 0);
	qsbr_unregister(&q, r);
	gidx_destroy(g);
}

/* ---- one writer per shard, concurrent readers ------------------------- */

#define C_SHARDS  2
#define C_NAMES   128 /* per shard */
#define C_READERS 3
#define C_OPS     20000 /* per writer */
#define C_BATCHES 1500  /* per reader, at least */

struct conc {
	struct gidx *g;
	char names[C_SHARDS][C_NAMES][32];
	size_t len[C_SHARDS][C_NAMES];
	_Atomic int writers_left;
	_Atomic uint64_t errors, seen;
};

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ *p++) * 16777619u;
	return h;
}

/* [name_len][name][version, 8][fill_len, 2][fill][fnv1a of all before, 4] */
static size_t blob_make(uint8_t *b, const char *name, size_t n, uint64_t ver)
{
	uint16_t fill = (uint16_t)(ver * 7 % 300);
	size_t o = 0;
	uint32_t h;

	b[o++] = (uint8_t)n;
	memcpy(b + o, name, n), o += n;
	memcpy(b + o, &ver, 8), o += 8;
	memcpy(b + o, &fill, 2), o += 2;
	for (uint16_t j = 0; j < fill; j++)
		b[o++] = (uint8_t)(ver + j);
	h = fnv1a(b, o);
	memcpy(b + o, &h, 4);
	return o + 4;
}

/* True when the view is a whole record of name: blob names it, carries
 * the view's version, and its checksum holds. */
static bool view_ok(const struct gidx_view *v, const char *name, size_t n)
{
	uint64_t ver;
	uint16_t fill;
	uint32_t h;
	const uint8_t *b = v->blob;

	if (v->name_len != n || memcmp(v->name, name, n) || v->blob_len < 1 + n + 14 || b[0] != n ||
	    memcmp(b + 1, name, n))
		return false;
	memcpy(&ver, b + 1 + n, 8);
	memcpy(&fill, b + 9 + n, 2);
	if (ver != v->version || v->blob_len != 1 + n + 14 + fill)
		return false;
	memcpy(&h, b + v->blob_len - 4, 4);
	return h == fnv1a(b, v->blob_len - 4) && v->expires_at == v->last_login + 72 * H &&
	       v->expires_at > T0;
}

static struct conc cs;

static void *c_writer(void *arg)
{
	unsigned sh = (unsigned)(uintptr_t)arg;
	uint8_t blob[512];
	uint64_t ver[C_NAMES] = {0}, x = 0x9e3779b97f4a7c15ull * (sh + 1), errors = 0;
	int slot = qsbr_register(&q);

	for (int op = 0; op < C_OPS; op++) {
		int k = (int)((x ^= x << 13, x ^= x >> 7, x ^= x << 17) % C_NAMES), r;
		const char *nm = cs.names[sh][k];
		size_t n = cs.len[sh][k], bl;

		switch (x >> 60) {
		case 0:
		case 1:
			r = gidx_del(cs.g, sh, nm, n);
			errors += r != 0 && r != -ENOENT;
			break;
		case 2: /* stored already expired: readers must never see it */
			bl = blob_make(blob, nm, n, ++ver[k]);
			errors += gidx_put(cs.g, sh, nm, n, blob, bl, T0 - 72 * H, ver[k]) != 0;
			break;
		case 3: /* same version again: refused while held */
			bl = blob_make(blob, nm, n, ver[k]);
			r = gidx_put(cs.g, sh, nm, n, blob, bl, T0, ver[k]);
			errors += r != 0 && r != -EEXIST;
			break;
		case 4:
			r = gidx_touch_presence(cs.g, sh, nm, n, M0 + (uint64_t)op);
			errors += r != 0 && r != -ENOENT;
			break;
		case 5:
			errors += gidx_expire(cs.g, sh, T0, 16) < 0;
			break;
		default:
			bl = blob_make(blob, nm, n, ++ver[k]);
			errors +=
			    gidx_put(cs.g, sh, nm, n, blob, bl, T0 - (x >> 40) % H, ver[k]) != 0;
		}
		if (op % 16 == 15) { /* end of a turn */
			qsbr_quiescent(&q, slot);
			gidx_reclaim(cs.g, sh);
		}
	}
	/* Reclamation must catch up while the readers are still reading. */
	for (long spin = 0; spin < 10000000; spin++) {
		struct gidx_stats st;

		qsbr_quiescent(&q, slot);
		gidx_reclaim(cs.g, sh);
		gidx_stats(cs.g, sh, &st);
		if (st.pending == 0)
			break;
		sched_yield();
	}
	qsbr_unregister(&q, slot);
	atomic_fetch_add(&cs.errors, errors);
	atomic_fetch_sub(&cs.writers_left, 1);
	return NULL;
}

static void *c_reader(void *arg)
{
	uint64_t x = 0x2545f4914f6cdd1dull * ((uintptr_t)arg + 1), errors = 0, seen = 0;
	uint64_t last[C_SHARDS][C_NAMES] = {{0}};
	int slot = qsbr_register(&q);
	struct gidx_view v;
	char ghost[32];

	/* C_BATCHES at least, then on while a (bounded) writer runs. */
	for (int b = 0; b < C_BATCHES || atomic_load(&cs.writers_left); b++) {
		struct gidx_view first = {.name = NULL};
		const char *first_name = NULL;

		for (int i = 0; i < 64; i++) {
			unsigned sh = (unsigned)((x ^= x << 13, x ^= x >> 7, x ^= x << 17) & 1);
			int k = (int)((x >> 8) % C_NAMES);
			const char *nm = cs.names[sh][k];

			if (gidx_lookup(cs.g, nm, cs.len[sh][k], T0, &v) == 0) {
				seen++;
				errors += !view_ok(&v, nm, cs.len[sh][k]);
				/* Acquire loads: versions never go back. */
				errors += v.version < last[sh][k];
				last[sh][k] = v.version;
				if (!first_name) {
					first = v;
					first_name = nm;
				}
			}
			snprintf(ghost, sizeof(ghost), "ghost-%d", (int)(x >> 50));
			errors += gidx_lookup(cs.g, ghost, strlen(ghost), T0, &v) != -ENOENT;
		}
		/* A view stays whole until the quiescent point, however much
		 * the writers changed meanwhile. */
		if (first_name)
			errors += !view_ok(&first, first_name, strlen(first_name));
		qsbr_quiescent(&q, slot);
		if (b % 50 == 49) {
			qsbr_offline(&q, slot);
			sched_yield();
			qsbr_online(&q, slot);
		}
	}
	qsbr_unregister(&q, slot);
	atomic_fetch_add(&cs.errors, errors);
	atomic_fetch_add(&cs.seen, seen);
	return NULL;
}

Test(gidx, one_writer_per_shard_under_concurrent_readers)
{
	pthread_t w[C_SHARDS], r[C_READERS];
	struct gidx_stats st;
	uint64_t reclaimed = 0;

	cs.g = make(C_SHARDS, 1000, 16, 0); /* small start: rebuilds under readers */
	for (unsigned s = 0; s < C_SHARDS; s++) {
		unsigned next = 0;

		for (int k = 0; k < C_NAMES; k++)
			cs.len[s][k] = name_in(cs.g, s, &next, cs.names[s][k]);
	}
	atomic_store(&cs.writers_left, C_SHARDS);
	for (uintptr_t i = 0; i < C_READERS; i++)
		cr_assert_eq(pthread_create(&r[i], NULL, c_reader, (void *)i), 0);
	for (uintptr_t s = 0; s < C_SHARDS; s++)
		cr_assert_eq(pthread_create(&w[s], NULL, c_writer, (void *)s), 0);
	for (int i = 0; i < C_SHARDS; i++)
		pthread_join(w[i], NULL);
	for (int i = 0; i < C_READERS; i++)
		pthread_join(r[i], NULL);
	cr_assert_eq(atomic_load(&cs.errors), 0, "inconsistent records or wrong results");
	cr_assert_gt(atomic_load(&cs.seen), 0);
	for (unsigned s = 0; s < C_SHARDS; s++) {
		gidx_stats(cs.g, s, &st);
		cr_assert_eq(st.pending, 0, "shard %u: reclaimed while readers ran", s);
		cr_assert_gt(st.rebuilds, 0);
		reclaimed += st.reclaimed;
	}
	cr_assert_gt(reclaimed, 1000, "replaced records were freed");
	cr_log_info("%llu records checked, %llu records and tables reclaimed",
	            (unsigned long long)atomic_load(&cs.seen), (unsigned long long)reclaimed);
	gidx_destroy(cs.g);
}

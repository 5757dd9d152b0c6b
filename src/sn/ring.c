/* ring: consistent hashing of names onto supernodes (see ring.h).
 *
 * Storage is one allocation: the struct, then max_nodes * max_vnodes
 * points, then max_nodes ids, so a build never allocates and a retired
 * ring is freed with one call.
 *
 * Every result must be the same on every host, so nothing here depends
 * on byte order (point inputs are encoded little-endian), on the order
 * ids arrive in (they are sorted), or on qsort's instability (points are
 * ordered on (pos, node), a total order once ids are distinct). */
#include "src/sn/ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "src/sn/gidx.h"

static const uint8_t ring_hash_key[GIDX_HASH_KEY_LEN] = RING_HASH_KEY_INIT;

/* ---- helpers ---------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static int cmp_point(const void *a, const void *b)
{
	const struct ring_point *p = a, *q = b;

	if (p->pos != q->pos)
		return (p->pos > q->pos) - (p->pos < q->pos);
	return (p->node > q->node) - (p->node < q->node);
}

static uint64_t point_pos(uint64_t id, uint32_t i)
{
	uint8_t in[12];

	for (unsigned b = 0; b < 8; b++)
		in[b] = (uint8_t)(id >> (8 * b));
	for (unsigned b = 0; b < 4; b++)
		in[8 + b] = (uint8_t)(i >> (8 * b));
	return gidx_siphash24(ring_hash_key, in, sizeof(in));
}

/* Index of the first point at or after h, wrapping to 0 past the last. */
static size_t successor(const struct ring *r, uint64_t h)
{
	size_t lo = 0, hi = r->n_points;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->points[mid].pos < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == r->n_points ? 0 : lo;
}

static bool contains(const uint64_t *set, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] == id)
			return true;
	return false;
}

/* The first min(want, n_nodes, RING_REPLICAS_MAX) distinct nodes clockwise
 * from h. The walk ends within one turn: every node has a point. */
static size_t owners_at(const struct ring *r, uint64_t h, uint64_t *out, size_t want)
{
	size_t got = 0, i;

	if (r->n_nodes == 0)
		return 0;
	if (want > RING_REPLICAS_MAX)
		want = RING_REPLICAS_MAX;
	if (want > r->n_nodes)
		want = r->n_nodes;
	i = successor(r, h);
	for (size_t k = 0; k < r->n_points && got < want; k++) {
		uint64_t id = r->points[i].node;

		if (!contains(out, got, id))
			out[got++] = id;
		if (++i == r->n_points)
			i = 0;
	}
	return got;
}

/* ---- life cycle ------------------------------------------------------- */

int ring_create(size_t max_nodes, unsigned max_vnodes, struct ring **out)
{
	struct ring *r;
	size_t n_points;

	*out = NULL;
	if (max_nodes == 0 || max_nodes > RING_NODES_MAX || max_vnodes == 0 ||
	    max_vnodes > RING_VNODES_MAX)
		return -EINVAL;
	/* Both bounds keep this far from overflow (2^26 points). */
	n_points = max_nodes * max_vnodes;
	r = malloc(sizeof(*r) + n_points * sizeof(struct ring_point) +
	           max_nodes * sizeof(uint64_t));
	if (!r)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	r->points = (struct ring_point *)(r + 1);
	r->nodes = (uint64_t *)(r->points + n_points);
	r->max_nodes = max_nodes;
	r->max_vnodes = max_vnodes;
	*out = r;
	return 0;
}

void ring_destroy(struct ring *r)
{
	free(r);
}

void ring_retire_free(struct qsbr_node *n)
{
	ring_destroy((struct ring *)(void *)((char *)n - offsetof(struct ring, retire)));
}

int ring_build(struct ring *r, const uint64_t *ids, size_t n, unsigned vnodes)
{
	size_t p = 0;

	r->n_nodes = 0;
	r->n_points = 0;
	r->vnodes = 0;
	if (!ids || n == 0 || vnodes == 0)
		return -EINVAL;
	if (n > r->max_nodes || vnodes > r->max_vnodes)
		return -ENOSPC;
	memcpy(r->nodes, ids, n * sizeof(*ids));
	qsort(r->nodes, n, sizeof(*r->nodes), cmp_u64);
	/* A duplicate would double a node's weight and tie every one of its
	 * points with itself: a caller's bug, refused. */
	for (size_t i = 1; i < n; i++)
		if (r->nodes[i] == r->nodes[i - 1])
			return -EINVAL;
	for (size_t i = 0; i < n; i++)
		for (unsigned v = 0; v < vnodes; v++) {
			r->points[p].pos = point_pos(r->nodes[i], v);
			r->points[p].node = r->nodes[i];
			p++;
		}
	qsort(r->points, p, sizeof(*r->points), cmp_point);
	r->n_nodes = n;
	r->n_points = p;
	r->vnodes = vnodes;
	return 0;
}

/* ---- lookups ---------------------------------------------------------- */

uint64_t ring_key_of(const void *name, size_t len)
{
	return gidx_siphash24(ring_hash_key, name, len);
}

size_t ring_owners(const struct ring *r, const void *name, size_t len, uint64_t *out, size_t want)
{
	return owners_at(r, ring_key_of(name, len), out, want);
}

bool ring_is_owner(const struct ring *r, uint64_t node, const void *name, size_t len,
                   size_t replicas)
{
	uint64_t own[RING_REPLICAS_MAX];
	size_t k = owners_at(r, ring_key_of(name, len), own, replicas);

	return contains(own, k, node);
}

size_t ring_added_owners(const struct ring *old, const struct ring *new_, const void *name,
                         size_t len, size_t replicas, uint64_t *out)
{
	uint64_t h = ring_key_of(name, len), was[RING_REPLICAS_MAX], now[RING_REPLICAS_MAX];
	size_t n_was = owners_at(old, h, was, replicas);
	size_t n_now = owners_at(new_, h, now, replicas);
	size_t k = 0;

	for (size_t i = 0; i < n_now; i++)
		if (!contains(was, n_was, now[i]))
			out[k++] = now[i];
	return k;
}

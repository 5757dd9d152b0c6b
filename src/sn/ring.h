/* ring: the consistent-hash ring that places the global index over the
 * supernodes. A user name's record lives on its RING_REPLICAS owners:
 * the first distinct supernodes clockwise from the name's point. When
 * membership changes, only the names next to the points that came or
 * went change owners, and a surviving owner stays an owner (the list
 * only skips the nodes that left), so killing 2 of a name's 3 owners
 * still leaves one that holds the record.
 *
 * Each node has `vnodes` points (RING_VNODES_DEFAULT = 64), at
 *
 *     point(id, i) = SipHash-2-4(RING_HASH_KEY, le64(id) || le32(i)),  i = 0..vnodes-1
 *
 * and a name sits at ring_key_of(name) = SipHash-2-4(RING_HASH_KEY, name
 * bytes as they are). Many points per node even out the arcs: a node's
 * share of the names is 1/n with a spread of about 1/sqrt(vnodes).
 *
 * Why the key is a constant. Every supernode must compute the same ring
 * from the same membership, without sharing a secret (a secret known to
 * every supernode is not one), so the key is fixed here and is part of
 * the protocol: changing it moves every name, and RING_HASH_KEY names a
 * version. The per-process random key of gidx protects what only one
 * process lays out (its shards and probe runs); the ring is shared
 * layout, and the inputs it places are:
 *  - node ids: random 64-bit values each node draws at start-up (ovl.h),
 *    so their points are uniform. A hostile supernode could grind its id
 *    to put a point just before a chosen name; it then holds 1 of the
 *    name's 3 copies, which are signed records it cannot forge, and it
 *    could withhold them only if it owned all 3 slots. Supernodes are
 *    admitted by the operators, so this is noted, not defended.
 *  - user names: anyone can compute where a name lands and register
 *    names aimed at one supernode's arc (flooding). What that buys is
 *    bounded: the arc is 1/n of the circle on average, a record is small
 *    (at most GIDX_BLOB_MAX bytes), names come from accounts the login
 *    server creates and rate-limits, and inside the targeted node the
 *    names are re-hashed with that node's secret key, so its shards and
 *    probe runs stay even and gidx's max_records caps its memory. The
 *    attack concentrates storage; it cannot make lookups slow.
 *
 * Life cycle. A ring is a plain struct with its own storage (one
 * allocation from ring_create, sized for max_nodes x max_vnodes points),
 * filled once by ring_build and immutable afterwards: any number of
 * threads read it with no lock and no write. A membership change builds
 * a new ring and publishes it by pointer (release store); the old one
 * goes to qsbr_retire(limbo, &old->retire, ring_retire_free) and is
 * freed after every reader's next quiescent point (qsbr.h). Build only a
 * ring no reader can reach (fresh, or retired and past its grace
 * period). No lookup allocates.
 *
 * Re-replication. After publishing a new ring the overlay walks the
 * records it holds and, for each name,
 *
 *     k = ring_added_owners(old, new, name, len, RING_REPLICAS, to);
 *     push the record to to[0..k) (self excepted);
 *     if (!ring_is_owner(new, self, name, len, RING_REPLICAS))
 *             drop it once the pushes are acknowledged (or let it expire);
 *
 * Every holder pushes, not one designated holder: holders may briefly
 * disagree on the membership, and a duplicate push costs one message that
 * the receiver answers -EEXIST (gidx_put keeps the newest version).
 * `old` is the last ring this node walked, however many changes ago. */
#ifndef PARLEY_SN_RING_H
#define PARLEY_SN_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/common/qsbr.h"

#define RING_VNODES_DEFAULT 64
#define RING_VNODES_MAX     1024
#define RING_NODES_MAX      65536 /* with RING_VNODES_MAX: 2^26 points, 1 GiB */
#define RING_REPLICAS       3     /* copies of each record (DESIGN) */
#define RING_REPLICAS_MAX   16    /* larger want/replicas count as this */

/* The ring's SipHash key: the 16 ASCII bytes "parley ring v1.0". The
 * same on every supernode; see above for why it is not secret. */
#define RING_HASH_KEY_INIT                                                                         \
	{                                                                                          \
		'p', 'a', 'r', 'l', 'e', 'y', ' ', 'r', 'i', 'n', 'g', ' ', 'v', '1', '.', '0'     \
	}

/* One point on the circle. */
struct ring_point {
	uint64_t pos;  /* point(node, i) as above */
	uint64_t node; /* the node's id */
};

/* A ring. Read its fields freely; change them only through ring_build. */
struct ring {
	struct ring_point *points; /* n_points, ascending by pos, then node
	                              (ties are 2^-64 rare, still ordered the
	                              same on every node) */
	uint64_t *nodes;           /* n_nodes node ids, ascending */
	size_t n_points;           /* n_nodes * vnodes */
	size_t n_nodes;            /* 0: empty, nothing has an owner */
	unsigned vnodes;           /* points per node in the last build */
	size_t max_nodes;          /* capacity, from ring_create */
	unsigned max_vnodes;       /* capacity, from ring_create */
	struct qsbr_node retire;   /* the publisher's, for qsbr_retire; readers ignore it */
};

/* Allocates an empty ring able to hold max_nodes (1..RING_NODES_MAX)
 * nodes of up to max_vnodes (1..RING_VNODES_MAX) points each. Returns 0
 * and *out (the caller owns it), -EINVAL or -ENOMEM. */
int ring_create(size_t max_nodes, unsigned max_vnodes, struct ring **out);

/* Frees r and its storage. Takes NULL. */
void ring_destroy(struct ring *r);

/* qsbr free_fn for a retired ring: ring_destroy of the enclosing ring. */
void ring_retire_free(struct qsbr_node *n);

/* Fills r from a membership snapshot: the n distinct node ids at ids (any
 * order: the same set gives the same ring on every node), vnodes points
 * each. O(n * vnodes * log), no allocation. Returns 0; -EINVAL when ids
 * is NULL, n or vnodes is 0, or an id appears twice; -ENOSPC when n >
 * r->max_nodes or vnodes > r->max_vnodes. On error r is left empty. */
int ring_build(struct ring *r, const uint64_t *ids, size_t n, unsigned vnodes);

/* The position of name (len bytes, NULL only when len is 0) on every
 * ring: SipHash-2-4 with RING_HASH_KEY. Names are hashed as given, so
 * callers pass the same canonical bytes the index stores. */
uint64_t ring_key_of(const void *name, size_t len);

/* Writes name's owners to out, best first: the first min(want, n_nodes,
 * RING_REPLICAS_MAX) distinct node ids clockwise from ring_key_of(name)
 * (the first point at or after it, wrapping). out has room for that
 * many. Returns how many it wrote (0 for an empty ring or want 0).
 * Cost: a binary search, then a few points (each new point is a new
 * node with probability about 1 - found/n). */
size_t ring_owners(const struct ring *r, const void *name, size_t len, uint64_t *out, size_t want);

/* True when node is one of name's first `replicas` owners (as
 * ring_owners). False for an empty ring, replicas 0 or an absent node. */
bool ring_is_owner(const struct ring *r, uint64_t node, const void *name, size_t len,
                   size_t replicas);

/* Writes to out the owners of name in new_ (as ring_owners with
 * `replicas`) that were not among its owners in old, in new_'s order:
 * the nodes a holder of name's record pushes it to after the change (see
 * above). out has room for min(replicas, RING_REPLICAS_MAX). Returns how
 * many; 0 when no owner came in (unchanged, or owners only left). An
 * empty old adds every owner. */
size_t ring_added_owners(const struct ring *old, const struct ring *new_, const void *name,
                         size_t len, size_t replicas, uint64_t *out);

#endif

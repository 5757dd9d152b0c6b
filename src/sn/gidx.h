/* gidx: the supernode's in-memory share of the global index, user name ->
 * record, split into shards that every worker reads without locks.
 *
 * A record is an opaque, immutable blob (the signed record the overlay
 * will define) plus what the index itself needs: the last login, its
 * expiry (last login + ttl, 72 h by default: DESIGN's guarantee that a
 * user who logged in within 72 hours is found), a version (replicas keep
 * the newest) and the presence deadline the keep-alives push forward.
 *
 * Each shard has exactly one writer (the worker that owns it; route a
 * write there with gidx_shard_of) and is read by every worker. A shard is
 * an open-addressing table (linear probing) of atomic pointers to
 * records. A change stores one pointer: a new record is built completely,
 * then published with a release store; the one it replaces is retired
 * through QSBR (qsbr.h), so a reader never sees a torn record. Growing or
 * cleaning the table builds a new one pointing at the same records and
 * publishes it the same way; records never move.
 *
 * Only presence changes in place: it is one 64-bit atomic in the record,
 * so a keep-alive every 60 s per user costs a store, not a copy of a
 * 4 KiB record and a retire.
 *
 * Names are attacker-chosen: the shard and the slot come from SipHash-2-4
 * keyed with a per-process random key, so nobody can aim many names at
 * one shard or one probe run. Clocks are parameters everywhere: real-time
 * seconds for login and expiry (other hosts set them), the caller's
 * monotonic seconds for presence. */
#ifndef PARLEY_SN_GIDX_H
#define PARLEY_SN_GIDX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/common/qsbr.h"

#define GIDX_NAME_MAX          64            /* user name bytes, 1..64 */
#define GIDX_BLOB_MAX          4096          /* record blob bytes, 0..4096 */
#define GIDX_TTL_DEFAULT_S     (72u * 3600u) /* record lifetime after the last login */
#define GIDX_SHARDS_MAX        4096
#define GIDX_SHARD_RECORDS_MAX (1u << 28) /* keeps slot counts within 32 bits */
#define GIDX_HASH_KEY_LEN      16

/* An index and its shards (opaque; only through the functions below). */
struct gidx;

struct gidx_config {
	unsigned n_shards;                   /* power of two, 1..GIDX_SHARDS_MAX */
	uint32_t max_records;                /* per shard, 1..GIDX_SHARD_RECORDS_MAX */
	uint32_t initial_slots;              /* per shard, rounded up to a power of two >= 16 */
	uint64_t ttl_s;                      /* record lifetime from last_login; 0 = 72 h */
	uint8_t hash_key[GIDX_HASH_KEY_LEN]; /* SipHash key: random per process */
};

/* What a lookup found. The pointers lead into the immutable record and
 * stay valid until the reading thread's next quiescent point (or
 * qsbr_offline); copy what must live longer. */
struct gidx_view {
	const uint8_t *name; /* name_len bytes, not NUL-terminated */
	const uint8_t *blob; /* blob_len bytes (16-byte aligned) */
	size_t name_len;
	size_t blob_len;
	uint64_t version;        /* as given to gidx_put */
	uint64_t last_login;     /* real-time seconds */
	uint64_t expires_at;     /* last_login + ttl */
	uint64_t presence_until; /* monotonic seconds; online while now < this */
};

/* A shard's counters, loadable from any thread (each value is exact; the
 * set is not one snapshot). */
struct gidx_stats {
	uint64_t count;     /* records held, swept or not */
	uint64_t bytes;     /* record bytes held (headers, names, blobs) */
	uint64_t slots;     /* slots of the current table */
	uint64_t expired;   /* records removed by gidx_expire */
	uint64_t rebuilds;  /* tables built (growth, clean-up, shrink) */
	uint64_t pending;   /* retired records and tables not yet freed */
	uint64_t reclaimed; /* retired records and tables freed */
};

/* Builds an index with cfg, whose readers register in q (q must outlive
 * it). Returns 0 and *out, -EINVAL for a bad cfg, -ENOMEM. */
int gidx_create(const struct gidx_config *cfg, struct qsbr *q, struct gidx **out);

/* Frees the index with every record, retired or not. Only once no thread
 * reads or writes it any more. Takes NULL. */
void gidx_destroy(struct gidx *g);

/* Number of shards. */
unsigned gidx_shards(const struct gidx *g);

/* The shard that owns name: send writes for it to that shard's writer.
 * Any length is hashed (lengths are checked by the calls that store). */
unsigned gidx_shard_of(const struct gidx *g, const void *name, size_t name_len);

/* ---- writer: only the shard's owning thread, one at a time ------------
 * Debug builds assert that two threads never write one shard at once. A
 * shard changes owner only with a happens-before edge (thread start,
 * join, a message). */

/* Stores (a copy of) name -> blob with last_login (real-time seconds) and
 * version, unless the name already has a record with a version as new or
 * newer. A replaced record keeps its presence; a new one starts offline.
 * Returns 0; -EEXIST (same version held) or -ESTALE (newer version held);
 * -EINVAL for a name_len outside 1..GIDX_NAME_MAX, a blob_len above
 * GIDX_BLOB_MAX, a NULL pointer with a non-zero length, or a shard out of
 * range; -EXDEV if name does not belong to shard; -ENOSPC when the shard
 * holds max_records names; -ENOMEM. On error nothing changed. An expired
 * record not yet swept still counts for the version check. A put that
 * outgrows the table rebuilds it in this call (O(records), once per
 * doubling): presize with initial_slots to keep that off busy turns. */
int gidx_put(struct gidx *g, unsigned shard, const void *name, size_t name_len, const void *blob,
             size_t blob_len, uint64_t last_login, uint64_t version);

/* Sets name's presence deadline (monotonic seconds; 0 = offline now).
 * Returns 0, -ENOENT, or -EINVAL/-EXDEV as gidx_put. */
int gidx_touch_presence(struct gidx *g, unsigned shard, const void *name, size_t name_len,
                        uint64_t presence_until);

/* Removes name's record. Returns 0, -ENOENT, or -EINVAL/-EXDEV as gidx_put. */
int gidx_del(struct gidx *g, unsigned shard, const void *name, size_t name_len);

/* Sweeps at most max_slots slots from where the last call stopped,
 * removing records with now >= expires_at (now: real-time seconds), so a
 * timer tick's work is bounded. When the sweep leaves the table mostly
 * empty it is rebuilt smaller (O(records), at most once per O(records)
 * removals). Returns the number removed, or -EINVAL (bad shard). */
int gidx_expire(struct gidx *g, unsigned shard, uint64_t now, unsigned max_slots);

/* Frees the shard's retired records and tables that every reader has
 * passed (qsbr_reclaim). Call once per event-loop turn after writing.
 * Returns how many it freed. */
size_t gidx_reclaim(struct gidx *g, unsigned shard);

/* ---- readers: any thread registered in the index's qsbr domain -------- */

/* Finds name's record valid at now (real-time seconds) and fills *v. The
 * view's pointers are valid until the caller's next quiescent point.
 * Returns 0; -ENOENT when absent or expired (now >= expires_at), swept or
 * not; -EINVAL for a name_len outside 1..GIDX_NAME_MAX or a NULL name.
 * Writes no shared memory; a hit costs about two cache misses (the slot's
 * line, the record). */
int gidx_lookup(const struct gidx *g, const void *name, size_t name_len, uint64_t now,
                struct gidx_view *v);

/* True when the record was online at now_mono (monotonic seconds). */
static inline bool gidx_view_online(const struct gidx_view *v, uint64_t now_mono)
{
	return now_mono < v->presence_until;
}

/* Fills *out with shard's counters (any thread). Returns 0 or -EINVAL. */
int gidx_stats(const struct gidx *g, unsigned shard, struct gidx_stats *out);

/* SipHash-2-4 of data with a 16-byte key:
 * the keyed hash behind gidx_shard_of, exposed for tests. */
uint64_t gidx_siphash24(const uint8_t key[GIDX_HASH_KEY_LEN], const void *data, size_t len);

#endif

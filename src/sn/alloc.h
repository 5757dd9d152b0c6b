/* alloc: a worker's TURN allocations (RFC 8656 §2.2): the 5-tuple index,
 * permissions and channel bindings.
 *
 * Every allocation lives on the worker that received its Allocate: the
 * kernel's SO_REUSEPORT hash sends a client's 4-tuple to the same worker
 * every time, and the relay socket is opened and read by that worker, so
 * both directions of the forward path touch only worker-local state — no
 * lock, no atomic, no cache line shared with another core. The table is a
 * fixed pool (no allocation after start-up) with a chained hash on the
 * client's transport address; slots carry a generation so a completion
 * naming a recycled slot is recognised as stale.
 *
 * Per-allocation state is ~760 bytes: permissions and channels are small
 * inline arrays (a call has one peer; conferences a few), and a request
 * that would exceed them gets 508 Insufficient Capacity. */
#ifndef PARLEY_SN_ALLOC_H
#define PARLEY_SN_ALLOC_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/addr.h"
#include "proto/cred.h"
#include "proto/stun.h"

#define ALLOC_MAX_PERMS 8
#define ALLOC_MAX_CHANNELS 8
#define ALLOC_PERM_LIFETIME_MS 300000u      /* RFC 8656 §9: 300 s */
#define ALLOC_CHANNEL_LIFETIME_MS 600000u   /* RFC 8656 §12: 600 s */

enum alloc_state {
	ALLOC_FREE = 0,
	ALLOC_ACTIVE,   /* in the hash, relaying */
	ALLOC_CLOSING,  /* out of the hash; relay socket's receive being cancelled */
};

struct alloc_perm {
	union addr ip;          /* peer IP (port ignored) */
	uint64_t expires_ms;
};

struct alloc_channel {
	union addr peer;        /* peer transport address */
	uint64_t expires_ms;
	uint16_t number;        /* 0x4000..0x4FFF */
};

struct alloc {
	union addr client;      /* the client's transport address */
	union addr local;       /* our address the client reached (replies leave from it) */
	union addr relay;       /* the relayed transport address */
	uint64_t expires_ms;    /* allocation lifetime end (monotonic ms) */
	uint64_t user_id;       /* auth_user_id of its username (quota, same-user check) */
	uint8_t key[CRED_KEY_LEN];     /* long-term key its requests must be signed with */
	uint8_t txid[STUN_TXID_LEN];   /* the Allocate that made it (retransmission → same answer) */
	int relay_fd;           /* relay socket, -1 when closed */
	uint32_t gen;           /* bumped at every reuse of the slot */
	uint32_t hnext;         /* hash chain: slot index + 1, 0 ends */
	uint32_t via;           /* UDP listener index, or TCP connection slot */
	uint32_t live_pos;      /* its place in alloc_table.live while in use */
	uint8_t transport;      /* IPPROTO_UDP or IPPROTO_TCP on the client side */
	uint8_t relay_proto;    /* IPPROTO_UDP, or IPPROTO_TCP (RFC 6062: relay_fd listens) */
	uint32_t links;         /* TCP allocation's peer connections: link slot + 1, 0 ends */
	uint32_t n_links;
	uint8_t state;          /* enum alloc_state */
	uint8_t n_perms;
	uint8_t n_channels;
	bool recv_armed;        /* relay socket has a multishot receive in flight */
	bool starved;           /* its receive stopped on -ENOBUFS; re-arm when buffers return */
	struct alloc_perm perms[ALLOC_MAX_PERMS];
	struct alloc_channel channels[ALLOC_MAX_CHANNELS];
};

struct alloc_table {
	struct alloc *slots;
	uint32_t *buckets;      /* slot index + 1, 0 = empty */
	uint32_t cap;           /* slots */
	uint32_t mask;          /* buckets - 1 */
	uint32_t free_head;     /* released slots, through hnext (index + 1) */
	uint32_t fresh;         /* slots from here on were never used: the pool's
	                           pages stay untouched until needed */
	uint32_t *live;         /* indices of the slots in use, dense: timers walk
	                           this, not the whole pool */
	uint32_t n_used;        /* ACTIVE + CLOSING = entries in live */
	uint64_t seed;          /* hash seed */
};

/* Allocates a pool of cap slots (the worker's share of --max-allocations).
 * Returns 0 or -ENOMEM. */
int alloc_table_init(struct alloc_table *t, uint32_t cap, uint64_t seed);
void alloc_table_fini(struct alloc_table *t);

/* The ACTIVE allocation of (transport, via, client), or NULL. */
struct alloc *alloc_find(const struct alloc_table *t, uint8_t transport, uint32_t via,
			 const union addr *client);

/* Takes a free slot, fills the key fields and inserts it (state ACTIVE,
 * relay_fd -1, no permissions). NULL when the pool is full. */
struct alloc *alloc_insert(struct alloc_table *t, uint8_t transport, uint32_t via,
			   const union addr *client);

/* Removes a from the hash (state CLOSING): no new packet finds it. */
void alloc_unlink(struct alloc_table *t, struct alloc *a);

/* Returns a CLOSING (or ACTIVE: it is unlinked first) slot to the pool. */
void alloc_release(struct alloc_table *t, struct alloc *a);

static inline uint32_t alloc_index(const struct alloc_table *t, const struct alloc *a)
{
	return (uint32_t)(a - t->slots);
}

/* The slot idx if its generation is gen (24 bits compared) and it is in
 * use, else NULL: for completions. */
struct alloc *alloc_at(const struct alloc_table *t, uint32_t idx, uint32_t gen);

/* True when peer's IP has an unexpired permission. */
bool alloc_perm_check(const struct alloc *a, const union addr *peer, uint64_t now_ms);

/* Installs or refreshes the permission for peer's IP. Returns 0 or
 * -ENOSPC (no room even after dropping expired ones). */
int alloc_perm_add(struct alloc *a, const union addr *peer, uint64_t now_ms);

/* Unexpired channel by number / by peer transport address, or NULL. */
struct alloc_channel *alloc_channel_by_number(struct alloc *a, uint16_t number, uint64_t now_ms);
struct alloc_channel *alloc_channel_by_peer(struct alloc *a, const union addr *peer, uint64_t now_ms);

/* Binds number to peer or refreshes the binding (RFC 8656 §11.2). Also
 * installs/refreshes the permission for peer's IP. Returns 0; -EINVAL for
 * a number out of range; -EEXIST when number is bound to another peer or
 * peer to another number (400); -ENOSPC when full (508). */
int alloc_channel_bind(struct alloc *a, uint16_t number, const union addr *peer,
		       uint64_t now_ms);

/* Drops expired permissions and channels. */
void alloc_prune(struct alloc *a, uint64_t now_ms);

#endif

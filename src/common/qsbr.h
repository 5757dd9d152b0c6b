/* qsbr: quiescent-state-based reclamation, so data shared by every worker
 * (global-index shards, later the session tables) is read with plain
 * loads, no lock and no per-read atomic write.
 *
 * A writer unlinks an object from a shared structure, then retires it
 * onto its own limbo list; the object is freed only when every reader
 * that could still hold a pointer to it has passed a quiescent point (a
 * moment it holds no such pointer: the end of an event-loop turn). A
 * reader that blocks for long goes offline, so it does not hold back
 * reclamation while it sleeps.
 *
 * The domain keeps a global epoch, advanced only by writers (with an
 * atomic read-modify-write, see qsbr.c), and one cache-line-sized slot per
 * registered reader holding the epoch it saw at its last quiescent point
 * (0 = offline). An object retired in epoch E (the value a reclaim's
 * increment produced) is freed once every online slot shows >= E.
 *
 * Threads: qsbr_register/unregister from any thread; quiescent, offline
 * and online only from the thread owning the slot; a limbo belongs to one
 * writer thread (no locks, no atomics inside it except its counters,
 * which stats readers load). Memory: nothing is allocated per retire; the
 * retired object embeds a struct qsbr_node. */
#ifndef PARLEY_COMMON_QSBR_H
#define PARLEY_COMMON_QSBR_H

#include <assert.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Epochs are 64-bit so they never wrap; a lock-based emulation would make
 * the reader's path take a lock, which is the point of this module not
 * to. */
#if ATOMIC_LLONG_LOCK_FREE != 2
#error "qsbr needs lock-free 64-bit atomics"
#endif

#define QSBR_CACHE_LINE  64
#define QSBR_MAX_READERS 1024 /* registration bound; a slot is 64 bytes */

/* One reader's slot, alone on its cache line so a reader's store never
 * invalidates another reader's line. */
struct qsbr_slot {
	/* The epoch seen at the last quiescent point; 0 = offline. */
	alignas(QSBR_CACHE_LINE) _Atomic uint64_t seen;
	atomic_bool used; /* taken by a registered thread */
};

/* A reclamation domain: every thread that may read the protected
 * structures registers here. */
struct qsbr {
	/* The global epoch: starts at 1, changed only by fetch_add. */
	alignas(QSBR_CACHE_LINE) _Atomic uint64_t epoch;
	alignas(QSBR_CACHE_LINE) unsigned max_readers; /* slots available */
	struct qsbr_slot *slots;                       /* max_readers slots */
};

/* Embedded in every retirable object (no allocation per retire). */
struct qsbr_node {
	struct qsbr_node *next;                  /* limbo list link */
	void (*free_fn)(struct qsbr_node *node); /* frees the enclosing object */
	uint64_t epoch;                          /* grace period end; 0 while pending */
};

/* One writer's retired objects. Pending ones wait for the next reclaim to
 * stamp them with an epoch; waiting ones are in epoch order (appended at
 * the tail), so reclaim frees from the head and stops at the first it
 * cannot free. */
struct qsbr_limbo {
	struct qsbr *q;                  /* its domain */
	struct qsbr_node *pending;       /* retired since the last reclaim */
	struct qsbr_node **pending_tail; /* where the next retire links */
	struct qsbr_node *waiting;       /* stamped, oldest first */
	struct qsbr_node **waiting_tail; /* where the next stamped batch links */
	_Atomic uint64_t retired;        /* objects retired (owner stores, anyone loads) */
	_Atomic uint64_t freed;          /* objects freed */
};

/* Sets up a domain for up to max_readers reader threads
 * (1..QSBR_MAX_READERS). Size it to the threads that will read (workers
 * plus helpers): a reclaim may load every slot. Returns 0, -EINVAL or
 * -ENOMEM. */
int qsbr_init(struct qsbr *q, unsigned max_readers);

/* Releases the domain's slots. Every limbo of the domain must have been
 * finished first. Takes NULL and a domain whose init failed. */
void qsbr_fini(struct qsbr *q);

/* Claims a slot for the calling thread, which is online from now on.
 * Returns the slot (>= 0) or -ENOSPC when all are taken. */
int qsbr_register(struct qsbr *q);

/* Takes the calling thread offline and frees its slot. */
void qsbr_unregister(struct qsbr *q, int slot);

/* Says the calling thread holds no pointer obtained from a protected
 * structure: call it once per event-loop turn. Cost: one load of the
 * global epoch and, when it moved, one store into the thread's own line.
 *
 * Ordering: the acquire load pairs with the writer's release increment,
 * so any read after this point sees every unlink that preceded the epoch
 * it read; the release store pairs with the writer's acquire load of the
 * slot, so every read before this point happens before the writer's
 * free. Skipping an unchanged store is safe: objects a writer would free
 * on seeing this value were unlinked before the epoch was read at the
 * previous store, so no read since then could have reached them. */
static inline void qsbr_quiescent(struct qsbr *q, int slot)
{
	struct qsbr_slot *s;
	uint64_t e;

	assert(slot >= 0 && (unsigned)slot < q->max_readers);
	s = &q->slots[slot];
	e = atomic_load_explicit(&q->epoch, memory_order_acquire);
	if (atomic_load_explicit(&s->seen, memory_order_relaxed) != e)
		atomic_store_explicit(&s->seen, e, memory_order_release);
}

/* Takes the calling thread offline before a long blocking wait
 * (io_uring_submit_and_wait): writers then ignore it. It must hold no
 * protected pointer until qsbr_online. The release store orders its
 * earlier reads before any free that relies on it. */
static inline void qsbr_offline(struct qsbr *q, int slot)
{
	assert(slot >= 0 && (unsigned)slot < q->max_readers);
	atomic_store_explicit(&q->slots[slot].seen, 0, memory_order_release);
}

/* Brings the calling thread back online after qsbr_offline; it may read
 * protected structures afterwards. A writer may be scanning the slots
 * right now: it must either see this thread online or have its unlinks
 * seen by this thread's next reads (the store-buffering pattern). The
 * read-modify-write of the epoch does it: either it comes after the
 * writer's increment and acquires its unlinks, or before it and releases
 * the slot store to that writer. Unlike a fence, ThreadSanitizer models
 * it. Costs one locked instruction on a shared line, once per wait. */
static inline void qsbr_online(struct qsbr *q, int slot)
{
	struct qsbr_slot *s;

	assert(slot >= 0 && (unsigned)slot < q->max_readers);
	s = &q->slots[slot];
	/* A possibly older epoch: only makes writers wait one turn longer. */
	atomic_store_explicit(&s->seen, atomic_load_explicit(&q->epoch, memory_order_relaxed),
	                      memory_order_relaxed);
	atomic_fetch_add_explicit(&q->epoch, 0, memory_order_acq_rel);
}

/* Sets up an empty limbo for one writer thread of domain q. */
void qsbr_limbo_init(struct qsbr_limbo *l, struct qsbr *q);

/* Frees everything in the limbo at once, grace period or not: only when
 * no reader can hold a pointer to those objects (readers joined or
 * unregistered). Takes NULL and a zeroed limbo. */
void qsbr_limbo_fini(struct qsbr_limbo *l);

/* Queues node's object for freeing by free_fn after a grace period. The
 * object must already be unreachable for readers that start after this
 * call (unlinked with a release store). O(1), no allocation. */
void qsbr_retire(struct qsbr_limbo *l, struct qsbr_node *node,
                 void (*free_fn)(struct qsbr_node *node));

/* Starts a grace period for the objects retired since the last call and
 * frees those whose grace period every online reader has passed. Never
 * blocks; call it once per event-loop turn from the limbo's writer.
 * Returns how many objects it freed. */
size_t qsbr_reclaim(struct qsbr_limbo *l);

/* Retired and not yet freed objects (from any thread, for stats). */
uint64_t qsbr_limbo_pending(const struct qsbr_limbo *l);

#endif

/* qsbr: quiescent-state-based reclamation (see qsbr.h for the model).
 *
 * Why the writer's side is correct, in C11 terms. A writer W unlinks
 * object N (release store into the shared structure), retires it, and in
 * its next reclaim increments the epoch with fetch_add(acq_rel) to T and
 * stamps N with T. Only fetch_add ever changes the epoch, so every later
 * value of it lies in the release sequence headed by W's increment: a
 * reader that loads (acquire) any epoch >= T synchronizes with W's
 * increment even when another writer produced that value, and therefore
 * sees W's unlink in all its later reads. A stamp taken with a plain load
 * would not give this (W's unlink could still sit in its store buffer
 * while a second writer bumps the epoch).
 *
 * W frees N after loading (acquire) every online slot and finding it
 * >= T. Each such value was stored (release) by its reader at a
 * quiescent point after it had loaded an epoch >= T, so (a) all the
 * reader's accesses before that point happen before the free, and (b)
 * everything it reads afterwards is ordered after the unlink, so it can
 * no longer reach N.
 *
 * Offline slots (0) are skipped. A reader coming back online stores its
 * slot and then reads the structure, while W stores (unlinks) and then
 * loads the slot: the store-buffering pattern, where each side may miss
 * the other's store. qsbr_online therefore ends with a read-modify-write
 * of the epoch (adding 0). All RMWs of the epoch are totally ordered: if
 * the reader's comes after W's increment it acquires W's unlinks; if it
 * comes before, W's increment acquires the reader's slot store, so W's
 * scans (all after its increment) see the reader online with an epoch
 * below T and wait. No fence is needed, on either side. */
#include "src/common/qsbr.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int qsbr_init(struct qsbr *q, unsigned max_readers)
{
	memset(q, 0, sizeof(*q));
	if (max_readers == 0 || max_readers > QSBR_MAX_READERS)
		return -EINVAL;
	q->slots = aligned_alloc(QSBR_CACHE_LINE, (size_t)max_readers * sizeof(*q->slots));
	if (!q->slots)
		return -ENOMEM;
	for (unsigned i = 0; i < max_readers; i++) {
		atomic_init(&q->slots[i].seen, 0);
		atomic_init(&q->slots[i].used, false);
	}
	q->max_readers = max_readers;
	/* 1, not 0: 0 marks an offline slot. */
	atomic_init(&q->epoch, 1);
	return 0;
}

void qsbr_fini(struct qsbr *q)
{
	if (!q)
		return;
	free(q->slots);
	q->slots = NULL;
	q->max_readers = 0;
}

int qsbr_register(struct qsbr *q)
{
	for (unsigned i = 0; i < q->max_readers; i++) {
		bool expect = false;

		/* acq_rel: the previous owner's release in unregister is
		 * ordered before our use of the slot. */
		if (atomic_compare_exchange_strong_explicit(&q->slots[i].used, &expect, true,
		                                            memory_order_acq_rel,
		                                            memory_order_relaxed)) {
			qsbr_online(q, (int)i);
			return (int)i;
		}
	}
	return -ENOSPC;
}

void qsbr_unregister(struct qsbr *q, int slot)
{
	if (slot < 0 || (unsigned)slot >= q->max_readers)
		return;
	qsbr_offline(q, slot);
	atomic_store_explicit(&q->slots[slot].used, false, memory_order_release);
}

void qsbr_limbo_init(struct qsbr_limbo *l, struct qsbr *q)
{
	l->q = q;
	l->pending = NULL;
	l->pending_tail = &l->pending;
	l->waiting = NULL;
	l->waiting_tail = &l->waiting;
	atomic_init(&l->retired, 0);
	atomic_init(&l->freed, 0);
}

/* Frees a list, returns how many. */
static size_t free_list(struct qsbr_node *n)
{
	size_t k = 0;

	while (n) {
		struct qsbr_node *next = n->next;

		n->free_fn(n);
		n = next;
		k++;
	}
	return k;
}

/* Only the owner writes the counters, so load + store is enough (no
 * read-modify-write); atomics only so that a stats reader does not race. */
static void count_freed(struct qsbr_limbo *l, size_t k)
{
	uint64_t f = atomic_load_explicit(&l->freed, memory_order_relaxed);

	atomic_store_explicit(&l->freed, f + k, memory_order_relaxed);
}

void qsbr_limbo_fini(struct qsbr_limbo *l)
{
	if (!l || !l->q)
		return;
	count_freed(l, free_list(l->waiting) + free_list(l->pending));
	l->waiting = l->pending = NULL;
	l->waiting_tail = &l->waiting;
	l->pending_tail = &l->pending;
}

void qsbr_retire(struct qsbr_limbo *l, struct qsbr_node *node,
                 void (*free_fn)(struct qsbr_node *node))
{
	uint64_t r = atomic_load_explicit(&l->retired, memory_order_relaxed);

	node->next = NULL;
	node->free_fn = free_fn;
	node->epoch = 0;
	*l->pending_tail = node;
	l->pending_tail = &node->next;
	atomic_store_explicit(&l->retired, r + 1, memory_order_relaxed);
}

/* True when every online reader has passed epoch need. Stops at the first
 * slot behind: when readers lag, a reclaim costs one cache miss, not one
 * per slot. */
static bool all_passed(const struct qsbr *q, uint64_t need)
{
	for (unsigned i = 0; i < q->max_readers; i++) {
		uint64_t s = atomic_load_explicit(&q->slots[i].seen, memory_order_acquire);

		if (s != 0 && s < need)
			return false;
	}
	return true;
}

size_t qsbr_reclaim(struct qsbr_limbo *l)
{
	struct qsbr *q = l->q;
	size_t k = 0;

	if (l->pending) {
		/* One increment per batch, not per retire: every increment
		 * bounces the epoch's line between the writer and every
		 * reader's next quiescent load. acq_rel: release publishes our
		 * unlinks to readers that load this or a later epoch. */
		uint64_t t = atomic_fetch_add_explicit(&q->epoch, 1, memory_order_acq_rel) + 1;

		for (struct qsbr_node *n = l->pending; n; n = n->next)
			n->epoch = t;
		*l->waiting_tail = l->pending;
		l->waiting_tail = l->pending_tail;
		l->pending = NULL;
		l->pending_tail = &l->pending;
	}
	while (l->waiting) {
		struct qsbr_node *n = l->waiting;
		uint64_t need = n->epoch;

		if (!all_passed(q, need))
			break;
		/* Free the whole run stamped with this epoch. */
		while (n && n->epoch == need) {
			struct qsbr_node *next = n->next;

			n->free_fn(n);
			n = next;
			k++;
		}
		l->waiting = n;
	}
	if (!l->waiting)
		l->waiting_tail = &l->waiting;
	if (k)
		count_freed(l, k);
	return k;
}

uint64_t qsbr_limbo_pending(const struct qsbr_limbo *l)
{
	uint64_t f = atomic_load_explicit(&l->freed, memory_order_relaxed);
	uint64_t r = atomic_load_explicit(&l->retired, memory_order_relaxed);

	/* Two relaxed loads of different words are not a snapshot: clamp. */
	return r > f ? r - f : 0;
}

/* qsbr: registration, grace periods with online, offline and lagging
 * readers, and a writer replacing a shared object under concurrent
 * readers (run under ThreadSanitizer too: the free function writes the
 * object, so a premature free is a reported race, and under ASan a
 * use-after-free). */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "src/common/qsbr.h"

/* A retirable object whose free is counted. */
struct obj {
	uint64_t a, b;           /* always b == ~a while published */
	_Atomic uint64_t *freed; /* counter to bump when freed */
	struct qsbr_node qn;
};

static void obj_free(struct qsbr_node *n)
{
	struct obj *o = (struct obj *)((char *)n - offsetof(struct obj, qn));

	atomic_fetch_add_explicit(o->freed, 1, memory_order_relaxed);
	/* Poison first: a reader still inside would see a torn pair, and
	 * TSan reports these plain writes racing with its plain reads. */
	o->a = 1;
	o->b = 1;
	free(o);
}

static struct obj *obj_new(uint64_t v, _Atomic uint64_t *freed)
{
	struct obj *o = malloc(sizeof(*o));

	cr_assert_not_null(o);
	o->a = v;
	o->b = ~v;
	o->freed = freed;
	return o;
}

Test(qsbr, init_rejects_bad_sizes)
{
	struct qsbr q;

	cr_assert_eq(qsbr_init(&q, 0), -EINVAL);
	qsbr_fini(&q);
	cr_assert_eq(qsbr_init(&q, QSBR_MAX_READERS + 1), -EINVAL);
	qsbr_fini(&q);
	qsbr_fini(NULL);
	qsbr_limbo_fini(NULL);
}

Test(qsbr, register_until_full_then_reuse)
{
	struct qsbr q;

	cr_assert_eq(qsbr_init(&q, 3), 0);
	cr_assert_eq(qsbr_register(&q), 0);
	cr_assert_eq(qsbr_register(&q), 1);
	cr_assert_eq(qsbr_register(&q), 2);
	cr_assert_eq(qsbr_register(&q), -ENOSPC);
	qsbr_unregister(&q, 1);
	cr_assert_eq(qsbr_register(&q), 1);
	qsbr_fini(&q);
}

Test(qsbr, online_reader_holds_back_until_quiescent)
{
	struct qsbr q;
	struct qsbr_limbo l;
	_Atomic uint64_t freed = 0;
	int r0, r1;

	cr_assert_eq(qsbr_init(&q, 4), 0);
	qsbr_limbo_init(&l, &q);
	r0 = qsbr_register(&q);
	r1 = qsbr_register(&q);
	qsbr_retire(&l, &obj_new(1, &freed)->qn, obj_free);
	qsbr_retire(&l, &obj_new(2, &freed)->qn, obj_free);
	cr_assert_eq(qsbr_limbo_pending(&l), 2);
	cr_assert_eq(qsbr_reclaim(&l), 0, "both readers may still hold them");
	qsbr_quiescent(&q, r0);
	cr_assert_eq(qsbr_reclaim(&l), 0, "r1 has not passed a quiescent point");
	/* A later batch waits for a later epoch. */
	qsbr_retire(&l, &obj_new(3, &freed)->qn, obj_free);
	cr_assert_eq(qsbr_reclaim(&l), 0);
	qsbr_quiescent(&q, r1);
	cr_assert_eq(qsbr_reclaim(&l), 2, "both passed the first batch's epoch");
	cr_assert_eq(qsbr_limbo_pending(&l), 1, "r0 has not passed the second's");
	qsbr_quiescent(&q, r1);
	cr_assert_eq(qsbr_reclaim(&l), 0);
	qsbr_quiescent(&q, r0);
	cr_assert_eq(qsbr_reclaim(&l), 1, "second batch");
	cr_assert_eq(atomic_load(&freed), 3);
	cr_assert_eq(qsbr_limbo_pending(&l), 0);
	cr_assert_eq(qsbr_reclaim(&l), 0);
	qsbr_limbo_fini(&l);
	qsbr_fini(&q);
}

Test(qsbr, offline_and_unregistered_readers_do_not_block)
{
	struct qsbr q;
	struct qsbr_limbo l;
	_Atomic uint64_t freed = 0;
	int r0, r1;

	cr_assert_eq(qsbr_init(&q, 4), 0);
	qsbr_limbo_init(&l, &q);
	r0 = qsbr_register(&q);
	r1 = qsbr_register(&q);
	qsbr_offline(&q, r0);
	qsbr_unregister(&q, r1);
	qsbr_retire(&l, &obj_new(1, &freed)->qn, obj_free);
	cr_assert_eq(qsbr_reclaim(&l), 1);
	/* Back online: holds back what is retired from now on. */
	qsbr_online(&q, r0);
	qsbr_retire(&l, &obj_new(2, &freed)->qn, obj_free);
	cr_assert_eq(qsbr_reclaim(&l), 0);
	qsbr_offline(&q, r0);
	cr_assert_eq(qsbr_reclaim(&l), 1);
	cr_assert_eq(atomic_load(&freed), 2);
	qsbr_limbo_fini(&l);
	qsbr_fini(&q);
}

Test(qsbr, limbo_fini_frees_everything)
{
	struct qsbr q;
	struct qsbr_limbo l;
	_Atomic uint64_t freed = 0;

	cr_assert_eq(qsbr_init(&q, 1), 0);
	qsbr_limbo_init(&l, &q);
	(void)qsbr_register(&q);
	for (int i = 0; i < 5; i++) {
		qsbr_retire(&l, &obj_new((uint64_t)i, &freed)->qn, obj_free);
		if (i == 2)
			cr_assert_eq(qsbr_reclaim(&l), 0);
	}
	qsbr_limbo_fini(&l);
	cr_assert_eq(atomic_load(&freed), 5);
	cr_assert_eq(qsbr_limbo_pending(&l), 0);
	qsbr_fini(&q);
}

/* ---- concurrent ------------------------------------------------------- */

#define N_READERS  3
#define N_REPLACES 20000
#define N_BATCHES  4000
#define BATCH      64

struct shared {
	struct qsbr q;
	struct obj *_Atomic cur;
	_Atomic uint64_t freed;
	_Atomic uint64_t torn; /* reads that saw a broken pair */
	_Atomic uint64_t reads;
	atomic_bool writer_done; /* readers go on at least until then */
	pthread_barrier_t start;
};

static void *reader(void *arg)
{
	struct shared *sh = arg;
	int slot = qsbr_register(&sh->q);
	uint64_t torn = 0, reads = 0;

	if (slot < 0) {
		atomic_fetch_add(&sh->torn, 1);
		return NULL;
	}
	pthread_barrier_wait(&sh->start);
	/* Bounded by counts, not time: N_BATCHES, and beyond only while the
	 * (bounded) writer still runs, so the two surely overlap. */
	for (int b = 0; b < N_BATCHES || !atomic_load(&sh->writer_done); b++) {
		/* Held for the whole turn, as the contract allows. */
		const struct obj *first = atomic_load_explicit(&sh->cur, memory_order_acquire);

		for (int i = 0; i < BATCH; i++) {
			const struct obj *o = atomic_load_explicit(&sh->cur, memory_order_acquire);

			torn += o->b != ~o->a;
			reads++;
		}
		torn += first->b != ~first->a;
		qsbr_quiescent(&sh->q, slot);
		/* Now and then block like a worker in io_uring_wait. */
		if (b % 97 == 0) {
			qsbr_offline(&sh->q, slot);
			sched_yield();
			qsbr_online(&sh->q, slot);
		}
	}
	qsbr_unregister(&sh->q, slot);
	atomic_fetch_add(&sh->torn, torn);
	atomic_fetch_add(&sh->reads, reads);
	return NULL;
}

Test(qsbr, concurrent_replace_and_reclaim)
{
	static struct shared sh;
	pthread_t th[N_READERS];
	struct qsbr_limbo l;
	uint64_t freed_while_reading;

	cr_assert_eq(qsbr_init(&sh.q, N_READERS + 1), 0);
	qsbr_limbo_init(&l, &sh.q);
	atomic_init(&sh.cur, obj_new(0, &sh.freed));
	cr_assert_eq(pthread_barrier_init(&sh.start, NULL, N_READERS + 1), 0);
	for (int i = 0; i < N_READERS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, reader, &sh), 0);
	pthread_barrier_wait(&sh.start);
	for (uint64_t v = 1; v <= N_REPLACES; v++) {
		struct obj *old =
		    atomic_exchange_explicit(&sh.cur, obj_new(v, &sh.freed), memory_order_acq_rel);

		qsbr_retire(&l, &old->qn, obj_free);
		if (v % 16 == 0)
			qsbr_reclaim(&l);
	}
	/* Readers are still online and reading: reclamation must catch up
	 * with them passing quiescent points (bounded, in case it cannot). */
	for (long spin = 0; qsbr_limbo_pending(&l) && spin < 10000000; spin++) {
		qsbr_reclaim(&l);
		sched_yield();
	}
	freed_while_reading = atomic_load(&sh.freed);
	atomic_store(&sh.writer_done, true);
	for (int i = 0; i < N_READERS; i++)
		pthread_join(th[i], NULL);
	/* Every reader is gone: the rest goes in one reclaim. */
	qsbr_reclaim(&l);
	cr_assert_eq(atomic_load(&sh.torn), 0, "readers saw freed or torn objects");
	cr_assert_geq(atomic_load(&sh.reads), (uint64_t)N_READERS * N_BATCHES * BATCH);
	cr_assert_eq(freed_while_reading, N_REPLACES, "freed while readers were online");
	cr_assert_eq(atomic_load(&sh.freed), N_REPLACES);
	cr_assert_eq(qsbr_limbo_pending(&l), 0);
	obj_free(&atomic_load(&sh.cur)->qn);
	qsbr_limbo_fini(&l);
	pthread_barrier_destroy(&sh.start);
	qsbr_fini(&sh.q);
}

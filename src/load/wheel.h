/* wheel: a hashed timing wheel with 1 ms ticks for a fixed set of timers
 * (parley-load's per-stream send times, retransmissions and refreshes).
 *
 * Timers are numbered 0..n-1 and live in an array made once: setting,
 * moving and cancelling one is O(1) and allocates nothing. A slot holds
 * the timers due at its tick modulo the wheel size; one due later than a
 * full turn simply stays in its slot and is looked at once per turn. The
 * caller passes the time in (STYLE: effects are passed in). */
#ifndef PARLEY_LOAD_WHEEL_H
#define PARLEY_LOAD_WHEEL_H

#include <stdbool.h>
#include <stdint.h>

struct wheel_node {
	uint32_t next, prev;  /* in the slot's list: index + 1, 0 = none */
	uint32_t slot;        /* slot index + 1, 0 = not scheduled */
	uint64_t due_ms;
};

struct wheel {
	struct wheel_node *nodes;
	uint32_t n_nodes;
	uint32_t *heads;      /* per slot: first node index + 1, 0 = empty; the
	                         extra last slot is the batch being fired */
	uint32_t mask;        /* slots - 1 (a power of two) */
	uint64_t now_ms;      /* every tick up to here has been fired */
	uint32_t scheduled;   /* timers pending */
};

/* Sets up n timers (none scheduled) on a wheel of slots ticks (a power of
 * two), starting at now_ms. Returns 0, -EINVAL or -ENOMEM. */
int wheel_init(struct wheel *w, uint32_t n, uint32_t slots, uint64_t now_ms);

/* Frees; takes a zeroed or half-built wheel. */
void wheel_fini(struct wheel *w);

/* (Re)schedules timer id at due_ms; a time already past fires at the
 * next wheel_advance. */
void wheel_set(struct wheel *w, uint32_t id, uint64_t due_ms);

/* Unschedules timer id (nothing when it is not scheduled). */
void wheel_cancel(struct wheel *w, uint32_t id);

static inline bool wheel_pending(const struct wheel *w, uint32_t id)
{
	return w->nodes[id].slot != 0;
}

/* Fires, in tick order, every timer due at or before now_ms: calls
 * fire(ctx, id) after unscheduling it. fire may set or cancel any timer;
 * one it sets for a tick already reached fires one tick later (so a
 * timer that keeps re-arming itself cannot loop). */
void wheel_advance(struct wheel *w, uint64_t now_ms, void (*fire)(void *ctx, uint32_t id),
		   void *ctx);

/* The earliest tick after now_ms whose slot holds a timer, looking at most
 * limit_ms ticks ahead (now_ms + limit_ms when none). May be early (a
 * slot's timer may belong to a later turn), never late. */
uint64_t wheel_next(const struct wheel *w, uint32_t limit_ms);

#endif

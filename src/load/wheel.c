/* wheel: see wheel.h. */
#include "src/load/wheel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int wheel_init(struct wheel *w, uint32_t n, uint32_t slots, uint64_t now_ms)
{
	memset(w, 0, sizeof(*w));
	if (slots == 0 || (slots & (slots - 1)))
		return -EINVAL;
	/* One more head than slots: the list being fired (see advance). */
	w->heads = calloc((size_t)slots + 1, sizeof(*w->heads));
	w->nodes = calloc(n ? n : 1, sizeof(*w->nodes));
	if (!w->heads || !w->nodes) {
		wheel_fini(w);
		return -ENOMEM;
	}
	w->n_nodes = n;
	w->mask = slots - 1;
	w->now_ms = now_ms;
	return 0;
}

void wheel_fini(struct wheel *w)
{
	if (!w)
		return;
	free(w->heads);
	free(w->nodes);
	memset(w, 0, sizeof(*w));
}

static void link_into(struct wheel *w, uint32_t id, uint32_t slot)
{
	struct wheel_node *n = &w->nodes[id];

	n->slot = slot + 1;
	n->prev = 0;
	n->next = w->heads[slot];
	if (n->next)
		w->nodes[n->next - 1].prev = id + 1;
	w->heads[slot] = id + 1;
}

static void unlink_node(struct wheel *w, uint32_t id)
{
	struct wheel_node *n = &w->nodes[id];

	if (n->prev)
		w->nodes[n->prev - 1].next = n->next;
	else
		w->heads[n->slot - 1] = n->next;
	if (n->next)
		w->nodes[n->next - 1].prev = n->prev;
	n->slot = n->next = n->prev = 0;
}

void wheel_set(struct wheel *w, uint32_t id, uint64_t due_ms)
{
	if (id >= w->n_nodes)
		return;
	if (w->nodes[id].slot)
		unlink_node(w, id);
	else
		w->scheduled++;
	/* A time already past goes to the next tick to be fired. */
	if (due_ms <= w->now_ms)
		due_ms = w->now_ms + 1;
	w->nodes[id].due_ms = due_ms;
	link_into(w, id, (uint32_t)(due_ms & w->mask));
}

void wheel_cancel(struct wheel *w, uint32_t id)
{
	if (id >= w->n_nodes || !w->nodes[id].slot)
		return;
	unlink_node(w, id);
	w->scheduled--;
}

void wheel_advance(struct wheel *w, uint64_t now_ms, void (*fire)(void *ctx, uint32_t id),
		   void *ctx)
{
	const uint32_t batch = w->mask + 1;
	uint64_t t = w->now_ms;

	/* After a pause longer than a turn, one turn visits every slot. */
	if (now_ms > t + w->mask + 1)
		t = now_ms - w->mask - 1;
	while (t < now_ms) {
		uint32_t slot;

		t++;
		w->now_ms = t;
		slot = (uint32_t)(t & w->mask);
		if (!w->heads[slot])
			continue;
		/* Move the slot's list aside, so that timers fire() schedules
		 * into this slot (for a later turn) are not visited again. */
		w->heads[batch] = w->heads[slot];
		w->heads[slot] = 0;
		for (uint32_t i = w->heads[batch]; i; i = w->nodes[i - 1].next)
			w->nodes[i - 1].slot = batch + 1;
		while (w->heads[batch]) {
			uint32_t id = w->heads[batch] - 1;

			unlink_node(w, id);
			if (w->nodes[id].due_ms > now_ms) {
				link_into(w, id, slot);
				continue;
			}
			w->scheduled--;
			fire(ctx, id);
		}
	}
	w->now_ms = now_ms > w->now_ms ? now_ms : w->now_ms;
}

uint64_t wheel_next(const struct wheel *w, uint32_t limit_ms)
{
	if (!w->scheduled)
		return w->now_ms + limit_ms;
	for (uint32_t k = 1; k <= limit_ms; k++)
		if (w->heads[(w->now_ms + k) & w->mask])
			return w->now_ms + k;
	return w->now_ms + limit_ms;
}

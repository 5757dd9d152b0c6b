#include "src/sn/alloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint32_t bucket_of(const struct alloc_table *t, uint8_t transport, uint32_t via,
			  const union addr *client)
{
	uint64_t h = addr_hash(client, t->seed ^ ((uint64_t)transport << 32 | via));

	return (uint32_t)h & t->mask;
}

int alloc_table_init(struct alloc_table *t, uint32_t cap, uint64_t seed)
{
	uint32_t nb = 1;

	memset(t, 0, sizeof(*t));
	if (cap == 0)
		return -EINVAL;
	while (nb < cap * 2u && nb < (1u << 30))
		nb <<= 1;
	t->slots = calloc(cap, sizeof(*t->slots));
	t->buckets = calloc(nb, sizeof(*t->buckets));
	t->live = calloc(cap, sizeof(*t->live));
	if (!t->slots || !t->buckets || !t->live) {
		alloc_table_fini(t);
		return -ENOMEM;
	}
	t->cap = cap;
	t->mask = nb - 1;
	t->seed = seed;
	return 0;
}

void alloc_table_fini(struct alloc_table *t)
{
	if (!t)
		return;
	free(t->slots);
	free(t->buckets);
	free(t->live);
	memset(t, 0, sizeof(*t));
}

struct alloc *alloc_find(const struct alloc_table *t, uint8_t transport, uint32_t via,
			 const union addr *client)
{
	uint32_t i = t->buckets[bucket_of(t, transport, via, client)];

	while (i) {
		struct alloc *a = &t->slots[i - 1];

		if (a->transport == transport && a->via == via && addr_equal(&a->client, client))
			return a;
		i = a->hnext;
	}
	return NULL;
}

struct alloc *alloc_insert(struct alloc_table *t, uint8_t transport, uint32_t via,
			   const union addr *client)
{
	struct alloc *a;
	uint32_t b, gen;

	if (t->free_head) {
		a = &t->slots[t->free_head - 1];
		t->free_head = a->hnext;
	} else if (t->fresh < t->cap) {
		a = &t->slots[t->fresh++];
	} else {
		return NULL;
	}
	gen = a->gen + 1;
	memset(a, 0, sizeof(*a));
	a->gen = gen;
	a->relay_fd = -1;
	a->client = *client;
	a->transport = transport;
	a->via = via;
	a->state = ALLOC_ACTIVE;
	b = bucket_of(t, transport, via, client);
	a->hnext = t->buckets[b];
	t->buckets[b] = alloc_index(t, a) + 1;
	a->live_pos = t->n_used;
	t->live[t->n_used++] = alloc_index(t, a);
	return a;
}

void alloc_unlink(struct alloc_table *t, struct alloc *a)
{
	uint32_t *link, self = alloc_index(t, a) + 1;

	if (a->state != ALLOC_ACTIVE)
		return;
	link = &t->buckets[bucket_of(t, a->transport, a->via, &a->client)];
	while (*link && *link != self)
		link = &t->slots[*link - 1].hnext;
	if (*link)
		*link = a->hnext;
	a->hnext = 0;
	a->state = ALLOC_CLOSING;
}

void alloc_release(struct alloc_table *t, struct alloc *a)
{
	if (a->state == ALLOC_FREE)
		return;
	alloc_unlink(t, a);
	cred_wipe(a->key, sizeof(a->key));
	a->state = ALLOC_FREE;
	a->gen++;
	a->relay_fd = -1;
	a->hnext = t->free_head;
	t->free_head = alloc_index(t, a) + 1;
	/* Swap-remove from the live array. */
	t->n_used--;
	t->live[a->live_pos] = t->live[t->n_used];
	t->slots[t->live[a->live_pos]].live_pos = a->live_pos;
}

struct alloc *alloc_at(const struct alloc_table *t, uint32_t idx, uint32_t gen)
{
	struct alloc *a;

	if (idx >= t->cap)
		return NULL;
	a = &t->slots[idx];
	if (a->state == ALLOC_FREE || (a->gen & 0xffffffu) != (gen & 0xffffffu))
		return NULL;
	return a;
}

bool alloc_perm_check(const struct alloc *a, const union addr *peer, uint64_t now_ms)
{
	for (uint8_t i = 0; i < a->n_perms; i++)
		if (a->perms[i].expires_ms > now_ms && addr_ip_equal(&a->perms[i].ip, peer))
			return true;
	return false;
}

int alloc_perm_add(struct alloc *a, const union addr *peer, uint64_t now_ms)
{
	uint64_t exp = now_ms + ALLOC_PERM_LIFETIME_MS;

	for (uint8_t i = 0; i < a->n_perms; i++) {
		if (addr_ip_equal(&a->perms[i].ip, peer)) {
			a->perms[i].expires_ms = exp;
			return 0;
		}
	}
	if (a->n_perms == ALLOC_MAX_PERMS)
		alloc_prune(a, now_ms);
	if (a->n_perms == ALLOC_MAX_PERMS)
		return -ENOSPC;
	a->perms[a->n_perms].ip = *peer;
	addr_set_port(&a->perms[a->n_perms].ip, 0);
	a->perms[a->n_perms].expires_ms = exp;
	a->n_perms++;
	return 0;
}

struct alloc_channel *alloc_channel_by_number(struct alloc *a, uint16_t number, uint64_t now_ms)
{
	for (uint8_t i = 0; i < a->n_channels; i++)
		if (a->channels[i].number == number && a->channels[i].expires_ms > now_ms)
			return &a->channels[i];
	return NULL;
}

struct alloc_channel *alloc_channel_by_peer(struct alloc *a, const union addr *peer, uint64_t now_ms)
{
	for (uint8_t i = 0; i < a->n_channels; i++)
		if (a->channels[i].expires_ms > now_ms && addr_equal(&a->channels[i].peer, peer))
			return &a->channels[i];
	return NULL;
}

int alloc_channel_bind(struct alloc *a, uint16_t number, const union addr *peer,
		       uint64_t now_ms)
{
	struct alloc_channel *c;

	if (number < TURN_CHANNEL_MIN || number > TURN_CHANNEL_MAX)
		return -EINVAL;
	alloc_prune(a, now_ms);
	for (uint8_t i = 0; i < a->n_channels; i++) {
		c = &a->channels[i];
		if (c->number == number && !addr_equal(&c->peer, peer))
			return -EEXIST;
		if (c->number != number && addr_equal(&c->peer, peer))
			return -EEXIST;
	}
	c = NULL;
	for (uint8_t i = 0; i < a->n_channels; i++)
		if (a->channels[i].number == number)
			c = &a->channels[i];
	if (!c) {
		if (a->n_channels == ALLOC_MAX_CHANNELS)
			return -ENOSPC;
		c = &a->channels[a->n_channels];
		c->number = number;
		c->peer = *peer;
	}
	/* The permission comes with the channel (RFC 8656 §12.2); install it
	 * first so a full permission table leaves no half-made binding. */
	if (alloc_perm_add(a, peer, now_ms))
		return -ENOSPC;
	if (c == &a->channels[a->n_channels])
		a->n_channels++;
	c->expires_ms = now_ms + ALLOC_CHANNEL_LIFETIME_MS;
	return 0;
}

void alloc_prune(struct alloc *a, uint64_t now_ms)
{
	uint8_t n = 0;

	for (uint8_t i = 0; i < a->n_perms; i++)
		if (a->perms[i].expires_ms > now_ms)
			a->perms[n++] = a->perms[i];
	a->n_perms = n;
	n = 0;
	/* RFC 8656 §12: a channel stays reserved 5 minutes after it expires
	 * so late packets are not delivered to a new peer; we keep the
	 * number out of use for that long. */
	for (uint8_t i = 0; i < a->n_channels; i++)
		if (a->channels[i].expires_ms + 300000u > now_ms)
			a->channels[n++] = a->channels[i];
	a->n_channels = n;
}

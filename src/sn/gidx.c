/* gidx: global-index shards, one writer each, lock-free readers.
 *
 * A shard's table is an array of slots, each a 64-bit hash tag and an
 * atomic record pointer, probed linearly from hash & mask. A slot holds
 * NULL (never used since the last rebuild: a probe stops), TOMB (a
 * record was removed: a probe goes on) or a record. Invariant, kept by
 * every single store the writer makes: a record's slot and every slot
 * from its home slot up to it are non-NULL. So a reader probing while the
 * writer works never misses a record that was present during its whole
 * probe, whatever interleaving it sees; it may find a record replaced or
 * removed a moment ago, which QSBR keeps allocated until its next
 * quiescent point.
 *
 * Ordering. The writer fills a record (plain stores) and publishes it
 * with a release store of the slot pointer, after a relaxed store of the
 * tag; a reader loads the pointer with acquire, so the record's contents
 * and a tag at least that new are visible. The tag is only a filter: a
 * mismatch can only come from a concurrent reuse of the slot (the record
 * was removed meanwhile), and a match is always confirmed on the name
 * itself. Tables are published the same way through shard->table.
 *
 * Load: tables grow (or are cleaned of tombstones) when records plus
 * tombstones would pass 3/4 of the slots, to a size where the records
 * fill at most half. The bound is on all non-NULL slots, because a probe
 * for an absent name runs until a NULL. */
#include "src/sn/gidx.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MIN_SLOTS  16u
#define ALIGN16(x) (((x) + 15u) & ~(size_t)15u)

struct gidx_rec {
	uint8_t name_len;    /* 1..GIDX_NAME_MAX */
	uint32_t blob_len;   /* 0..GIDX_BLOB_MAX */
	uint64_t expires_at; /* real-time seconds */
	uint64_t version;
	uint64_t last_login;
	/* The one mutable field: the writer stores, readers load, both
	 * relaxed (a lone word, ordered with nothing else). */
	_Atomic uint64_t presence_until;
	struct qsbr_node qn;        /* retire link, used once unlinked */
	alignas(16) uint8_t data[]; /* name, then the blob at ALIGN16(name_len) */
};

struct gidx_slot {
	_Atomic uint64_t hash;        /* the name's hash: probe filter */
	struct gidx_rec *_Atomic rec; /* NULL, TOMB or a published record */
};

struct gidx_table {
	struct qsbr_node qn; /* retire link, once replaced */
	uint32_t mask;       /* slots - 1 */
	struct gidx_slot slots[];
};

struct gidx_shard {
	/* The line every reader loads. */
	alignas(QSBR_CACHE_LINE) struct gidx_table *_Atomic table;
	/* The writer's own (readers never touch it). */
	alignas(QSBR_CACHE_LINE) uint32_t tombs; /* TOMB slots in the current table */
	uint32_t cursor;                         /* where the next expire sweep starts */
	struct qsbr_limbo limbo;                 /* retired records and tables */
	/* Counters: the writer stores, stats readers load (relaxed). */
	_Atomic uint64_t count, bytes, slots, expired, rebuilds;
#ifndef NDEBUG
	atomic_int writing; /* a writer is inside (debug check) */
#endif
};

struct gidx {
	unsigned shard_mask; /* n_shards - 1 */
	uint32_t max_records;
	uint32_t min_slots; /* tables never shrink below this */
	uint64_t ttl_s;
	uint8_t key[GIDX_HASH_KEY_LEN];
	struct qsbr *q;
	struct gidx_shard *shards;
};

/* A removed slot's marker: an address no record can have. */
static char tomb_marker;
#define TOMB ((struct gidx_rec *)(void *)&tomb_marker)

/* ---- SipHash-2-4 ------------------------------------------------------ */

static uint64_t le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

static void sipround(uint64_t v[4], int rounds)
{
	while (rounds--) {
		v[0] += v[1], v[1] = ROTL(v[1], 13) ^ v[0], v[0] = ROTL(v[0], 32);
		v[2] += v[3], v[3] = ROTL(v[3], 16) ^ v[2];
		v[0] += v[3], v[3] = ROTL(v[3], 21) ^ v[0];
		v[2] += v[1], v[1] = ROTL(v[1], 17) ^ v[2], v[2] = ROTL(v[2], 32);
	}
}

uint64_t gidx_siphash24(const uint8_t key[GIDX_HASH_KEY_LEN], const void *data, size_t len)
{
	const uint8_t *p = data, *end = p + (len & ~(size_t)7);
	uint64_t k0 = le64(key), k1 = le64(key + 8), b = (uint64_t)len << 56;
	uint64_t v[4] = {k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull,
	                 k0 ^ 0x6c7967656e657261ull, k1 ^ 0x7465646279746573ull};

	for (; p != end; p += 8) {
		v[3] ^= le64(p);
		sipround(v, 2);
		v[0] ^= le64(p);
	}
	for (size_t i = 0; i < (len & 7); i++)
		b |= (uint64_t)p[i] << (8 * i);
	v[3] ^= b;
	sipround(v, 2);
	v[0] ^= b;
	v[2] ^= 0xff;
	sipround(v, 4);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* ---- helpers ---------------------------------------------------------- */

/* The high half picks the shard, the low half the slot: independent bits,
 * so a shard's names still spread over all its slots. */
static unsigned shard_of_hash(const struct gidx *g, uint64_t h)
{
	return (unsigned)(h >> 32) & g->shard_mask;
}

static size_t rec_size(size_t name_len, size_t blob_len)
{
	return sizeof(struct gidx_rec) + ALIGN16(name_len) + blob_len;
}

static bool rec_is(const struct gidx_rec *r, const void *name, size_t len)
{
	return r->name_len == len && memcmp(r->data, name, len) == 0;
}

static void rec_free(struct qsbr_node *n)
{
	free((char *)n - offsetof(struct gidx_rec, qn));
}

static void table_free(struct qsbr_node *n)
{
	free(n); /* qn is the table's first member */
}

static struct gidx_table *table_new(uint32_t n_slots)
{
	struct gidx_table *t = calloc(1, sizeof(*t) + (size_t)n_slots * sizeof(t->slots[0]));

	/* calloc's zeroes are NULL pointers and 0 tags for the atomics too
	 * (lock-free atomics share the plain types' representation). */
	if (t)
		t->mask = n_slots - 1;
	return t;
}

/* Writer-only counter update: one writer, so no read-modify-write. */
static void stat_add(_Atomic uint64_t *c, int64_t d)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + (uint64_t)d,
	                      memory_order_relaxed);
}

/* Debug builds catch two threads writing one shard at once. Relaxed on
 * purpose: acquire/release here would order the two writers and hide
 * their race from ThreadSanitizer. */
#ifndef NDEBUG
#define WRITER_ENTER(s)                                                                            \
	assert(!atomic_exchange_explicit(&(s)->writing, 1, memory_order_relaxed) &&                \
	       "gidx: two threads write one shard")
#define WRITER_LEAVE(s) atomic_store_explicit(&(s)->writing, 0, memory_order_relaxed)
#else
#define WRITER_ENTER(s) ((void)0)
#define WRITER_LEAVE(s) ((void)0)
#endif

/* Writer's probe (its own stores are all it can see change, so relaxed
 * loads). Returns name's slot or -1; *free_slot gets the first TOMB or
 * NULL slot on the way, where the name would go. */
static int64_t probe(const struct gidx_table *t, uint64_t h, const void *name, size_t len,
                     uint32_t *free_slot)
{
	bool have_free = false;

	for (uint32_t i = (uint32_t)h & t->mask, n = 0; n <= t->mask; i = (i + 1) & t->mask, n++) {
		const struct gidx_slot *sl = &t->slots[i];
		struct gidx_rec *r = atomic_load_explicit(&sl->rec, memory_order_relaxed);

		if (r == NULL || r == TOMB) {
			if (!have_free) {
				*free_slot = i;
				have_free = true;
			}
			if (r == NULL)
				return -1;
			continue;
		}
		if (atomic_load_explicit(&sl->hash, memory_order_relaxed) == h &&
		    rec_is(r, name, len))
			return i;
	}
	return -1; /* unreachable while the load bound holds */
}

/* Builds a table sized for need records and publishes it; the old one is
 * retired (readers inside it finish their probe there). */
static int rebuild(struct gidx *g, struct gidx_shard *s, uint32_t need)
{
	struct gidx_table *old = atomic_load_explicit(&s->table, memory_order_relaxed);
	struct gidx_table *t;
	uint32_t n = g->min_slots;

	while (n < 2 * (uint64_t)need)
		n *= 2;
	t = table_new(n);
	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; i <= old->mask; i++) {
		struct gidx_rec *r = atomic_load_explicit(&old->slots[i].rec, memory_order_relaxed);
		uint64_t h = atomic_load_explicit(&old->slots[i].hash, memory_order_relaxed);
		uint32_t j = (uint32_t)h & t->mask;

		if (r == NULL || r == TOMB)
			continue;
		while (atomic_load_explicit(&t->slots[j].rec, memory_order_relaxed))
			j = (j + 1) & t->mask;
		/* Unpublished yet: relaxed, the release below covers them. */
		atomic_store_explicit(&t->slots[j].hash, h, memory_order_relaxed);
		atomic_store_explicit(&t->slots[j].rec, r, memory_order_relaxed);
	}
	atomic_store_explicit(&s->table, t, memory_order_release);
	qsbr_retire(&s->limbo, &old->qn, table_free);
	s->tombs = 0;
	stat_add(&s->slots, (int64_t)n - (int64_t)old->mask - 1);
	stat_add(&s->rebuilds, 1);
	return 0;
}

/* Empties slot i. When the next slot is NULL no probe goes past i, so i
 * becomes NULL, and so do the tombstones just before it: removal keeps
 * probe runs short without a rebuild. Each store keeps the invariant. */
static void slot_clear(struct gidx_shard *s, struct gidx_table *t, uint32_t i)
{
	struct gidx_rec *next =
	    atomic_load_explicit(&t->slots[(i + 1) & t->mask].rec, memory_order_relaxed);

	if (next != NULL) {
		atomic_store_explicit(&t->slots[i].rec, TOMB, memory_order_release);
		s->tombs++;
		return;
	}
	atomic_store_explicit(&t->slots[i].rec, NULL, memory_order_release);
	/* Stops at the latest NULL at the latest (slot i itself). */
	for (uint32_t j = (i - 1) & t->mask;
	     atomic_load_explicit(&t->slots[j].rec, memory_order_relaxed) == TOMB;
	     j = (j - 1) & t->mask) {
		atomic_store_explicit(&t->slots[j].rec, NULL, memory_order_release);
		s->tombs--;
	}
}

/* Unlinks the record in slot i and retires it. */
static void remove_at(struct gidx_shard *s, struct gidx_table *t, uint32_t i)
{
	struct gidx_rec *r = atomic_load_explicit(&t->slots[i].rec, memory_order_relaxed);

	slot_clear(s, t, i);
	qsbr_retire(&s->limbo, &r->qn, rec_free);
	stat_add(&s->count, -1);
	stat_add(&s->bytes, -(int64_t)rec_size(r->name_len, r->blob_len));
}

/* Where a writer call stands: its shard, table, the name's hash and slot. */
struct wpos {
	struct gidx_shard *s;
	struct gidx_table *t;
	uint64_t h;
	int64_t i;        /* the name's slot, -1 when absent */
	uint32_t free_at; /* where it would go when absent */
};

/* Checks a writer call's arguments, enters the shard and finds name.
 * Returns 0 (the caller must WRITER_LEAVE), -EINVAL or -EXDEV. */
static int writer_begin(struct gidx *g, unsigned shard, const void *name, size_t len,
                        struct wpos *w)
{
	if (shard > g->shard_mask || !name || len == 0 || len > GIDX_NAME_MAX)
		return -EINVAL;
	w->h = gidx_siphash24(g->key, name, len);
	if (shard_of_hash(g, w->h) != shard)
		return -EXDEV;
	w->s = &g->shards[shard];
	WRITER_ENTER(w->s);
	w->t = atomic_load_explicit(&w->s->table, memory_order_relaxed);
	w->i = probe(w->t, w->h, name, len, &w->free_at);
	return 0;
}

static struct gidx_rec *slot_rec(const struct gidx_table *t, int64_t i)
{
	return atomic_load_explicit(&t->slots[i].rec, memory_order_relaxed);
}

/* ---- life cycle ------------------------------------------------------- */

int gidx_create(const struct gidx_config *cfg, struct qsbr *q, struct gidx **out)
{
	struct gidx *g;
	uint32_t min = MIN_SLOTS;

	*out = NULL;
	if (!q || cfg->n_shards == 0 || cfg->n_shards > GIDX_SHARDS_MAX ||
	    (cfg->n_shards & (cfg->n_shards - 1)) || cfg->max_records == 0 ||
	    cfg->max_records > GIDX_SHARD_RECORDS_MAX)
		return -EINVAL;
	while (min < cfg->initial_slots && min < 2 * cfg->max_records)
		min *= 2;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->shard_mask = cfg->n_shards - 1;
	g->max_records = cfg->max_records;
	g->min_slots = min;
	g->ttl_s = cfg->ttl_s ? cfg->ttl_s : GIDX_TTL_DEFAULT_S;
	memcpy(g->key, cfg->hash_key, sizeof(g->key));
	g->q = q;
	g->shards = aligned_alloc(QSBR_CACHE_LINE, cfg->n_shards * sizeof(*g->shards));
	if (!g->shards)
		goto fail;
	memset(g->shards, 0, cfg->n_shards * sizeof(*g->shards));
	for (unsigned i = 0; i < cfg->n_shards; i++) {
		struct gidx_shard *s = &g->shards[i];
		struct gidx_table *t = table_new(min);

		qsbr_limbo_init(&s->limbo, q);
		if (!t)
			goto fail;
		atomic_init(&s->table, t);
		atomic_init(&s->slots, min);
	}
	*out = g;
	return 0;
fail:
	gidx_destroy(g);
	return -ENOMEM;
}

void gidx_destroy(struct gidx *g)
{
	if (!g)
		return;
	for (unsigned i = 0; g->shards && i <= g->shard_mask; i++) {
		struct gidx_shard *s = &g->shards[i];
		struct gidx_table *t = atomic_load_explicit(&s->table, memory_order_relaxed);

		/* Retired records are in the limbo only, live ones in the
		 * current table only: nothing is freed twice. */
		qsbr_limbo_fini(&s->limbo);
		if (!t)
			continue;
		for (uint32_t j = 0; j <= t->mask; j++) {
			struct gidx_rec *r =
			    atomic_load_explicit(&t->slots[j].rec, memory_order_relaxed);

			if (r && r != TOMB)
				free(r);
		}
		free(t);
	}
	free(g->shards);
	free(g);
}

unsigned gidx_shards(const struct gidx *g)
{
	return g->shard_mask + 1;
}

unsigned gidx_shard_of(const struct gidx *g, const void *name, size_t name_len)
{
	return shard_of_hash(g, gidx_siphash24(g->key, name, name_len));
}

/* ---- writer ----------------------------------------------------------- */

/* A new record, presence from old (or offline). NULL when out of memory. */
static struct gidx_rec *rec_new(const struct gidx *g, const void *name, size_t name_len,
                                const void *blob, size_t blob_len, uint64_t last_login,
                                uint64_t version, const struct gidx_rec *old)
{
	struct gidx_rec *r = malloc(rec_size(name_len, blob_len));

	if (!r)
		return NULL;
	r->name_len = (uint8_t)name_len;
	r->blob_len = (uint32_t)blob_len;
	r->version = version;
	r->last_login = last_login;
	r->expires_at = last_login > UINT64_MAX - g->ttl_s ? UINT64_MAX : last_login + g->ttl_s;
	atomic_init(&r->presence_until,
	            old ? atomic_load_explicit(&old->presence_until, memory_order_relaxed) : 0);
	memcpy(r->data, name, name_len);
	if (blob_len)
		memcpy(r->data + ALIGN16(name_len), blob, blob_len);
	return r;
}

int gidx_put(struct gidx *g, unsigned shard, const void *name, size_t name_len, const void *blob,
             size_t blob_len, uint64_t last_login, uint64_t version)
{
	struct gidx_rec *r, *old = NULL;
	struct wpos w;
	uint64_t count;
	int ret;

	if (blob_len > GIDX_BLOB_MAX || (blob_len && !blob))
		return -EINVAL;
	ret = writer_begin(g, shard, name, name_len, &w);
	if (ret)
		return ret;
	count = atomic_load_explicit(&w.s->count, memory_order_relaxed);
	if (w.i >= 0) {
		old = slot_rec(w.t, w.i);
		ret = old->version > version ? -ESTALE : old->version == version ? -EEXIST : 0;
	} else if (count >= g->max_records) {
		ret = -ENOSPC;
	}
	if (ret)
		goto out;
	r = rec_new(g, name, name_len, blob, blob_len, last_login, version, old);
	if (!r) {
		ret = -ENOMEM;
		goto out;
	}
	if (old) {
		/* Same slot, same tag: only the pointer changes. */
		stat_add(&w.s->bytes, (int64_t)rec_size(name_len, blob_len) -
		                          (int64_t)rec_size(old->name_len, old->blob_len));
		atomic_store_explicit(&w.t->slots[w.i].rec, r, memory_order_release);
		qsbr_retire(&w.s->limbo, &old->qn, rec_free);
		goto out;
	}
	/* A NULL slot taken adds to the probe runs: keep them under 3/4. */
	if (slot_rec(w.t, w.free_at) == NULL &&
	    (count + w.s->tombs + 1) * 4 > (w.t->mask + 1ull) * 3) {
		ret = rebuild(g, w.s, (uint32_t)count + 1);
		if (ret) {
			free(r);
			goto out;
		}
		w.t = atomic_load_explicit(&w.s->table, memory_order_relaxed);
		probe(w.t, w.h, name, name_len, &w.free_at);
	}
	if (slot_rec(w.t, w.free_at) == TOMB)
		w.s->tombs--;
	/* Tag first: a reader that acquires the pointer sees this tag. */
	atomic_store_explicit(&w.t->slots[w.free_at].hash, w.h, memory_order_relaxed);
	atomic_store_explicit(&w.t->slots[w.free_at].rec, r, memory_order_release);
	stat_add(&w.s->count, 1);
	stat_add(&w.s->bytes, (int64_t)rec_size(name_len, blob_len));
out:
	WRITER_LEAVE(w.s);
	return ret;
}

int gidx_touch_presence(struct gidx *g, unsigned shard, const void *name, size_t name_len,
                        uint64_t presence_until)
{
	struct wpos w;
	int ret = writer_begin(g, shard, name, name_len, &w);

	if (ret)
		return ret;
	if (w.i >= 0)
		atomic_store_explicit(&slot_rec(w.t, w.i)->presence_until, presence_until,
		                      memory_order_relaxed);
	WRITER_LEAVE(w.s);
	return w.i >= 0 ? 0 : -ENOENT;
}

int gidx_del(struct gidx *g, unsigned shard, const void *name, size_t name_len)
{
	struct wpos w;
	int ret = writer_begin(g, shard, name, name_len, &w);

	if (ret)
		return ret;
	if (w.i >= 0)
		remove_at(w.s, w.t, (uint32_t)w.i);
	WRITER_LEAVE(w.s);
	return w.i >= 0 ? 0 : -ENOENT;
}

int gidx_expire(struct gidx *g, unsigned shard, uint64_t now, unsigned max_slots)
{
	struct gidx_shard *s;
	struct gidx_table *t;
	uint64_t n_slots, count;
	int removed = 0;

	if (shard > g->shard_mask)
		return -EINVAL;
	s = &g->shards[shard];
	WRITER_ENTER(s);
	t = atomic_load_explicit(&s->table, memory_order_relaxed);
	n_slots = (uint64_t)t->mask + 1;
	if (max_slots > n_slots)
		max_slots = (unsigned)n_slots;
	for (unsigned k = 0; k < max_slots; k++) {
		uint32_t i = s->cursor & t->mask;
		struct gidx_rec *r = atomic_load_explicit(&t->slots[i].rec, memory_order_relaxed);

		s->cursor = i + 1;
		if (r && r != TOMB && now >= r->expires_at) {
			remove_at(s, t, i);
			removed++;
		}
	}
	count = atomic_load_explicit(&s->count, memory_order_relaxed);
	stat_add(&s->expired, removed);
	/* Mostly tombstones, or a big table mostly empty after a wave of
	 * expiry: rebuild. A failed allocation just leaves the table as it
	 * is, still correct. */
	if (removed &&
	    (s->tombs * 4ull > n_slots || (count * 8 < n_slots && n_slots > g->min_slots)))
		rebuild(g, s, (uint32_t)count);
	WRITER_LEAVE(s);
	return removed;
}

size_t gidx_reclaim(struct gidx *g, unsigned shard)
{
	return shard > g->shard_mask ? 0 : qsbr_reclaim(&g->shards[shard].limbo);
}

/* ---- readers ---------------------------------------------------------- */

int gidx_lookup(const struct gidx *g, const void *name, size_t name_len, uint64_t now,
                struct gidx_view *v)
{
	const struct gidx_shard *s;
	const struct gidx_table *t;
	uint64_t h;

	if (!name || name_len == 0 || name_len > GIDX_NAME_MAX)
		return -EINVAL;
	h = gidx_siphash24(g->key, name, name_len);
	s = &g->shards[shard_of_hash(g, h)];
	t = atomic_load_explicit(&s->table, memory_order_acquire);
	for (uint32_t i = (uint32_t)h & t->mask, n = 0; n <= t->mask; i = (i + 1) & t->mask, n++) {
		const struct gidx_slot *sl = &t->slots[i];
		const struct gidx_rec *r = atomic_load_explicit(&sl->rec, memory_order_acquire);

		if (r == NULL)
			break;
		if (r == TOMB || atomic_load_explicit(&sl->hash, memory_order_relaxed) != h ||
		    !rec_is(r, name, name_len))
			continue;
		/* Expired but not yet swept reads as absent. */
		if (now >= r->expires_at)
			return -ENOENT;
		v->name = r->data;
		v->name_len = r->name_len;
		v->blob = r->data + ALIGN16(r->name_len);
		v->blob_len = r->blob_len;
		v->version = r->version;
		v->last_login = r->last_login;
		v->expires_at = r->expires_at;
		v->presence_until = atomic_load_explicit(&r->presence_until, memory_order_relaxed);
		return 0;
	}
	return -ENOENT;
}

int gidx_stats(const struct gidx *g, unsigned shard, struct gidx_stats *out)
{
	const struct gidx_shard *s;

	if (shard > g->shard_mask)
		return -EINVAL;
	s = &g->shards[shard];
	out->count = atomic_load_explicit(&s->count, memory_order_relaxed);
	out->bytes = atomic_load_explicit(&s->bytes, memory_order_relaxed);
	out->slots = atomic_load_explicit(&s->slots, memory_order_relaxed);
	out->expired = atomic_load_explicit(&s->expired, memory_order_relaxed);
	out->rebuilds = atomic_load_explicit(&s->rebuilds, memory_order_relaxed);
	out->pending = qsbr_limbo_pending(&s->limbo);
	out->reclaimed = atomic_load_explicit(&s->limbo.freed, memory_order_relaxed);
	return 0;
}

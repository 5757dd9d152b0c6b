/* auth: see auth.h. */
#include "src/sn/auth.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#define AUTH_NAME_MAX 255

/* Per-user quota table: fixed size so workers never resize it, bounded
 * probing so a take or give costs at most AUTH_QUOTA_PROBES loads. */
#define AUTH_QUOTA_SLOTS 65536u
#define AUTH_QUOTA_PROBES 64u

/* A static user. The password is never stored: only the long-term key
 * derived from it at start-up. */
struct auth_user {
	char *name;             /* NUL-terminated copy, NULL = empty slot */
	size_t name_len;
	uint64_t hash;          /* auth_name_hash(name) */
	uint8_t key[CRED_KEY_LEN];
};

struct auth {
	char *realm;
	size_t realm_len;
	uint8_t *secret;        /* shared secret or NULL */
	size_t secret_len;
	uint64_t seed;          /* per-process hash seed (RAND_bytes) */

	struct auth_user *users; /* open addressing, power-of-two size */
	size_t users_cap;
	size_t n_users;

	uint32_t max_total;     /* 0 = unlimited */
	uint32_t max_per_user;  /* 0 = unlimited: no per-user table */
	_Atomic uint32_t total;
	/* Per-user counts, one word per slot: user tag in the high 32 bits,
	 * count in the low 32. Tag and count in one word let a slot whose
	 * count fell to 0 be taken over by another user with a single CAS;
	 * with the id and the count in two words a slot could not be reused
	 * safely, and shared-secret usernames (a new one per credential)
	 * would fill a never-reused table and refuse every allocation after
	 * 65536 credentials. A word of 0 has never been used. */
	_Atomic uint64_t *quota;
};

/* ------------------------------------------------------------------ */
/* Hashing                                                             */
/* ------------------------------------------------------------------ */

static uint64_t auth_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/* FNV-1a started from the seed, then a splitmix64 finalizer. Not a PRF,
 * but the seed is secret and per process, and a collision only merges two
 * users' quota accounting (the users need valid credentials anyway). */
static uint64_t auth_name_hash(uint64_t seed, const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)s[i];
		h *= 0x100000001b3ull;
	}
	return auth_mix(h ^ len ^ (seed >> 32));
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */
/* ------------------------------------------------------------------ */

struct auth *auth_create(const char *realm, uint32_t max_total, uint32_t max_per_user)
{
	struct auth *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->realm = strdup(realm != NULL ? realm : "");
	if (a->realm == NULL)
		goto fail;
	a->realm_len = strlen(a->realm);
	a->max_total = max_total;
	a->max_per_user = max_per_user;
	atomic_init(&a->total, 0);
	if (max_per_user != 0) {
		/* calloc gives all-zero words, which is what a never-used
		 * slot is; C11 atomics of integer type share the integer's
		 * representation on every target we build for. */
		a->quota = calloc(AUTH_QUOTA_SLOTS, sizeof(*a->quota));
		if (a->quota == NULL)
			goto fail;
	}
	/* Without randomness the ids stay correct, only predictable; that
	 * is not worth refusing to start over. */
	if (RAND_bytes((unsigned char *)&a->seed, sizeof(a->seed)) != 1)
		a->seed = auth_mix((uint64_t)(uintptr_t)a);
	return a;

fail:
	auth_destroy(a);
	return NULL;
}

void auth_destroy(struct auth *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->users_cap; i++) {
		free(a->users[i].name);
		cred_wipe(a->users[i].key, sizeof(a->users[i].key));
	}
	free(a->users);
	if (a->secret != NULL) {
		cred_wipe(a->secret, a->secret_len);
		free(a->secret);
	}
	free(a->quota);
	free(a->realm);
	free(a);
}

/* ------------------------------------------------------------------ */
/* Credentials                                                         */
/* ------------------------------------------------------------------ */

static struct auth_user *auth_find(const struct auth *a, const char *name, size_t len,
				   uint64_t hash)
{
	size_t mask = a->users_cap - 1;

	if (a->users_cap == 0)
		return NULL;
	/* The table is at most half full, so an empty slot ends every probe. */
	for (size_t i = hash & mask;; i = (i + 1) & mask) {
		struct auth_user *u = &a->users[i];

		if (u->name == NULL)
			return NULL;
		if (u->hash == hash && u->name_len == len && memcmp(u->name, name, len) == 0)
			return u;
	}
}

static struct auth_user *auth_slot_for(struct auth_user *tab, size_t cap, uint64_t hash)
{
	size_t mask = cap - 1;
	size_t i = hash & mask;

	while (tab[i].name != NULL)
		i = (i + 1) & mask;
	return &tab[i];
}

/* Keeps the load at most one half (doubling from 16). */
static int auth_grow(struct auth *a)
{
	size_t cap = a->users_cap != 0 ? a->users_cap * 2 : 16;
	struct auth_user *tab;

	if ((a->n_users + 1) * 2 <= a->users_cap)
		return 0;
	tab = calloc(cap, sizeof(*tab));
	if (tab == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < a->users_cap; i++) {
		if (a->users[i].name != NULL)
			*auth_slot_for(tab, cap, a->users[i].hash) = a->users[i];
	}
	/* The old array's keys moved; wipe before freeing. */
	if (a->users != NULL)
		cred_wipe(a->users, a->users_cap * sizeof(*a->users));
	free(a->users);
	a->users = tab;
	a->users_cap = cap;
	return 0;
}

int auth_add_user(struct auth *a, const char *spec)
{
	const char *colon, *pass;
	struct auth_user u = { 0 };
	size_t name_len, pass_len;
	int ret;

	if (spec == NULL || (colon = strchr(spec, ':')) == NULL)
		return -EINVAL;
	name_len = (size_t)(colon - spec);
	pass = colon + 1;
	pass_len = strlen(pass);
	if (name_len == 0 || name_len > AUTH_NAME_MAX || pass_len == 0)
		return -EINVAL;

	u.hash = auth_name_hash(a->seed, spec, name_len);
	if (auth_find(a, spec, name_len, u.hash) != NULL)
		return -EEXIST;
	if ((ret = auth_grow(a)) < 0)
		return ret;
	/* The password is read in place from the caller's string and never
	 * copied: only the derived key is kept. */
	ret = cred_longterm_key(spec, name_len, a->realm, a->realm_len, pass, pass_len,
				u.key);
	if (ret < 0)
		goto out;
	u.name = strndup(spec, name_len);
	if (u.name == NULL) {
		ret = -ENOMEM;
		goto out;
	}
	u.name_len = name_len;
	*auth_slot_for(a->users, a->users_cap, u.hash) = u;
	a->n_users++;
	ret = 0;
out:
	cred_wipe(&u, sizeof(u));
	return ret;
}

int auth_set_secret(struct auth *a, const char *secret)
{
	size_t len;
	uint8_t *copy;

	/* An empty HMAC key is one everybody knows. */
	if (secret == NULL || (len = strlen(secret)) == 0)
		return -EINVAL;
	copy = malloc(len);
	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, secret, len);
	if (a->secret != NULL) {
		cred_wipe(a->secret, a->secret_len);
		free(a->secret);
	}
	a->secret = copy;
	a->secret_len = len;
	return 0;
}

bool auth_has_credentials(const struct auth *a)
{
	return a->n_users > 0 || a->secret != NULL;
}

const char *auth_realm(const struct auth *a)
{
	return a->realm;
}

int auth_lookup_key(const struct auth *a, const char *username, size_t len,
		    uint64_t now_s, uint8_t key[CRED_KEY_LEN])
{
	char pass[CRED_SECRET_PASSWORD_LEN + 1];
	int64_t expiry;
	int ret;

	if (len > 0 && len <= AUTH_NAME_MAX) {
		const struct auth_user *u =
			auth_find(a, username, len, auth_name_hash(a->seed, username, len));

		if (u != NULL) {
			memcpy(key, u->key, CRED_KEY_LEN);
			return 0;
		}
	}
	if (a->secret == NULL)
		return -ENOENT;

	if (cred_secret_expiry(username, len, ':', &expiry) < 0)
		return -EINVAL;
	/* Valid up to and including the expiry second. */
	if (expiry < 0 || (uint64_t)expiry < now_s)
		return -EKEYEXPIRED;
	ret = cred_secret_password(a->secret, a->secret_len, username, len, pass,
				   sizeof(pass));
	if (ret == 0)
		ret = cred_longterm_key(username, len, a->realm, a->realm_len, pass,
					strlen(pass), key);
	cred_wipe(pass, sizeof(pass));
	return ret;
}

uint64_t auth_user_id(const struct auth *a, const char *username, size_t len)
{
	return auth_name_hash(a->seed ^ 0x5bd1e9955bd1e995ull, username, len);
}

/* ------------------------------------------------------------------ */
/* Quotas                                                              */
/* ------------------------------------------------------------------ */

#define QUOTA_TAG(w) ((uint32_t)((w) >> 32))
#define QUOTA_COUNT(w) ((uint32_t)(w))

/* The low bits of the id pick the first slot, the high 32 bits are the
 * tag stored in the slot; a tag of 0 would read as "never used". */
static uint32_t auth_quota_tag(uint64_t id)
{
	uint32_t tag = (uint32_t)(id >> 32);

	return tag != 0 ? tag : 1;
}

static int auth_quota_user_take(struct auth *a, uint64_t id)
{
	const uint32_t tag = auth_quota_tag(id);
	const uint32_t start = (uint32_t)id % AUTH_QUOTA_SLOTS;

	for (;;) {
		_Atomic uint64_t *free_slot = NULL;
		uint64_t free_word = 0;

		for (uint32_t i = 0; i < AUTH_QUOTA_PROBES; i++) {
			_Atomic uint64_t *s = &a->quota[(start + i) % AUTH_QUOTA_SLOTS];
			uint64_t w = atomic_load_explicit(s, memory_order_acquire);

			while (QUOTA_TAG(w) == tag && QUOTA_COUNT(w) > 0) {
				if (QUOTA_COUNT(w) >= a->max_per_user)
					return -EDQUOT;
				if (atomic_compare_exchange_weak_explicit(
					    s, &w, w + 1, memory_order_acq_rel,
					    memory_order_acquire))
					return 0;
				/* w reloaded: re-judge this slot, it may have
				 * drained to 0 or changed hands meanwhile. */
			}
			if (free_slot == NULL && QUOTA_COUNT(w) == 0) {
				free_slot = s;
				free_word = w;
			}
			/* Slots never return to 0 and a user is placed in the
			 * first free slot of its run, so no later slot can be
			 * ours once a never-used one is seen. */
			if (w == 0)
				break;
		}
		if (free_slot == NULL)
			return -ENOSPC;
		if (atomic_compare_exchange_strong_explicit(
			    free_slot, &free_word, (uint64_t)tag << 32 | 1,
			    memory_order_acq_rel, memory_order_acquire))
			return 0;
		/* Lost the slot to a concurrent take (possibly of this very
		 * user): scan again. Each retry means another take made
		 * progress, so this is lock-free. */
	}
}

static void auth_quota_user_give(struct auth *a, uint64_t id)
{
	const uint32_t tag = auth_quota_tag(id);
	const uint32_t start = (uint32_t)id % AUTH_QUOTA_SLOTS;

	for (uint32_t i = 0; i < AUTH_QUOTA_PROBES; i++) {
		_Atomic uint64_t *s = &a->quota[(start + i) % AUTH_QUOTA_SLOTS];
		uint64_t w = atomic_load_explicit(s, memory_order_acquire);

		while (QUOTA_TAG(w) == tag && QUOTA_COUNT(w) > 0) {
			/* The tag stays on a drained slot: it costs nothing
			 * and keeps the "0 = never used" invariant. */
			if (atomic_compare_exchange_weak_explicit(s, &w, w - 1,
								  memory_order_acq_rel,
								  memory_order_acquire))
				return;
		}
		if (w == 0)
			return;
	}
	/* Not found: a give without a take. Nothing to undo. */
}

int auth_quota_take(struct auth *a, uint64_t user_id)
{
	uint32_t cur = atomic_load_explicit(&a->total, memory_order_relaxed);
	int ret;

	/* CAS, not fetch_add then undo: the total must never be seen above
	 * its maximum, even for a moment. */
	do {
		if (a->max_total != 0 && cur >= a->max_total)
			return -ENOSPC;
		if (cur == UINT32_MAX)
			return -ENOSPC;
	} while (!atomic_compare_exchange_weak_explicit(&a->total, &cur, cur + 1,
						       memory_order_acq_rel,
						       memory_order_relaxed));

	if (a->quota == NULL)
		return 0;
	ret = auth_quota_user_take(a, user_id);
	if (ret < 0)
		atomic_fetch_sub_explicit(&a->total, 1, memory_order_acq_rel);
	return ret;
}

void auth_quota_give(struct auth *a, uint64_t user_id)
{
	uint32_t cur = atomic_load_explicit(&a->total, memory_order_relaxed);

	if (a->quota != NULL)
		auth_quota_user_give(a, user_id);
	/* Never below 0: an unmatched give must not wrap the total. */
	while (cur > 0 &&
	       !atomic_compare_exchange_weak_explicit(&a->total, &cur, cur - 1,
						      memory_order_acq_rel,
						      memory_order_relaxed))
		;
}

uint32_t auth_quota_total(const struct auth *a)
{
	return atomic_load_explicit(&a->total, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* Failed-authentication limiter                                       */
/* ------------------------------------------------------------------ */

void auth_limiter_init(struct auth_limiter *l, uint32_t rate_per_s, uint32_t burst,
		       uint64_t seed)
{
	memset(l, 0, sizeof(*l));
	l->rate_per_s = rate_per_s;
	/* tokens_milli is 32 bits wide. */
	l->burst = burst > UINT32_MAX / 1000 ? UINT32_MAX / 1000 : burst;
	l->seed = seed;
}

/* Hash of src's IP only: a client must not get a fresh bucket per port. */
static uint64_t auth_limiter_hash(const struct auth_limiter *l, const union addr *src)
{
	union addr ip = *src;
	uint64_t h;

	addr_set_port(&ip, 0);
	h = addr_hash(&ip, l->seed);
	return h != 0 ? h : 1;
}

static void auth_limiter_refill(const struct auth_limiter *l, struct auth_limiter_slot *s,
				uint64_t now_ms)
{
	uint64_t full = (uint64_t)l->burst * 1000;
	uint64_t tokens = s->tokens_milli;

	/* A clock that went backwards refills nothing. rate_per_s tokens
	 * per second are rate_per_s thousandths per millisecond; elapsed is
	 * capped first so the product cannot overflow. */
	if (now_ms > s->last_ms) {
		uint64_t elapsed = now_ms - s->last_ms;

		if (elapsed > full)
			elapsed = full;
		tokens += elapsed * l->rate_per_s;
		if (tokens > full)
			tokens = full;
		s->last_ms = now_ms;
	}
	s->tokens_milli = (uint32_t)tokens;
}

bool auth_limiter_allow(struct auth_limiter *l, const union addr *src, uint64_t now_ms)
{
	uint64_t h = auth_limiter_hash(l, src);
	struct auth_limiter_slot *s = &l->slot[h % AUTH_LIMITER_SLOTS];

	/* A source we do not track has a full bucket; only failures claim
	 * a slot, so asking does not evict anybody. */
	if (s->ip_hash != h)
		return true;
	auth_limiter_refill(l, s, now_ms);
	return s->tokens_milli >= 1000;
}

void auth_limiter_fail(struct auth_limiter *l, const union addr *src, uint64_t now_ms)
{
	uint64_t h = auth_limiter_hash(l, src);
	struct auth_limiter_slot *s = &l->slot[h % AUTH_LIMITER_SLOTS];

	if (s->ip_hash != h) {
		s->ip_hash = h;
		s->last_ms = now_ms;
		s->tokens_milli = l->burst * 1000;
	} else {
		auth_limiter_refill(l, s, now_ms);
	}
	s->tokens_milli = s->tokens_milli >= 1000 ? s->tokens_milli - 1000 : 0;
}

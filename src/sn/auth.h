/* auth: who may allocate on this supernode and how much.
 *
 * - credentials: static users (--user NAME:PASS, long-term keys derived
 *   once at start-up) and time-limited shared-secret users
 *   (--auth-secret S, username "EXPIRY:user", RFC-less but the scheme
 *   coturn and WebRTC deployments use);
 * - quotas: allocations per user and in total, shared by all workers
 *   through lock-free atomic counters (no mutex on any path);
 * - failed-authentication rate limiting per source IP (per worker: each
 *   worker owns its limiter, so it needs no synchronisation).
 *
 * The auth object is built once before the workers start and is read-only
 * afterwards except for the atomic quota counters. */
#ifndef PARLEY_SN_AUTH_H
#define PARLEY_SN_AUTH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/addr.h"
#include "proto/cred.h"

struct auth;

/* Creates an empty authenticator for realm (copied). Returns NULL on
 * allocation failure. max_total / max_per_user: allocation quotas
 * (0 = unlimited). */
struct auth *auth_create(const char *realm, uint32_t max_total, uint32_t max_per_user);
void auth_destroy(struct auth *a);

/* Adds a static user from "NAME:PASS" (as given to --user). Returns 0,
 * -EINVAL for a malformed spec (no ':' or empty name or password, name
 * longer than 255 bytes) or -EEXIST for a duplicate name. Not thread-safe:
 * only before the workers start. */
int auth_add_user(struct auth *a, const char *spec);

/* Sets the shared secret for time-limited credentials (copied). */
int auth_set_secret(struct auth *a, const char *secret);

/* True when at least one user or a secret is configured. */
bool auth_has_credentials(const struct auth *a);

const char *auth_realm(const struct auth *a);

/* Finds the long-term key for username at Unix time now_s. Static users
 * first, then (with a secret configured) the shared-secret scheme.
 * Returns 0 and fills key; -ENOENT for an unknown user; -EKEYEXPIRED for a
 * shared-secret username whose expiry has passed; -EINVAL for a
 * shared-secret username without a valid expiry. Thread-safe (read-only). */
int auth_lookup_key(const struct auth *a, const char *username, size_t len,
		    uint64_t now_s, uint8_t key[CRED_KEY_LEN]);

/* A stable 64-bit identity of a username for quota accounting and for
 * checking that later requests on an allocation use the same user. */
uint64_t auth_user_id(const struct auth *a, const char *username, size_t len);

/* Takes one allocation from the total and the user's quota. Returns 0,
 * -EDQUOT when the user is at its quota (486), -ENOSPC when the server is
 * at its total (508). Lock-free; safe from any worker. */
int auth_quota_take(struct auth *a, uint64_t user_id);

/* Gives one back (an allocation ended). */
void auth_quota_give(struct auth *a, uint64_t user_id);

/* Allocations currently counted against the total. */
uint32_t auth_quota_total(const struct auth *a);

/* ---- failed-authentication limiter (one per worker) ------------------ */

#define AUTH_LIMITER_SLOTS 1024

struct auth_limiter_slot {
	uint64_t ip_hash;   /* which source this slot tracks (0 = empty) */
	uint64_t last_ms;   /* last refill */
	uint32_t tokens_milli; /* failures still allowed, in thousandths */
};

/* A token bucket per source IP in a direct-mapped table: a new source
 * that collides evicts the old one (an attacker can reset a victim's
 * bucket only by spending its own). */
struct auth_limiter {
	struct auth_limiter_slot slot[AUTH_LIMITER_SLOTS];
	uint32_t rate_per_s;   /* sustained failures per second allowed */
	uint32_t burst;        /* bucket size */
	uint64_t seed;         /* hash seed */
};

void auth_limiter_init(struct auth_limiter *l, uint32_t rate_per_s, uint32_t burst,
		       uint64_t seed);

/* True when src may still try (its bucket is not empty). */
bool auth_limiter_allow(struct auth_limiter *l, const union addr *src, uint64_t now_ms);

/* Records one failed authentication from src. */
void auth_limiter_fail(struct auth_limiter *l, const union addr *src, uint64_t now_ms);

#endif

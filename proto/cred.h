/* cred: STUN/TURN credentials and the secrets around them.
 *
 * - long-term credential keys (RFC 8489 §9.2.2): MD5(user:realm:pass);
 * - time-limited shared-secret credentials, the scheme coturn calls
 *   use-auth-secret ("TURN REST API"): username "EXPIRY:user" (EXPIRY in
 *   Unix seconds), password base64(HMAC-SHA1(secret, username));
 * - stateless nonces: an expiry and a MAC over (expiry, client IP) under a
 *   per-process key, so the server keeps no nonce table and a nonce
 *   cannot be reused from another address or after it expires.
 *
 * All MAC comparisons are constant time; secrets are wiped with
 * cred_wipe, which the compiler cannot remove. OpenSSL EVP underneath. */
#ifndef PARLEY_PROTO_CRED_H
#define PARLEY_PROTO_CRED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/addr.h"

#define CRED_KEY_LEN 16              /* MD5 long-term key */
#define CRED_SECRET_PASSWORD_LEN 28  /* base64 of a 20-byte HMAC-SHA1 */
#define CRED_NONCE_LEN 32            /* 8 hex expiry + 24 hex MAC */
#define CRED_NONCE_KEY_LEN 32

/* Long-term key = MD5(username ":" realm ":" password). The inputs are
 * taken as given (the caller has applied OpaqueString, which for the
 * ASCII names used here is the identity). Returns 0 or -EIO. */
int cred_longterm_key(const char *user, size_t user_len, const char *realm,
		      size_t realm_len, const char *pass, size_t pass_len,
		      uint8_t key[CRED_KEY_LEN]);

/* Password for a shared-secret username: base64(HMAC-SHA1(secret,
 * username)), NUL-terminated into out (at least
 * CRED_SECRET_PASSWORD_LEN + 1 bytes). Returns 0, -ENOSPC or -EIO. */
int cred_secret_password(const uint8_t *secret, size_t secret_len,
			 const char *username, size_t username_len, char *out,
			 size_t out_len);

/* Reads the expiry from a shared-secret username: the decimal digits
 * before the first sep (normally ':'), or the whole username when it has
 * no sep. Returns 0 and sets *expiry, or -EINVAL when there are no digits
 * or too many (more than 12). */
int cred_secret_expiry(const char *username, size_t username_len, char sep,
		       int64_t *expiry);

/* A per-process nonce key (fill it with RAND_bytes at start-up). */
struct cred_nonce_key {
	uint8_t key[CRED_NONCE_KEY_LEN];
};

/* Fills k with random bytes. Returns 0 or -EIO. */
int cred_nonce_key_init(struct cred_nonce_key *k);

/* Makes a nonce valid for ttl_s seconds from now_s for client's IP:
 * CRED_NONCE_LEN printable characters plus NUL into out. Returns 0,
 * -EINVAL (client not AF_INET/AF_INET6) or -EIO. */
int cred_nonce_make(const struct cred_nonce_key *k, const union addr *client,
		    uint64_t now_s, uint32_t ttl_s, char out[CRED_NONCE_LEN + 1]);

/* Checks a nonce a client sent back. Returns 0 when it is ours, for this
 * client IP and not expired; -ESTALE when it was ours but has expired
 * (answer 438 Stale Nonce); -EINVAL otherwise (wrong length, not ours,
 * other client: also answered 438 so a client just retries with a fresh
 * one, RFC 8489 §9.2.4). */
int cred_nonce_check(const struct cred_nonce_key *k, const union addr *client,
		     uint64_t now_s, const uint8_t *nonce, size_t len);

/* Constant-time equality of two byte strings of the same length. */
bool cred_equal(const void *a, const void *b, size_t len);

/* Wipes len bytes at p in a way the compiler cannot optimise away. */
void cred_wipe(void *p, size_t len);

/* Standard base64 (RFC 4648, with padding) of in into out (NUL
 * terminated). Returns the encoded length or -ENOSPC. */
int cred_base64(const uint8_t *in, size_t in_len, char *out, size_t out_len);

#endif

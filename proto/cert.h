/* cert: the user certificate the login server issues, and the device
 * login challenge.
 *
 * A certificate binds a user name to a device's Ed25519 public key for a
 * limited time, signed by the login server's Ed25519 key (the issuer).
 * Supernodes and peers verify it offline with the issuer's public key
 * alone: the login server is never on the call path.
 *
 * Signed messages are domain separated, so no signature made for one
 * purpose can be replayed as another:
 *   certificate: "parley-cert-v1"            || encoded body
 *   challenge:   "parley-login-challenge-v1" || nonce || user_len || user
 * (tags without a NUL; neither tag is a prefix of the other, and a new tag
 * must keep that property). The wire format is drawn next to cert_decode
 * in cert.c. Pure functions over caller memory; OpenSSL EVP underneath
 * (see proto/sig.h). */
#ifndef PARLEY_PROTO_CERT_H
#define PARLEY_PROTO_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/sig.h"

#define CERT_VERSION       1
#define CERT_USER_MAX      64  /* bytes of user name */
#define CERT_ISSUER_ID_LEN 8   /* first bytes of SHA-256(issuer public key) */
#define CERT_NONCE_LEN     32  /* login challenge nonce */
#define CERT_CLOCK_SKEW_S  300 /* how far in the future "issued" may be */

/* Encoded sizes: version, user length, user, device key, issued,
 * expires, issuer id, signature. */
#define CERT_FIXED_LEN (1 + 1 + SIG_PUB_LEN + 8 + 8 + CERT_ISSUER_ID_LEN + SIG_LEN)
#define CERT_MIN_LEN   (CERT_FIXED_LEN + 1)
#define CERT_MAX_LEN   (CERT_FIXED_LEN + CERT_USER_MAX) /* 186 */

struct cert {
	uint8_t version;                       /* CERT_VERSION */
	uint8_t user_len;                      /* 1..CERT_USER_MAX */
	char user[CERT_USER_MAX + 1];          /* user_len bytes, see cert_user_valid,
	                                        * then a NUL */
	uint8_t device_key[SIG_PUB_LEN];       /* the device's Ed25519 public key */
	uint64_t issued;                       /* Unix seconds */
	uint64_t expires;                      /* Unix seconds, > issued; the
	                                        * certificate is dead from here on */
	uint8_t issuer_id[CERT_ISSUER_ID_LEN]; /* cert_issuer_id of the signer */
	uint8_t sig[SIG_LEN];                  /* issuer's Ed25519 signature over
	                                        * "parley-cert-v1" || body */
};

/* True when the len bytes at name are a valid user name: 1..CERT_USER_MAX
 * bytes of [a-z0-9._-], the first a letter or a digit (so no name is ".",
 * "..", hidden or an option). name need not be NUL-terminated; a NUL
 * inside the len bytes makes the name invalid. */
bool cert_user_valid(const char *name, size_t len);

/* Fills c with a version-1 certificate for user (user_len bytes, not
 * necessarily NUL-terminated) and device_key, valid from issued until
 * issued + lifetime_s, and signs it with issuer_seed (the login server's
 * key; only read). Returns 0; -EINVAL when the user name is invalid,
 * lifetime_s is 0 or issued + lifetime_s overflows; -EIO when OpenSSL
 * fails. c is fully written (zeroed first) either way. */
int cert_issue(struct cert *c, const char *user, size_t user_len,
               const uint8_t device_key[SIG_PUB_LEN], uint64_t issued, uint64_t lifetime_s,
               const uint8_t issuer_seed[SIG_SEED_LEN]);

/* Encodes c (wire format in cert.c) into buf. Returns the number of bytes
 * written (CERT_MIN_LEN..CERT_MAX_LEN); -ENOSPC when cap is too small
 * (CERT_MAX_LEN always suffices); -EINVAL when c is malformed (version,
 * user name, user not NUL-terminated at user_len, expires <= issued). */
int cert_encode(const struct cert *c, uint8_t *buf, size_t cap);

/* Decodes exactly len bytes at buf (untrusted) into out. Checks the form
 * only -- version, every length, the user name, expires > issued -- not
 * the signature or the time: call cert_verify next. Returns 0, or -EINVAL
 * for anything malformed, truncated or followed by trailing bytes (out is
 * then untouched). Pure: no allocation, no I/O. */
int cert_decode(const uint8_t *buf, size_t len, struct cert *out);

/* Checks c against the issuer's public key at time now (Unix seconds).
 * The signature is checked before the times, so a forged certificate
 * never learns whether its times would have passed. Returns
 *   0             valid;
 *   -EINVAL       c is malformed (as for cert_encode), or issued is more
 *                 than CERT_CLOCK_SKEW_S after now;
 *   -EBADMSG      issuer_id is not this issuer's, or the signature is bad;
 *   -EKEYEXPIRED  now >= expires;
 *   -EIO          OpenSSL failed. */
int cert_verify(const struct cert *c, const uint8_t issuer_pub[SIG_PUB_LEN], uint64_t now);

/* The key id of an issuer: the first CERT_ISSUER_ID_LEN bytes of
 * SHA-256(issuer_pub), into id. It names the key (for rotation); it is
 * not a security check, the signature is. Returns 0 or -EIO. */
int cert_issuer_id(const uint8_t issuer_pub[SIG_PUB_LEN], uint8_t id[CERT_ISSUER_ID_LEN]);

/* Device login: the device proves it holds device_seed by signing the
 * login server's fresh nonce and the user name it logs in as:
 * "parley-login-challenge-v1" || nonce || user_len (1 byte) || user.
 * Returns 0; -EINVAL when the user name is invalid; -EIO when OpenSSL
 * fails. */
int cert_challenge_sign(const uint8_t device_seed[SIG_SEED_LEN],
                        const uint8_t nonce[CERT_NONCE_LEN], const char *user, size_t user_len,
                        uint8_t sig[SIG_LEN]);

/* True when sig is device_pub's challenge signature over nonce and user;
 * false otherwise, including for an invalid user name. The caller makes
 * the nonce (RAND_bytes) and accepts it once. */
bool cert_challenge_verify(const uint8_t device_pub[SIG_PUB_LEN],
                           const uint8_t nonce[CERT_NONCE_LEN], const char *user, size_t user_len,
                           const uint8_t sig[SIG_LEN]);

#endif

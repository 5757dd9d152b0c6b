/* cert: user certificates and the device login challenge. See cert.h for
 * the contract. */
#include "proto/cert.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "proto/cred.h"
#include "proto/wire.h"

/* Domain tags, without their NUL (see cert.h). */
static const char cert_tag[] = "parley-cert-v1";
static const char challenge_tag[] = "parley-login-challenge-v1";

#define CERT_TAG_LEN      (sizeof(cert_tag) - 1)
#define CHALLENGE_TAG_LEN (sizeof(challenge_tag) - 1)
#define CERT_BODY_MAX     (CERT_MAX_LEN - SIG_LEN)

/* Offsets after the user name, relative to its end (2 + user_len). */
#define OFF_DEVICE_KEY 0
#define OFF_ISSUED     (OFF_DEVICE_KEY + SIG_PUB_LEN)
#define OFF_EXPIRES    (OFF_ISSUED + 8)
#define OFF_ISSUER_ID  (OFF_EXPIRES + 8)
#define OFF_SIG        (OFF_ISSUER_ID + CERT_ISSUER_ID_LEN)

/* ------------------------------------------------------------------ */
/* User names                                                          */
/* ------------------------------------------------------------------ */

static bool user_first_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool cert_user_valid(const char *name, size_t len)
{
	if (name == NULL || len == 0 || len > CERT_USER_MAX || !user_first_ok(name[0]))
		return false;
	for (size_t i = 1; i < len; i++) {
		char c = name[i];

		if (!user_first_ok(c) && c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* Wire format                                                         */
/* ------------------------------------------------------------------ */

/* A certificate on the wire (all integers big-endian, fields back to
 * back with no padding, so rows after User are aligned only when User Len
 * is 2 mod 4):
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Version = 1  |   User Len    |  User (1..64 bytes)         ...
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * |             Device Key (32 bytes, Ed25519 public)             |
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                Issued (64 bits, Unix seconds)                 |
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                Expires (64 bits, Unix seconds)                |
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Issuer Key Id (8 bytes: SHA-256(issuer public key)[0..7])  |
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * |       Signature (64 bytes, Ed25519 by the issuer over         |
 * |       "parley-cert-v1" || every byte above)                   |
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * With n = User Len: Device Key at 2+n, Issued at 34+n, Expires at 42+n,
 * Issuer Key Id at 50+n, Signature at 58+n; total 122+n bytes
 * (CERT_MIN_LEN 123 .. CERT_MAX_LEN 186). The message has no length of
 * its own: the carrier frames it, and every byte of the frame must be
 * used. Each field has one encoding, so decode(encode(c)) == c and the
 * signature can be checked over a re-encoding of the decoded fields. */

/* The form cert_encode and cert_verify insist on. */
static bool cert_well_formed(const struct cert *c)
{
	return c->version == CERT_VERSION && cert_user_valid(c->user, c->user_len) &&
	       c->user[c->user_len] == '\0' && c->expires > c->issued;
}

/* Writes the signed part (everything but the signature) of a
 * well-formed c into buf: CERT_FIXED_LEN - SIG_LEN + user_len bytes, at
 * most CERT_BODY_MAX. Returns that length. */
static size_t body_encode(const struct cert *c, uint8_t *buf)
{
	uint8_t *p;

	buf[0] = c->version;
	buf[1] = c->user_len;
	memcpy(buf + 2, c->user, c->user_len);
	p = buf + 2 + c->user_len;
	memcpy(p + OFF_DEVICE_KEY, c->device_key, SIG_PUB_LEN);
	wire_put64(p + OFF_ISSUED, c->issued);
	wire_put64(p + OFF_EXPIRES, c->expires);
	memcpy(p + OFF_ISSUER_ID, c->issuer_id, CERT_ISSUER_ID_LEN);
	return (size_t)(p + OFF_SIG - buf);
}

int cert_encode(const struct cert *c, uint8_t *buf, size_t cap)
{
	size_t n;

	if (!cert_well_formed(c))
		return -EINVAL;
	if (cap < (size_t)CERT_FIXED_LEN + c->user_len)
		return -ENOSPC;
	n = body_encode(c, buf);
	memcpy(buf + n, c->sig, SIG_LEN);
	return (int)(n + SIG_LEN);
}

int cert_decode(const uint8_t *buf, size_t len, struct cert *out)
{
	struct cert c;
	const uint8_t *p;
	size_t n;

	/* The minimum covers buf[0] and buf[1]; after that the exact total
	 * is known and every offset below is inside it. */
	if (buf == NULL || len < CERT_MIN_LEN || buf[0] != CERT_VERSION)
		return -EINVAL;
	n = buf[1];
	if (n == 0 || n > CERT_USER_MAX || len != CERT_FIXED_LEN + n ||
	    !cert_user_valid((const char *)buf + 2, n))
		return -EINVAL;

	memset(&c, 0, sizeof(c));
	c.version = buf[0];
	c.user_len = (uint8_t)n;
	memcpy(c.user, buf + 2, n); /* NUL from the memset */
	p = buf + 2 + n;
	memcpy(c.device_key, p + OFF_DEVICE_KEY, SIG_PUB_LEN);
	c.issued = wire_get64(p + OFF_ISSUED);
	c.expires = wire_get64(p + OFF_EXPIRES);
	memcpy(c.issuer_id, p + OFF_ISSUER_ID, CERT_ISSUER_ID_LEN);
	memcpy(c.sig, p + OFF_SIG, SIG_LEN);
	/* Never valid at any time: malformed, not merely expired. */
	if (c.expires <= c.issued)
		return -EINVAL;
	*out = c;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Issuing and verifying                                               */
/* ------------------------------------------------------------------ */

int cert_issuer_id(const uint8_t issuer_pub[SIG_PUB_LEN], uint8_t id[CERT_ISSUER_ID_LEN])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_Digest(issuer_pub, SIG_PUB_LEN, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return -EIO;
	memcpy(id, md, CERT_ISSUER_ID_LEN);
	return 0;
}

/* "parley-cert-v1" || body of a well-formed c into msg (CERT_TAG_LEN +
 * CERT_BODY_MAX bytes). Returns its length. */
static size_t cert_signed_msg(const struct cert *c, uint8_t *msg)
{
	memcpy(msg, cert_tag, CERT_TAG_LEN);
	return CERT_TAG_LEN + body_encode(c, msg + CERT_TAG_LEN);
}

int cert_issue(struct cert *c, const char *user, size_t user_len,
               const uint8_t device_key[SIG_PUB_LEN], uint64_t issued, uint64_t lifetime_s,
               const uint8_t issuer_seed[SIG_SEED_LEN])
{
	uint8_t msg[CERT_TAG_LEN + CERT_BODY_MAX];
	uint8_t issuer_pub[SIG_PUB_LEN];
	int ret;

	memset(c, 0, sizeof(*c));
	if (!cert_user_valid(user, user_len) || lifetime_s == 0 || issued + lifetime_s < issued)
		return -EINVAL;
	c->version = CERT_VERSION;
	c->user_len = (uint8_t)user_len;
	memcpy(c->user, user, user_len);
	memcpy(c->device_key, device_key, SIG_PUB_LEN);
	c->issued = issued;
	c->expires = issued + lifetime_s;

	ret = sig_pub_from_seed(issuer_seed, issuer_pub);
	if (ret == 0)
		ret = cert_issuer_id(issuer_pub, c->issuer_id);
	if (ret == 0)
		ret = sig_sign(issuer_seed, msg, cert_signed_msg(c, msg), c->sig);
	return ret;
}

int cert_verify(const struct cert *c, const uint8_t issuer_pub[SIG_PUB_LEN], uint64_t now)
{
	uint8_t msg[CERT_TAG_LEN + CERT_BODY_MAX];
	uint8_t id[CERT_ISSUER_ID_LEN];
	int ret;

	if (!cert_well_formed(c))
		return -EINVAL;
	ret = cert_issuer_id(issuer_pub, id);
	if (ret < 0)
		return ret;
	if (!cred_equal(id, c->issuer_id, sizeof(id)) ||
	    !sig_verify(issuer_pub, msg, cert_signed_msg(c, msg), c->sig))
		return -EBADMSG;
	if (now >= c->expires)
		return -EKEYEXPIRED;
	/* Written as a difference so now near UINT64_MAX cannot wrap. */
	if (c->issued > now && c->issued - now > CERT_CLOCK_SKEW_S)
		return -EINVAL;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Device login challenge                                              */
/* ------------------------------------------------------------------ */

/* "parley-login-challenge-v1" || nonce || user_len || user into msg.
 * user must be valid. Returns the length. */
static size_t challenge_msg(const uint8_t nonce[CERT_NONCE_LEN], const char *user, size_t user_len,
                            uint8_t *msg)
{
	memcpy(msg, challenge_tag, CHALLENGE_TAG_LEN);
	memcpy(msg + CHALLENGE_TAG_LEN, nonce, CERT_NONCE_LEN);
	msg[CHALLENGE_TAG_LEN + CERT_NONCE_LEN] = (uint8_t)user_len;
	memcpy(msg + CHALLENGE_TAG_LEN + CERT_NONCE_LEN + 1, user, user_len);
	return CHALLENGE_TAG_LEN + CERT_NONCE_LEN + 1 + user_len;
}

#define CHALLENGE_MAX (CHALLENGE_TAG_LEN + CERT_NONCE_LEN + 1 + CERT_USER_MAX)

int cert_challenge_sign(const uint8_t device_seed[SIG_SEED_LEN],
                        const uint8_t nonce[CERT_NONCE_LEN], const char *user, size_t user_len,
                        uint8_t sig[SIG_LEN])
{
	uint8_t msg[CHALLENGE_MAX];

	if (!cert_user_valid(user, user_len))
		return -EINVAL;
	return sig_sign(device_seed, msg, challenge_msg(nonce, user, user_len, msg), sig);
}

bool cert_challenge_verify(const uint8_t device_pub[SIG_PUB_LEN],
                           const uint8_t nonce[CERT_NONCE_LEN], const char *user, size_t user_len,
                           const uint8_t sig[SIG_LEN])
{
	uint8_t msg[CHALLENGE_MAX];

	if (!cert_user_valid(user, user_len))
		return false;
	return sig_verify(device_pub, msg, challenge_msg(nonce, user, user_len, msg), sig);
}

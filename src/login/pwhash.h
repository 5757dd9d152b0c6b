/* pwhash: password hashes, scrypt (RFC 7914) through OpenSSL's EVP_KDF,
 * kept as a self-describing string
 *
 *   scrypt$LN$R$P$<salt base64>$<hash base64>      (N = 2^LN)
 *
 * LN, R and P in decimal without leading zeros, salt and hash in padded
 * standard base64 (RFC 4648 §4) with zero unused bits. Every hash has
 * exactly one spelling, so a string that parses formats back to itself.
 * The cost travels with the hash: it is always checked with the
 * parameters in its own string, so the cost of new hashes can be raised
 * without invalidating old ones (pwhash_weaker says which to remake).
 *
 * Pure functions apart from pwhash_derive, which runs the KDF: no clock,
 * no randomness (the caller brings the salt), no allocation of ours.
 * Secrets derived here are wiped on failure; the caller wipes its own. */
#ifndef PARLEY_LOGIN_PWHASH_H
#define PARLEY_LOGIN_PWHASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#define PWHASH_SALT_LEN 16  /* salt of a new hash */
#define PWHASH_HASH_LEN 32  /* scrypt output of a new hash */
#define PWHASH_SALT_MAX 64  /* largest salt a stored hash may carry */
#define PWHASH_HASH_MIN 16  /* shortest scrypt output a stored hash may carry */
#define PWHASH_HASH_MAX 64  /* longest scrypt output a stored hash may carry */
#define PWHASH_STR_MAX  255 /* longest hash string, without NUL */

/* Largest scrypt memory a hash may ask for (OpenSSL's maxmem_bytes): a
 * stored string is refused beyond it rather than allocating at will. */
#define PWHASH_KDF_MAXMEM (1024ull * 1024 * 1024)

/* scrypt cost, RFC 7914 §2. Memory per hash is 128 * r * 2^ln bytes. */
struct pwhash_kdf {
	uint32_t ln; /* log2 of N, the CPU/memory cost: 1..30 */
	uint32_t r;  /* block size: 1..65536 */
	uint32_t p;  /* parallelisation: 1..65536, r * p < 2^30 */
};

/* A parsed password hash string. */
struct pwhash {
	struct pwhash_kdf kdf;         /* the parameters it was made with */
	size_t salt_len;               /* 1..PWHASH_SALT_MAX */
	size_t hash_len;               /* PWHASH_HASH_MIN..PWHASH_HASH_MAX */
	uint8_t salt[PWHASH_SALT_MAX]; /* salt_len bytes used */
	uint8_t hash[PWHASH_HASH_MAX]; /* hash_len bytes used: scrypt output */
};

/* True when k is within struct pwhash_kdf's ranges, the bounds OpenSSL's
 * scrypt enforces (r * p < 2^30, N < 2^(128 r / 8)) and
 * PWHASH_KDF_MAXMEM, so a valid k never fails inside the KDF for its
 * parameters. */
bool pwhash_kdf_valid(const struct pwhash_kdf *k);

/* Parses a hash string s[0..len) (no NUL needed, none read). Strict:
 * decimal without leading zeros, padded standard base64 with zero unused
 * bits, parameters valid for pwhash_kdf_valid, at most PWHASH_STR_MAX
 * bytes. Returns 0 and fills out, or -EINVAL (out is then zeroed or
 * partly filled, never to be used). */
int pwhash_parse(const char *s, size_t len, struct pwhash *out);

/* Writes h as a hash string into out (NUL-terminated). Returns the
 * length, -EINVAL when h is out of range, or -ENOSPC when out is too
 * small (PWHASH_STR_MAX + 1 bytes always suffice). */
int pwhash_format(const struct pwhash *h, char *out, size_t out_len);

/* scrypt(password, salt) with k into out[0..out_len). scrypt is the
 * caller's EVP_KDF_fetch(NULL, OSSL_KDF_NAME_SCRYPT, NULL) (fetching is
 * a provider lookup: do it once). pw may be NULL when pw_len is 0.
 * OpenSSL copies the password into its context and clears it on free.
 * Returns 0, -ENOMEM when no context could be allocated, or -EIO when
 * the derivation failed (out is then wiped). */
int pwhash_derive(EVP_KDF *scrypt, const struct pwhash_kdf *k, const uint8_t *salt, size_t salt_len,
                  const void *pw, size_t pw_len, uint8_t *out, size_t out_len);

/* Whether h is weaker than a new hash with k would be (k's cost,
 * PWHASH_SALT_LEN, PWHASH_HASH_LEN): less work, less memory, or a shorter
 * salt or output. Only upgrades, so lowered (test) parameters never
 * downgrade a hash, and two differently tuned servers cannot flip a hash
 * back and forth unless each is stronger in some respect. */
bool pwhash_weaker(const struct pwhash *h, const struct pwhash_kdf *k);

#endif

/* sig: Ed25519 keys and signatures (RFC 8032, "pure" Ed25519), the
 * login server's issuing key and every device key.
 *
 * A private key is kept as its 32-byte seed (RFC 8032 §5.1.5: the secret
 * that the expanded scalar and prefix are hashed from); the public key is
 * always derivable from it. Seeds are secrets: every buffer here that held
 * one is wiped with cred_wipe before it goes out of scope; the caller wipes
 * its own copies.
 *
 * A seed on disk is one line of 64 lower-case hex characters and a
 * newline, mode 0600, so an operator can inspect it and back it up with
 * ordinary tools. OpenSSL EVP underneath; no allocation beyond its
 * objects, which are freed on every path. All functions are reentrant. */
#ifndef PARLEY_PROTO_SIG_H
#define PARLEY_PROTO_SIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIG_PUB_LEN     32                /* Ed25519 public key (RFC 8032 §5.1.5) */
#define SIG_SEED_LEN    32                /* Ed25519 private key seed */
#define SIG_LEN         64                /* Ed25519 signature R || S (RFC 8032 §5.1.6) */
#define SIG_PUB_HEX_LEN (2 * SIG_PUB_LEN) /* without the NUL */

/* Makes a new key pair: a seed from RAND_bytes (OpenSSL's CSPRNG) and its
 * public key. Returns 0, or -EIO when the RNG or OpenSSL fails (seed and
 * pub are then wiped). */
int sig_keygen(uint8_t seed[SIG_SEED_LEN], uint8_t pub[SIG_PUB_LEN]);

/* Derives the public key of seed into pub. Returns 0 or -EIO. */
int sig_pub_from_seed(const uint8_t seed[SIG_SEED_LEN], uint8_t pub[SIG_PUB_LEN]);

/* Signs the len bytes at msg (msg may be NULL when len is 0) with seed:
 * a deterministic 64-byte signature into sig. Pure Ed25519 cannot be fed
 * in pieces, so a caller that signs a domain tag and a body joins them in
 * one buffer first. Returns 0, -EINVAL (msg NULL with len > 0) or -EIO
 * (sig is then wiped). */
int sig_sign(const uint8_t seed[SIG_SEED_LEN], const void *msg, size_t len, uint8_t sig[SIG_LEN]);

/* True when sig is pub's valid signature over the len bytes at msg (msg
 * may be NULL when len is 0). False for any other input, including a
 * public key that is not a curve point and a non-canonical S (OpenSSL
 * checks S < L), and when OpenSSL fails. */
bool sig_verify(const uint8_t pub[SIG_PUB_LEN], const void *msg, size_t len,
                const uint8_t sig[SIG_LEN]);

/* Writes seed to path as one line of 64 lower-case hex characters and a
 * newline, mode 0600. Atomic: the text goes to a temporary file in the
 * same directory (created 0600 from the start, so the secret is never
 * readable by others), which is fsynced and renamed over path, and the
 * directory is then fsynced so the rename survives a crash. An existing
 * file at path is replaced; a caller that must not overwrite a key checks
 * first. Returns 0; -ENAMETOOLONG; or the -errno of the failing call
 * (e.g. -EACCES, -ENOENT for a missing directory, -ENOSPC), in which case
 * no temporary file is left behind and path is unchanged -- except when
 * only the final directory fsync fails: the new file is then in place but
 * its rename may not survive a crash. */
int sig_seed_save(const char *path, const uint8_t seed[SIG_SEED_LEN]);

/* Reads a seed written by sig_seed_save. The file must be a regular file
 * that neither group nor others can read, write or execute (mode & 077 ==
 * 0, checked on the opened file, as ssh does for identity files) and must
 * hold exactly 64 hex characters (either case), optionally followed by one
 * newline. Returns 0 and fills seed; -ENOENT when the file is absent;
 * -EPERM when its mode is too open; -EINVAL when it is not a regular file
 * or its content is malformed; another -errno when open/read fail. On
 * any error seed is left zeroed. */
int sig_seed_load(const char *path, uint8_t seed[SIG_SEED_LEN]);

/* Formats pub as 64 lower-case hex characters and a NUL into out.
 * Returns 0. */
int sig_pub_hex(const uint8_t pub[SIG_PUB_LEN], char out[SIG_PUB_HEX_LEN + 1]);

/* Parses a NUL-terminated string of exactly 64 hex characters (either
 * case, nothing before or after) into pub. Returns 0 or -EINVAL (pub is
 * then unchanged). It does not check that the key is a curve point;
 * sig_verify refuses one that is not. */
int sig_pub_parse_hex(const char *s, uint8_t pub[SIG_PUB_LEN]);

#endif

/* libFuzzer target for src/login/pwhash: the parser the account store
 * applies to every stored hash string (a database file is input too: it
 * may be damaged, or written by someone else). Build:
 *   clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. \
 *         src/login/pwhash.c proto/cred.c proto/hex.c proto/addr.c \
 *         tests/fuzz/pwhash_fuzz.c -lcrypto
 * Crashes, sanitizer reports and the invariants asserted below are bugs.
 * libFuzzer hands over exactly size bytes with no NUL after them, so
 * AddressSanitizer catches any read past the end. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/login/pwhash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const struct pwhash *a, const struct pwhash *b)
{
	return a->kdf.ln == b->kdf.ln && a->kdf.r == b->kdf.r && a->kdf.p == b->kdf.p &&
	       a->salt_len == b->salt_len && a->hash_len == b->hash_len &&
	       memcmp(a->salt, b->salt, a->salt_len) == 0 &&
	       memcmp(a->hash, b->hash, a->hash_len) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	char out[PWHASH_STR_MAX + 1];
	struct pwhash h, again;
	int n;

	if (pwhash_parse(s, size, &h) != 0)
		return 0;

	/* What parses is in range. */
	if (size > PWHASH_STR_MAX || !pwhash_kdf_valid(&h.kdf) || h.salt_len < 1 ||
	    h.salt_len > PWHASH_SALT_MAX || h.hash_len < PWHASH_HASH_MIN ||
	    h.hash_len > PWHASH_HASH_MAX)
		abort();

	/* One spelling per hash: it formats back to the very same bytes,
	 * needing exactly size + 1 bytes of room. */
	n = pwhash_format(&h, out, sizeof(out));
	if (n < 0 || (size_t)n != size || memcmp(out, s, size) != 0 || out[n] != '\0')
		abort();
	if (pwhash_format(&h, out, size) != -ENOSPC || pwhash_format(&h, out, size + 1) != n)
		abort();

	/* And the formatted string parses to the same hash. */
	if (pwhash_parse(out, (size_t)n, &again) != 0 || !same(&h, &again))
		abort();

	/* The upgrade rule never calls a hash weaker than its own cost. */
	if (h.salt_len >= PWHASH_SALT_LEN && h.hash_len >= PWHASH_HASH_LEN &&
	    pwhash_weaker(&h, &h.kdf))
		abort();
	return 0;
}

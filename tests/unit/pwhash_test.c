/* Unit tests for src/login/pwhash: the hash string's parser and
 * formatter, the scrypt parameter rules, and the derivation against
 * RFC 7914 §12's second vector (P "password", S "NaCl", N 1024, r 8,
 * p 16, 64 bytes), cross-checked with `openssl kdf -keylen 64 -kdfopt
 * pass:password -kdfopt salt:NaCl -kdfopt n:1024 -kdfopt r:8 -kdfopt
 * p:16 SCRYPT` and Python's hashlib.scrypt. The store around the hashes
 * (re-hashing, the unknown-user dummy) is tests/unit/accounts_test.c. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/kdf.h>

#include "src/login/pwhash.h"

#define S(lit) (lit), (sizeof(lit) - 1)

/* The RFC 7914 §12 vector as a hash string. */
static const char rfc[] = "scrypt$10$8$16$TmFDbA==$/bq+HJ00cgB4VucZDQHp/nxq18vII3gw53N2Y0s3"
                          "MWIurzDZLiKjiG/xCSedmDDaxyevuUqD7m2DYMvfoswGQA==";

static EVP_KDF *scrypt;

static void setup(void)
{
	scrypt = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_SCRYPT, NULL);
	cr_assert_not_null(scrypt, "OpenSSL offers no SCRYPT KDF");
}

static void teardown(void)
{
	EVP_KDF_free(scrypt);
}

TestSuite(pwhash, .init = setup, .fini = teardown);

/* Parses a copy of s[0..len) in a buffer of exactly len bytes, so a
 * sanitizer build catches a read past the end (or a look for a NUL). */
static int parse_exact(const char *s, size_t len, struct pwhash *h)
{
	char *copy = malloc(len);
	int ret;

	cr_assert(copy != NULL || len == 0);
	if (len > 0)
		memcpy(copy, s, len);
	ret = pwhash_parse(copy, len, h);
	free(copy);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Parsing and formatting                                              */
/* ------------------------------------------------------------------ */

Test(pwhash, parse_rejects)
{
	static const char *const bad[] = {
	    "",
	    "scrypt",
	    "scrypt$",
	    "bcrypt$4$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "scrypt$0$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "scrypt$04$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "scrypt$31$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "scrypt$-4$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "scrypt$4$0$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "scrypt$4$8$0$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "scrypt$4$65537$1$AAAAAAAAAAAAAAAAAAAAAA==$"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "scrypt$4$99999999999999999999$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAA",
	    "scrypt$16$1$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "scrypt$20$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "scrypt$4$8$1$$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "scrypt$4$8$1$AAAAAAAAAAAAAAAAAAAAAA==$",
	    "scrypt$4$8$1$AAAAAAAAAAAAAAAAAAAAAA==",
	    "scrypt$4$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    "scrypt$4$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=",
	    "scrypt$4$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=AAAAAAAAAA=",
	    "scrypt$4$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=$",
	    "scrypt$4$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA A=",
	    "scrypt$4$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAA",
	    "scrypt$4$8$1$AAAAAAAAAAAAAAAAAAAAAA==$"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	    "AAAAAA",
	    "scrypt$4$8$1$AAAAAAAAAAAAAAAAAAAAAB==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "scrypt$4$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
	    " scrypt$4$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "scrypt$4$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA===",
	};
	static const char good[] =
	    "scrypt$4$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
	struct pwhash h;

	cr_assert_eq(parse_exact(S(good), &h), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(parse_exact(bad[i], strlen(bad[i]), &h), -EINVAL, "[%zu] %s", i,
		             bad[i]);
	/* Length is given, not found by NUL. */
	cr_expect_eq(parse_exact(good, sizeof(good) - 2, &h), -EINVAL);
	/* The ceilings themselves parse: ln 19 with r 8 fits 1 GiB. */
	cr_expect_eq(parse_exact(S("scrypt$19$8$1$AAAAAAAAAAAAAAAAAAAAAA==$"
	                           "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
	                         &h),
	             0);
	cr_expect_eq(parse_exact(S("scrypt$15$1$1$AA==$AAAAAAAAAAAAAAAAAAAAAA=="), &h), 0);
	cr_expect_eq(h.salt_len, 1);
	cr_expect_eq(h.hash_len, 16);
}

/* Strings that parse format back to themselves, byte for byte: the
 * parser accepts one spelling per hash. */
Test(pwhash, round_trip)
{
	static const char *const good[] = {
	    rfc,
	    "scrypt$4$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "scrypt$15$1$1$AA==$AAAAAAAAAAAAAAAAAAAAAA==",
	    "scrypt$1$65536$1$/w==$////////////////////////",
	    "scrypt$19$3$2$AQID$AAECAwQFBgcICQoLDA0ODw==",
	};
	char out[PWHASH_STR_MAX + 1];
	struct pwhash h, again;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		size_t len = strlen(good[i]);

		cr_assert_eq(parse_exact(good[i], len, &h), 0, "[%zu] %s", i, good[i]);
		cr_assert_eq(pwhash_format(&h, out, sizeof(out)), (int)len, "[%zu]", i);
		cr_expect_str_eq(out, good[i]);
		cr_assert_eq(parse_exact(out, len, &again), 0);
		cr_expect_eq(again.kdf.ln, h.kdf.ln);
		cr_expect_eq(again.kdf.r, h.kdf.r);
		cr_expect_eq(again.kdf.p, h.kdf.p);
		cr_expect_eq(again.salt_len, h.salt_len);
		cr_expect_eq(again.hash_len, h.hash_len);
		cr_expect_arr_eq(again.salt, h.salt, h.salt_len);
		cr_expect_arr_eq(again.hash, h.hash, h.hash_len);
	}
	cr_assert_eq(parse_exact(S(rfc), &h), 0);
	cr_expect_eq(h.kdf.ln, 10);
	cr_expect_eq(h.kdf.r, 8);
	cr_expect_eq(h.kdf.p, 16);
	cr_expect_eq(h.salt_len, 4);
	cr_expect_arr_eq(h.salt, "NaCl", 4);
	cr_expect_eq(h.hash_len, 64);
}

Test(pwhash, format_bounds)
{
	struct pwhash h = {.kdf = {.ln = 4, .r = 8, .p = 1}, .salt_len = 16, .hash_len = 32};
	char out[PWHASH_STR_MAX + 1];
	struct pwhash big;
	int n;

	memset(h.salt, 0xa5, sizeof(h.salt));
	memset(h.hash, 0x5a, sizeof(h.hash));
	n = pwhash_format(&h, out, sizeof(out));
	cr_assert_eq(n, 82, "%s", out); /* 13 + 24 (salt) + 1 + 44 (hash) */
	cr_expect_eq(pwhash_format(&h, out, (size_t)n + 1), n);
	cr_expect_eq(pwhash_format(&h, out, (size_t)n), -ENOSPC);
	cr_expect_eq(pwhash_format(&h, out, 0), -ENOSPC);

	/* The largest hash fits PWHASH_STR_MAX with room to spare. */
	big = h;
	big.kdf = (struct pwhash_kdf){.ln = 1, .r = 65536, .p = 124};
	big.salt_len = PWHASH_SALT_MAX;
	big.hash_len = PWHASH_HASH_MAX;
	n = pwhash_format(&big, out, sizeof(out));
	cr_expect_gt(n, 0);
	cr_expect_leq(n, PWHASH_STR_MAX);
	cr_expect_eq(parse_exact(out, (size_t)n, &big), 0, "%s", out);

	big = h;
	big.salt_len = 0;
	cr_expect_eq(pwhash_format(&big, out, sizeof(out)), -EINVAL);
	big.salt_len = PWHASH_SALT_MAX + 1;
	cr_expect_eq(pwhash_format(&big, out, sizeof(out)), -EINVAL);
	big = h;
	big.hash_len = PWHASH_HASH_MIN - 1;
	cr_expect_eq(pwhash_format(&big, out, sizeof(out)), -EINVAL);
	big.hash_len = PWHASH_HASH_MAX + 1;
	cr_expect_eq(pwhash_format(&big, out, sizeof(out)), -EINVAL);
	big = h;
	big.kdf.ln = 0;
	cr_expect_eq(pwhash_format(&big, out, sizeof(out)), -EINVAL);
}

/* ------------------------------------------------------------------ */
/* Parameters                                                          */
/* ------------------------------------------------------------------ */

static bool valid(uint32_t ln, uint32_t r, uint32_t p)
{
	struct pwhash_kdf k = {.ln = ln, .r = r, .p = p};

	return pwhash_kdf_valid(&k);
}

Test(pwhash, kdf_valid)
{
	cr_expect(valid(15, 8, 1)); /* the account store's default */
	cr_expect(valid(1, 1, 1));
	cr_expect(valid(19, 8, 1));     /* 512 MiB */
	cr_expect_not(valid(20, 8, 1)); /* 1 GiB and a bit */
	cr_expect_not(valid(0, 8, 1));
	cr_expect_not(valid(31, 8, 1));
	cr_expect_not(valid(4, 0, 1));
	cr_expect_not(valid(4, 8, 0));
	cr_expect_not(valid(4, 65537, 1));
	cr_expect_not(valid(4, 1, 65537));
	/* RFC 7914 §2: N < 2^(128 r / 8) */
	cr_expect(valid(15, 1, 1));
	cr_expect_not(valid(16, 1, 1));
	/* the memory ceiling: 128 r (N + 2 + p) <= 1 GiB */
	cr_expect(valid(21, 2, 1));
	cr_expect_not(valid(22, 2, 1));
	cr_expect_not(valid(30, 4, 1));
	/* r * p < 2^30 */
	cr_expect_not(valid(1, 65536, 16384));
	/* ... which counts p */
	cr_expect(valid(1, 65536, 124));
	cr_expect_not(valid(1, 65536, 125));
}

Test(pwhash, weaker)
{
	struct pwhash h = {.kdf = {.ln = 4, .r = 8, .p = 1},
	                   .salt_len = PWHASH_SALT_LEN,
	                   .hash_len = PWHASH_HASH_LEN};
	struct pwhash_kdf k = h.kdf;

	cr_expect_not(pwhash_weaker(&h, &k));
	k.ln = 5;
	cr_expect(pwhash_weaker(&h, &k));
	k.ln = 3;
	cr_expect_not(pwhash_weaker(&h, &k), "never downgraded");
	k = h.kdf;
	k.p = 2;
	cr_expect(pwhash_weaker(&h, &k), "less work");
	k = h.kdf;
	h.salt_len = PWHASH_SALT_LEN - 1;
	cr_expect(pwhash_weaker(&h, &k), "shorter salt");
	h.salt_len = PWHASH_SALT_MAX;
	h.hash_len = PWHASH_HASH_LEN - 1;
	cr_expect(pwhash_weaker(&h, &k), "shorter output");
	h.hash_len = PWHASH_HASH_MAX;
	cr_expect_not(pwhash_weaker(&h, &k), "longer salt and output are not weaker");

	/* Same work, different memory: the one with less memory is weaker,
	 * the other is not, so two servers cannot flip a hash back and forth
	 * on these two. */
	h.kdf = (struct pwhash_kdf){.ln = 5, .r = 8, .p = 1};
	k = (struct pwhash_kdf){.ln = 4, .r = 8, .p = 2};
	cr_expect_not(pwhash_weaker(&h, &k));
	h.kdf = (struct pwhash_kdf){.ln = 4, .r = 8, .p = 2};
	k = (struct pwhash_kdf){.ln = 5, .r = 8, .p = 1};
	cr_expect(pwhash_weaker(&h, &k));
}

/* ------------------------------------------------------------------ */
/* scrypt                                                              */
/* ------------------------------------------------------------------ */

Test(pwhash, derive_rfc7914_vector)
{
	uint8_t got[PWHASH_HASH_MAX];
	struct pwhash h;

	cr_assert_eq(pwhash_parse(S(rfc), &h), 0);
	cr_assert_eq(
	    pwhash_derive(scrypt, &h.kdf, h.salt, h.salt_len, S("password"), got, h.hash_len), 0);
	cr_expect_arr_eq(got, h.hash, h.hash_len);
	cr_assert_eq(
	    pwhash_derive(scrypt, &h.kdf, h.salt, h.salt_len, S("passwore"), got, h.hash_len), 0);
	cr_expect_arr_neq(got, h.hash, h.hash_len);
}

/* Passwords are bytes: NULL with length 0 is the empty password, and a
 * NUL inside counts. */
Test(pwhash, derive_password_bytes)
{
	static const struct pwhash_kdf k = {.ln = 4, .r = 8, .p = 1};
	static const uint8_t salt[PWHASH_SALT_LEN] = "0123456789abcde";
	uint8_t a[PWHASH_HASH_LEN], b[PWHASH_HASH_LEN];

	cr_assert_eq(pwhash_derive(scrypt, &k, salt, sizeof(salt), NULL, 0, a, sizeof(a)), 0);
	cr_assert_eq(pwhash_derive(scrypt, &k, salt, sizeof(salt), "", 0, b, sizeof(b)), 0);
	cr_expect_arr_eq(a, b, sizeof(a));
	cr_assert_eq(pwhash_derive(scrypt, &k, salt, sizeof(salt), S("abcd\0efgh"), a, sizeof(a)),
	             0);
	cr_assert_eq(pwhash_derive(scrypt, &k, salt, sizeof(salt), S("abcd"), b, sizeof(b)), 0);
	cr_expect_arr_neq(a, b, sizeof(a));
}

/* Parameters pwhash_kdf_valid refuses also fail inside OpenSSL (so the
 * check is no looser than the KDF), and the output is wiped. */
Test(pwhash, derive_failure_wipes)
{
	static const struct pwhash_kdf too_big = {.ln = 20, .r = 8, .p = 1};
	static const uint8_t salt[PWHASH_SALT_LEN] = "0123456789abcde";
	static const uint8_t zero[PWHASH_HASH_LEN];
	uint8_t out[PWHASH_HASH_LEN];

	cr_assert_not(pwhash_kdf_valid(&too_big));
	memset(out, 0xaa, sizeof(out));
	cr_expect_eq(
	    pwhash_derive(scrypt, &too_big, salt, sizeof(salt), S("password"), out, sizeof(out)),
	    -EIO);
	cr_expect_arr_eq(out, zero, sizeof(out));
}

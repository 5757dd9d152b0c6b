/* Unit tests for proto/cred. Known answers were computed independently
 * with the openssl command line (and cross-checked with Python's hmac):
 *   printf %s 'user:realm:pass' | openssl dgst -md5
 *   printf %s 1700000000:alice |
 *           openssl dgst -sha1 -hmac secret -binary | base64
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto/cred.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define S(lit) (lit), (sizeof(lit) - 1)

static void hex(const uint8_t *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
}

static union addr ip(const char *s)
{
	union addr a;

	cr_assert_eq(addr_parse(s, 0, &a), 0, "%s", s);
	return a;
}

static struct cred_nonce_key test_key(void)
{
	struct cred_nonce_key k;

	for (size_t i = 0; i < sizeof(k.key); i++)
		k.key[i] = (uint8_t)(i * 7 + 1);
	return k;
}

/* ------------------------------------------------------------------ */
/* Long-term and shared-secret credentials                             */
/* ------------------------------------------------------------------ */

Test(cred, longterm_key_known_answer)
{
	uint8_t key[CRED_KEY_LEN];
	char h[2 * CRED_KEY_LEN + 1];

	cr_assert_eq(cred_longterm_key(S("user"), S("realm"), S("pass"), key), 0);
	hex(key, sizeof(key), h);
	cr_expect_str_eq(h, "8493fbc53ba582fb4c044c456bdc40eb");
}

Test(cred, longterm_key_rfc5769_inputs)
{
	/* RFC 5769 §2.4: username U+30DE U+30C8 U+30EA U+30C3 U+30AF U+30B9
	 * in UTF-8, realm "example.org", password "TheMatrIX" after
	 * SASLprep. */
	static const char user[] = "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa"
				   "\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";
	uint8_t key[CRED_KEY_LEN];
	char h[2 * CRED_KEY_LEN + 1];

	cr_assert_eq(cred_longterm_key(S(user), S("example.org"),
				       S("TheMatrIX"), key), 0);
	hex(key, sizeof(key), h);
	cr_expect_str_eq(h, "e8ca7ad59d5eb0518e312911d2dab2a9");
}

Test(cred, longterm_key_uses_lengths_not_nul)
{
	uint8_t a[CRED_KEY_LEN], b[CRED_KEY_LEN];

	/* Only the first 4 bytes of each buffer count. */
	cr_assert_eq(cred_longterm_key("userXX", 4, "realmYY", 5, "passZZ", 4, a), 0);
	cr_assert_eq(cred_longterm_key(S("user"), S("realm"), S("pass"), b), 0);
	cr_expect(cred_equal(a, b, sizeof(a)));
}

Test(cred, secret_password_known_answer)
{
	static const uint8_t secret[] = "secret";
	char out[CRED_SECRET_PASSWORD_LEN + 1];

	cr_assert_eq(cred_secret_password(secret, 6, S("1700000000:alice"),
					  out, sizeof(out)), 0);
	cr_expect_str_eq(out, "d8soP47RbdIKLDUOpnJPVQyq5Ts=");
	cr_expect_eq(strlen(out), CRED_SECRET_PASSWORD_LEN);
}

Test(cred, secret_password_empty_secret)
{
	char out[CRED_SECRET_PASSWORD_LEN + 1];

	/* printf %s 1700000000:alice | openssl dgst -sha1 -hmac '' -binary | base64 */
	cr_assert_eq(cred_secret_password((const uint8_t *)"", 0,
					  S("1700000000:alice"), out,
					  sizeof(out)), 0);
	cr_expect_str_eq(out, "rqBBD+hnu5lsggfwzdJtEMIA/sc=");
}

Test(cred, secret_password_short_buffer)
{
	char out[CRED_SECRET_PASSWORD_LEN + 1];

	memset(out, 'x', sizeof(out));
	cr_expect_eq(cred_secret_password((const uint8_t *)"secret", 6,
					  S("1700000000:alice"), out,
					  CRED_SECRET_PASSWORD_LEN), -ENOSPC);
	cr_expect_eq(out[0], 'x', "nothing written on -ENOSPC");
}

Test(cred, secret_expiry)
{
	static const struct {
		const char *user;
		char sep;
		int ret;
		int64_t expiry;
	} cases[] = {
		{ "1700000000:alice", ':', 0, 1700000000 },
		{ "1700000000", ':', 0, 1700000000 },
		{ "0:bob", ':', 0, 0 },
		{ "000000000042:x", ':', 0, 42 },
		{ "999999999999:x", ':', 0, 999999999999 },
		{ "1700000000:alice:extra", ':', 0, 1700000000 },
		{ "1700000000-alice", '-', 0, 1700000000 },
		{ "1700000000:alice", '-', -EINVAL, 0 },
		{ "1000000000000:x", ':', -EINVAL, 0 },
		{ "1000000000000", ':', -EINVAL, 0 },
		{ "", ':', -EINVAL, 0 },
		{ ":alice", ':', -EINVAL, 0 },
		{ "alice", ':', -EINVAL, 0 },
		{ "alice:1700000000", ':', -EINVAL, 0 },
		{ "17000x0000:alice", ':', -EINVAL, 0 },
		{ "+1700000000:alice", ':', -EINVAL, 0 },
		{ "-1:alice", ':', -EINVAL, 0 },
		{ " 1700000000:alice", ':', -EINVAL, 0 },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		int64_t e = -7;
		int ret = cred_secret_expiry(cases[i].user,
					     strlen(cases[i].user),
					     cases[i].sep, &e);

		cr_expect_eq(ret, cases[i].ret, "\"%s\": %d", cases[i].user, ret);
		if (ret == 0)
			cr_expect_eq(e, cases[i].expiry, "\"%s\"", cases[i].user);
		else
			cr_expect_eq(e, -7, "\"%s\": expiry touched", cases[i].user);
	}
}

Test(cred, secret_expiry_uses_length)
{
	int64_t e = 0;

	cr_assert_eq(cred_secret_expiry("123456", 3, ':', &e), 0);
	cr_expect_eq(e, 123);
}

/* ------------------------------------------------------------------ */
/* Nonces                                                              */
/* ------------------------------------------------------------------ */

Test(cred, nonce_round_trip)
{
	struct cred_nonce_key k = test_key();
	union addr c4 = ip("198.51.100.9:40000");
	union addr c6 = ip("[2001:db8::9]:40000");
	char n4[CRED_NONCE_LEN + 1], n6[CRED_NONCE_LEN + 1];

	cr_assert_eq(cred_nonce_make(&k, &c4, 1700000000, 600, n4), 0);
	cr_assert_eq(cred_nonce_make(&k, &c6, 1700000000, 600, n6), 0);
	cr_expect_eq(strlen(n4), CRED_NONCE_LEN);
	for (size_t i = 0; i < CRED_NONCE_LEN; i++)
		cr_expect(strchr("0123456789abcdef", n4[i]) != NULL, "%s", n4);
	/* The expiry is readable in the first 8 characters. */
	cr_expect_eq(strncmp(n4, "6553f358", 8), 0, "%s", n4); /* 1700000600 */

	cr_expect_eq(cred_nonce_check(&k, &c4, 1700000000,
				      (const uint8_t *)n4, CRED_NONCE_LEN), 0);
	cr_expect_eq(cred_nonce_check(&k, &c4, 1700000600,
				      (const uint8_t *)n4, CRED_NONCE_LEN), 0,
		     "still valid at the expiry second");
	cr_expect_eq(cred_nonce_check(&k, &c6, 1700000000,
				      (const uint8_t *)n6, CRED_NONCE_LEN), 0);
	cr_expect_eq(cred_nonce_check(&k, &c6, 1700000000,
				      (const uint8_t *)n4, CRED_NONCE_LEN), -EINVAL);
}

Test(cred, nonce_binds_ip_not_port)
{
	struct cred_nonce_key k = test_key();
	union addr c = ip("198.51.100.9:40000");
	union addr other_port = ip("198.51.100.9:40001");
	union addr other_ip = ip("198.51.100.10:40000");
	union addr mapped = ip("[::ffff:198.51.100.9]:1");
	union addr v6 = ip("[2001:db8::9]:40000");
	char n[CRED_NONCE_LEN + 1];

	cr_assert_eq(cred_nonce_make(&k, &c, 1000, 60, n), 0);
	cr_expect_eq(cred_nonce_check(&k, &other_port, 1000,
				      (const uint8_t *)n, CRED_NONCE_LEN), 0);
	cr_expect_eq(cred_nonce_check(&k, &mapped, 1000,
				      (const uint8_t *)n, CRED_NONCE_LEN), 0,
		     "v4-mapped is the same client IP");
	cr_expect_eq(cred_nonce_check(&k, &other_ip, 1000,
				      (const uint8_t *)n, CRED_NONCE_LEN), -EINVAL);
	cr_expect_eq(cred_nonce_check(&k, &v6, 1000,
				      (const uint8_t *)n, CRED_NONCE_LEN), -EINVAL);
}

Test(cred, nonce_other_key_rejected)
{
	struct cred_nonce_key k = test_key(), k2 = test_key();
	union addr c = ip("192.0.2.1");
	char n[CRED_NONCE_LEN + 1];

	k2.key[31] ^= 1;
	cr_assert_eq(cred_nonce_make(&k, &c, 1000, 60, n), 0);
	cr_expect_eq(cred_nonce_check(&k2, &c, 1000, (const uint8_t *)n,
				      CRED_NONCE_LEN), -EINVAL);
}

Test(cred, nonce_tampered_rejected)
{
	struct cred_nonce_key k = test_key();
	union addr c = ip("192.0.2.1");
	char n[CRED_NONCE_LEN + 1], t[CRED_NONCE_LEN + 1];

	cr_assert_eq(cred_nonce_make(&k, &c, 1000, 60, n), 0);
	for (size_t i = 0; i < CRED_NONCE_LEN; i++) {
		memcpy(t, n, sizeof(t));
		t[i] = t[i] == '0' ? '1' : '0';
		cr_expect_eq(cred_nonce_check(&k, &c, 1000, (const uint8_t *)t,
					      CRED_NONCE_LEN), -EINVAL,
			     "flipped char %zu: %s", i, t);
	}

	/* Pushing the expiry out, even into the past, breaks the MAC:
	 * a forged nonce never earns -ESTALE. */
	memcpy(t, n, sizeof(t));
	memcpy(t, "ffffffff", 8);
	cr_expect_eq(cred_nonce_check(&k, &c, 1000, (const uint8_t *)t,
				      CRED_NONCE_LEN), -EINVAL);
	memcpy(t, "00000001", 8);
	cr_expect_eq(cred_nonce_check(&k, &c, 1000, (const uint8_t *)t,
				      CRED_NONCE_LEN), -EINVAL);

	/* Upper case and non-hex are not ours either. */
	for (size_t i = 0; i < CRED_NONCE_LEN; i++) {
		memcpy(t, n, sizeof(t));
		if (t[i] >= 'a' && t[i] <= 'f') {
			t[i] = (char)(t[i] - 'a' + 'A');
			cr_expect_eq(cred_nonce_check(&k, &c, 1000,
						      (const uint8_t *)t,
						      CRED_NONCE_LEN), -EINVAL);
		}
		t[i] = 'g';
		cr_expect_eq(cred_nonce_check(&k, &c, 1000, (const uint8_t *)t,
					      CRED_NONCE_LEN), -EINVAL);
		t[i] = '\0';
		cr_expect_eq(cred_nonce_check(&k, &c, 1000, (const uint8_t *)t,
					      CRED_NONCE_LEN), -EINVAL);
	}
}

Test(cred, nonce_expired_is_stale)
{
	struct cred_nonce_key k = test_key();
	union addr c = ip("[2001:db8::1]:9");
	char n[CRED_NONCE_LEN + 1];

	cr_assert_eq(cred_nonce_make(&k, &c, 1000, 60, n), 0);
	cr_expect_eq(cred_nonce_check(&k, &c, 1060, (const uint8_t *)n,
				      CRED_NONCE_LEN), 0);
	cr_expect_eq(cred_nonce_check(&k, &c, 1061, (const uint8_t *)n,
				      CRED_NONCE_LEN), -ESTALE);
	cr_expect_eq(cred_nonce_check(&k, &c, UINT64_MAX, (const uint8_t *)n,
				      CRED_NONCE_LEN), -ESTALE);

	/* ttl 0: valid this second only. */
	cr_assert_eq(cred_nonce_make(&k, &c, 5000, 0, n), 0);
	cr_expect_eq(cred_nonce_check(&k, &c, 5000, (const uint8_t *)n,
				      CRED_NONCE_LEN), 0);
	cr_expect_eq(cred_nonce_check(&k, &c, 5001, (const uint8_t *)n,
				      CRED_NONCE_LEN), -ESTALE);
}

Test(cred, nonce_expiry_saturates)
{
	struct cred_nonce_key k = test_key();
	union addr c = ip("192.0.2.1");
	char n[CRED_NONCE_LEN + 1];

	cr_assert_eq(cred_nonce_make(&k, &c, 0xfffffff0ull, 0x100, n), 0);
	cr_expect_eq(strncmp(n, "ffffffff", 8), 0, "%s", n);
	cr_expect_eq(cred_nonce_check(&k, &c, 0xfffffff0ull, (const uint8_t *)n,
				      CRED_NONCE_LEN), 0);
	cr_assert_eq(cred_nonce_make(&k, &c, UINT64_MAX, 1, n), 0);
	cr_expect_eq(strncmp(n, "ffffffff", 8), 0, "%s", n);
}

Test(cred, nonce_wrong_length)
{
	struct cred_nonce_key k = test_key();
	union addr c = ip("192.0.2.1");
	char n[CRED_NONCE_LEN + 2];

	cr_assert_eq(cred_nonce_make(&k, &c, 1000, 60, n), 0);
	cr_expect_eq(cred_nonce_check(&k, &c, 1000, (const uint8_t *)n,
				      CRED_NONCE_LEN - 1), -EINVAL);
	n[CRED_NONCE_LEN] = '0';
	n[CRED_NONCE_LEN + 1] = '\0';
	cr_expect_eq(cred_nonce_check(&k, &c, 1000, (const uint8_t *)n,
				      CRED_NONCE_LEN + 1), -EINVAL);
	cr_expect_eq(cred_nonce_check(&k, &c, 1000, (const uint8_t *)n, 0),
		     -EINVAL);
	cr_expect_eq(cred_nonce_check(&k, &c, 1000, NULL, CRED_NONCE_LEN),
		     -EINVAL);
}

Test(cred, nonce_unknown_family)
{
	struct cred_nonce_key k = test_key();
	union addr c;
	char n[CRED_NONCE_LEN + 1];

	memset(&c, 0, sizeof(c));
	cr_expect_eq(cred_nonce_make(&k, &c, 1000, 60, n), -EINVAL);
	cr_expect_eq(cred_nonce_check(&k, &c, 1000,
				      (const uint8_t *)"00000000000000000000000000000000",
				      CRED_NONCE_LEN), -EINVAL);
}

Test(cred, nonce_key_init_is_random)
{
	struct cred_nonce_key a, b;

	cr_assert_eq(cred_nonce_key_init(&a), 0);
	cr_assert_eq(cred_nonce_key_init(&b), 0);
	cr_expect_not(cred_equal(a.key, b.key, sizeof(a.key)));
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

Test(cred, equal_and_wipe)
{
	uint8_t a[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint8_t b[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	static const uint8_t zero[8];

	cr_expect(cred_equal(a, b, sizeof(a)));
	cr_expect(cred_equal(a, b, 0));
	b[7] ^= 0x80;
	cr_expect_not(cred_equal(a, b, sizeof(a)));
	cr_expect(cred_equal(a, b, 7));

	cred_wipe(a, sizeof(a));
	cr_expect_eq(memcmp(a, zero, sizeof(a)), 0);
}

Test(cred, base64_known_answers)
{
	/* RFC 4648 §10 test vectors, plus bytes that need '/' and '+'. */
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} cases[] = {
		{ "", 0, "" },
		{ "f", 1, "Zg==" },
		{ "fo", 2, "Zm8=" },
		{ "foo", 3, "Zm9v" },
		{ "foob", 4, "Zm9vYg==" },
		{ "fooba", 5, "Zm9vYmE=" },
		{ "foobar", 6, "Zm9vYmFy" },
		{ "\x00\xff\xfe", 3, "AP/+" },
	};
	char out[16];

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		int ret = cred_base64((const uint8_t *)cases[i].in,
				      cases[i].len, out, sizeof(out));

		cr_expect_eq(ret, (int)strlen(cases[i].out), "%s", cases[i].out);
		cr_expect_str_eq(out, cases[i].out);
	}
}

Test(cred, base64_nospc)
{
	char out[9];

	/* "foobar" needs 8 characters and a NUL. */
	cr_expect_eq(cred_base64((const uint8_t *)"foobar", 6, out, 8), -ENOSPC);
	cr_expect_eq(cred_base64((const uint8_t *)"foobar", 6, out, 9), 8);
	cr_expect_str_eq(out, "Zm9vYmFy");
	cr_expect_eq(cred_base64((const uint8_t *)"f", 1, out, 4), -ENOSPC);
	cr_expect_eq(cred_base64((const uint8_t *)"", 0, out, 0), -ENOSPC);
	cr_expect_eq(cred_base64((const uint8_t *)"", 0, out, 1), 0);
	cr_expect_eq(cred_base64((const uint8_t *)"x", SIZE_MAX, out, sizeof(out)),
		     -ENOSPC);
}

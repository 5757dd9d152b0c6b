/* Unit tests for proto/cert. The known-answer certificate and challenge
 * were built independently in Python (the `cryptography` package's
 * Ed25519 and hashlib) from the layout drawn in cert.c:
 *
 *   body = bytes([1, 5]) + b"alice" + dev_pub
 *          + struct.pack(">QQ", 1700000000, 1700086400)
 *          + sha256(iss_pub)[:8]
 *   cert = body + iss.sign(b"parley-cert-v1" + body)
 *   chal = dev.sign(b"parley-login-challenge-v1" + bytes(range(32))
 *                   + bytes([5]) + b"alice")
 *
 * with the issuer key RFC 8032 TEST 1 and the device key TEST 2. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto/cert.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define S(lit)       (lit), (sizeof(lit) - 1)

#define ISSUED   1700000000u
#define LIFETIME 86400u

static const char issuer_seed_hex[] =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char device_seed_hex[] =
    "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
static const char issuer_id_hex[] = "21fe31dfa154a261";
static const char golden_cert_hex[] =
    "0105616c6963653d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0"
    "cd55f12af4660c000000006553f100000000006555428021fe31dfa154a261ff"
    "7a1c2d7d046db97165284b5da069b3bd7c5e69fad3226f4ca66f781584657d90"
    "0d84401311ff3cc01db2fc5cd2d038126126802277be6f9a84709774b50a0b";
static const char golden_challenge_hex[] =
    "f79718334959670e411fcd75f3db6da87f84fecd29b530660b97e7a1da3cda20"
    "df04d3f6e285175783ef1d20107cd56a2730ff0c4c875bf5ed47bddc6917aa0d";

static void unhex(const char *s, uint8_t *out, size_t len)
{
	cr_assert_eq(strlen(s), 2 * len, "%s", s);
	for (size_t i = 0; i < len; i++) {
		unsigned int v;

		cr_assert_eq(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void hex(const uint8_t *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
}

/* The two keys of the known answers, and a third, unrelated one. */
struct keys {
	uint8_t issuer_seed[SIG_SEED_LEN], issuer_pub[SIG_PUB_LEN];
	uint8_t device_seed[SIG_SEED_LEN], device_pub[SIG_PUB_LEN];
	uint8_t other_seed[SIG_SEED_LEN], other_pub[SIG_PUB_LEN];
};

static struct keys keys(void)
{
	struct keys k;

	unhex(issuer_seed_hex, k.issuer_seed, SIG_SEED_LEN);
	unhex(device_seed_hex, k.device_seed, SIG_SEED_LEN);
	cr_assert_eq(sig_pub_from_seed(k.issuer_seed, k.issuer_pub), 0);
	cr_assert_eq(sig_pub_from_seed(k.device_seed, k.device_pub), 0);
	cr_assert_eq(sig_keygen(k.other_seed, k.other_pub), 0);
	return k;
}

/* alice's certificate, as in the known answer. */
static struct cert alice(const struct keys *k)
{
	struct cert c;

	cr_assert_eq(cert_issue(&c, S("alice"), k->device_pub, ISSUED, LIFETIME, k->issuer_seed),
	             0);
	return c;
}

static void expect_same(const struct cert *a, const struct cert *b)
{
	cr_expect_eq(a->version, b->version);
	cr_expect_eq(a->user_len, b->user_len);
	cr_expect_str_eq(a->user, b->user);
	cr_expect_eq(memcmp(a->device_key, b->device_key, SIG_PUB_LEN), 0);
	cr_expect_eq(a->issued, b->issued);
	cr_expect_eq(a->expires, b->expires);
	cr_expect_eq(memcmp(a->issuer_id, b->issuer_id, CERT_ISSUER_ID_LEN), 0);
	cr_expect_eq(memcmp(a->sig, b->sig, SIG_LEN), 0);
}

/* ------------------------------------------------------------------ */
/* Known answers and round trip                                        */
/* ------------------------------------------------------------------ */

Test(cert, sizes)
{
	cr_expect_eq(CERT_MIN_LEN, 123);
	cr_expect_eq(CERT_MAX_LEN, 186);
}

Test(cert, issuer_id_known_answer)
{
	struct keys k = keys();
	uint8_t id[CERT_ISSUER_ID_LEN];
	char h[2 * CERT_ISSUER_ID_LEN + 1];

	cr_assert_eq(cert_issuer_id(k.issuer_pub, id), 0);
	hex(id, sizeof(id), h);
	cr_expect_str_eq(h, issuer_id_hex);
}

Test(cert, issue_matches_independent_encoding)
{
	struct keys k = keys();
	struct cert c = alice(&k);
	uint8_t buf[CERT_MAX_LEN];
	char h[2 * CERT_MAX_LEN + 1];
	int n;

	cr_expect_eq(c.version, CERT_VERSION);
	cr_expect_eq(c.user_len, 5);
	cr_expect_str_eq(c.user, "alice");
	cr_expect_eq(c.issued, ISSUED);
	cr_expect_eq(c.expires, (uint64_t)ISSUED + LIFETIME);

	n = cert_encode(&c, buf, sizeof(buf));
	cr_assert_eq(n, CERT_FIXED_LEN + 5);
	hex(buf, (size_t)n, h);
	cr_expect_str_eq(h, golden_cert_hex);
}

Test(cert, encode_decode_verify_round_trip)
{
	struct keys k = keys();
	struct cert c = alice(&k), d;
	uint8_t buf[CERT_MAX_LEN];
	int n;

	n = cert_encode(&c, buf, sizeof(buf));
	cr_assert_gt(n, 0);
	memset(&d, 0x5a, sizeof(d));
	cr_assert_eq(cert_decode(buf, (size_t)n, &d), 0);
	expect_same(&c, &d);
	cr_expect_eq(cert_verify(&d, k.issuer_pub, ISSUED), 0);
	cr_expect_eq(cert_verify(&d, k.issuer_pub, ISSUED + LIFETIME / 2), 0);
}

Test(cert, longest_user_fills_max_len)
{
	struct keys k = keys();
	char user[CERT_USER_MAX];
	struct cert c, d;
	uint8_t buf[CERT_MAX_LEN];

	memset(user, 'z', sizeof(user));
	cr_assert_eq(
	    cert_issue(&c, user, sizeof(user), k.device_pub, ISSUED, LIFETIME, k.issuer_seed), 0);
	cr_assert_eq(cert_encode(&c, buf, sizeof(buf)), CERT_MAX_LEN);
	cr_assert_eq(cert_decode(buf, CERT_MAX_LEN, &d), 0);
	cr_expect_eq(d.user_len, CERT_USER_MAX);
	cr_expect_eq(strlen(d.user), CERT_USER_MAX);
	cr_expect_eq(cert_verify(&d, k.issuer_pub, ISSUED), 0);
}

Test(cert, encode_needs_room)
{
	struct keys k = keys();
	struct cert c = alice(&k);
	uint8_t buf[CERT_MAX_LEN];
	const size_t need = CERT_FIXED_LEN + 5;

	for (size_t cap = 0; cap < need; cap++)
		cr_expect_eq(cert_encode(&c, buf, cap), -ENOSPC, "cap %zu", cap);
	cr_expect_eq(cert_encode(&c, buf, need), (int)need);
}

Test(cert, encode_refuses_malformed)
{
	struct keys k = keys();
	struct cert c;
	uint8_t buf[CERT_MAX_LEN];

	c = alice(&k);
	c.version = 2;
	cr_expect_eq(cert_encode(&c, buf, sizeof(buf)), -EINVAL, "version");
	c = alice(&k);
	c.user_len = 0;
	cr_expect_eq(cert_encode(&c, buf, sizeof(buf)), -EINVAL, "empty user");
	c = alice(&k);
	c.user_len = CERT_USER_MAX + 1;
	cr_expect_eq(cert_encode(&c, buf, sizeof(buf)), -EINVAL, "long user");
	/* user says more than user_len: C-string readers would see a name
	 * the signature does not cover. */
	c = alice(&k);
	c.user_len = 3;
	cr_expect_eq(cert_encode(&c, buf, sizeof(buf)), -EINVAL, "user not terminated");
	c = alice(&k);
	c.expires = c.issued;
	cr_expect_eq(cert_encode(&c, buf, sizeof(buf)), -EINVAL, "expires == issued");
}

/* ------------------------------------------------------------------ */
/* Tampering                                                           */
/* ------------------------------------------------------------------ */

Test(cert, tampered_fields_are_bad_signatures)
{
	struct keys k = keys();
	const uint64_t now = ISSUED + 10;
	struct cert c;

	c = alice(&k);
	c.user[0] = 'b';
	cr_expect_eq(cert_verify(&c, k.issuer_pub, now), -EBADMSG, "user byte");
	c = alice(&k);
	c.user_len = 4;
	c.user[4] = '\0'; /* "alic" */
	cr_expect_eq(cert_verify(&c, k.issuer_pub, now), -EBADMSG, "user shortened");
	c = alice(&k);
	memcpy(c.user, "alicee", 7);
	c.user_len = 6;
	cr_expect_eq(cert_verify(&c, k.issuer_pub, now), -EBADMSG, "user extended");
	c = alice(&k);
	memcpy(c.device_key, k.other_pub, SIG_PUB_LEN);
	cr_expect_eq(cert_verify(&c, k.issuer_pub, now), -EBADMSG, "device key swapped");
	c = alice(&k);
	c.device_key[31] ^= 0x01;
	cr_expect_eq(cert_verify(&c, k.issuer_pub, now), -EBADMSG, "device key bit");
	c = alice(&k);
	c.issued -= 1;
	cr_expect_eq(cert_verify(&c, k.issuer_pub, now), -EBADMSG, "issued");
	c = alice(&k);
	c.expires += 365 * 86400;
	cr_expect_eq(cert_verify(&c, k.issuer_pub, now), -EBADMSG, "expires");
	c = alice(&k);
	c.issuer_id[0] ^= 0x80;
	cr_expect_eq(cert_verify(&c, k.issuer_pub, now), -EBADMSG, "issuer id");
	for (size_t i = 0; i < SIG_LEN; i++) {
		c = alice(&k);
		c.sig[i] ^= 0x04;
		cr_expect_eq(cert_verify(&c, k.issuer_pub, now), -EBADMSG, "signature byte %zu", i);
	}
	c = alice(&k);
	c.version = 2;
	cr_expect_eq(cert_verify(&c, k.issuer_pub, now), -EINVAL, "version");
	c = alice(&k);
	cr_expect_eq(cert_verify(&c, k.issuer_pub, now), 0, "untouched");
}

/* Whatever bit of the encoding changes, the result is never a valid
 * certificate: either the decoder refuses the form or the signature
 * fails. */
Test(cert, every_flipped_wire_bit_fails)
{
	struct keys k = keys();
	struct cert c = alice(&k), d;
	uint8_t buf[CERT_MAX_LEN];
	int n = cert_encode(&c, buf, sizeof(buf));

	cr_assert_gt(n, 0);
	for (size_t bit = 0; bit < 8 * (size_t)n; bit++) {
		int ret;

		buf[bit / 8] ^= (uint8_t)(1u << bit % 8);
		ret = cert_decode(buf, (size_t)n, &d);
		if (ret == 0)
			ret = cert_verify(&d, k.issuer_pub, ISSUED + 10);
		cr_expect(ret == -EINVAL || ret == -EBADMSG, "bit %zu: %d", bit, ret);
		buf[bit / 8] ^= (uint8_t)(1u << bit % 8);
	}
}

Test(cert, wrong_issuer_key)
{
	struct keys k = keys();
	struct cert c = alice(&k);

	/* Another key: its id does not match. */
	cr_expect_eq(cert_verify(&c, k.other_pub, ISSUED), -EBADMSG);
	/* A forger who also sets the id to the verifier's key still needs
	 * the verifier's signature. */
	cr_assert_eq(cert_issuer_id(k.other_pub, c.issuer_id), 0);
	cr_expect_eq(cert_verify(&c, k.other_pub, ISSUED), -EBADMSG);
	/* A certificate honestly signed by another key. */
	cr_assert_eq(cert_issue(&c, S("alice"), k.device_pub, ISSUED, LIFETIME, k.other_seed), 0);
	cr_expect_eq(cert_verify(&c, k.issuer_pub, ISSUED), -EBADMSG);
	cr_expect_eq(cert_verify(&c, k.other_pub, ISSUED), 0);
}

/* ------------------------------------------------------------------ */
/* Time                                                                */
/* ------------------------------------------------------------------ */

Test(cert, expiry_boundary)
{
	struct keys k = keys();
	struct cert c = alice(&k);
	const uint64_t expires = (uint64_t)ISSUED + LIFETIME;

	cr_expect_eq(cert_verify(&c, k.issuer_pub, expires - 1), 0, "last valid second");
	cr_expect_eq(cert_verify(&c, k.issuer_pub, expires), -EKEYEXPIRED, "now == expires");
	cr_expect_eq(cert_verify(&c, k.issuer_pub, expires + 1), -EKEYEXPIRED);
	cr_expect_eq(cert_verify(&c, k.issuer_pub, UINT64_MAX), -EKEYEXPIRED);
}

Test(cert, future_issue_within_clock_skew)
{
	struct keys k = keys();
	struct cert c = alice(&k);

	cr_expect_eq(cert_verify(&c, k.issuer_pub, ISSUED - CERT_CLOCK_SKEW_S), 0,
	             "issued exactly skew ahead");
	cr_expect_eq(cert_verify(&c, k.issuer_pub, ISSUED - CERT_CLOCK_SKEW_S - 1), -EINVAL,
	             "issued beyond the skew");
	cr_expect_eq(cert_verify(&c, k.issuer_pub, 0), -EINVAL);
}

Test(cert, time_limits_at_the_edges)
{
	struct keys k = keys();
	struct cert c;

	/* issued near UINT64_MAX must not wrap in the skew check. */
	cr_assert_eq(cert_issue(&c, S("edge"), k.device_pub, UINT64_MAX - 10, 10, k.issuer_seed),
	             0);
	cr_expect_eq(c.expires, UINT64_MAX);
	cr_expect_eq(cert_verify(&c, k.issuer_pub, UINT64_MAX - 10), 0);
	cr_expect_eq(cert_verify(&c, k.issuer_pub, UINT64_MAX - 1), 0);
	cr_expect_eq(cert_verify(&c, k.issuer_pub, UINT64_MAX), -EKEYEXPIRED);

	cr_expect_eq(cert_issue(&c, S("edge"), k.device_pub, UINT64_MAX - 10, 11, k.issuer_seed),
	             -EINVAL, "expiry overflows");
	cr_expect_eq(cert_issue(&c, S("edge"), k.device_pub, ISSUED, 0, k.issuer_seed), -EINVAL,
	             "zero lifetime");
}

/* ------------------------------------------------------------------ */
/* Decoding hostile input                                              */
/* ------------------------------------------------------------------ */

Test(cert, decode_refuses_every_truncation_and_extension)
{
	struct keys k = keys();
	struct cert c = alice(&k), d, untouched;
	uint8_t buf[CERT_MAX_LEN + 2];
	int n = cert_encode(&c, buf, sizeof(buf));

	cr_assert_gt(n, 0);
	memset(&d, 0x77, sizeof(d));
	untouched = d;
	cr_expect_eq(cert_decode(NULL, 0, &d), -EINVAL);
	for (size_t len = 0; len < (size_t)n; len++)
		cr_expect_eq(cert_decode(buf, len, &d), -EINVAL, "prefix of %zu bytes", len);
	for (unsigned int v = 0; v < 256; v++) {
		buf[n] = (uint8_t)v;
		cr_expect_eq(cert_decode(buf, (size_t)n + 1, &d), -EINVAL, "trailing 0x%02x", v);
	}
	cr_expect_eq(cert_decode(buf, (size_t)n + 2, &d), -EINVAL, "two trailing bytes");
	cr_expect_eq(memcmp(&d, &untouched, sizeof(d)), 0, "a refused decode wrote out");
	cr_expect_eq(cert_decode(buf, (size_t)n, &d), 0);
}

Test(cert, decode_refuses_bad_header_fields)
{
	struct keys k = keys();
	struct cert c = alice(&k), d;
	uint8_t buf[CERT_MAX_LEN], t[CERT_MAX_LEN];
	int n = cert_encode(&c, buf, sizeof(buf));

	cr_assert_gt(n, 0);
	for (unsigned int v = 0; v < 256; v++) {
		if (v == CERT_VERSION)
			continue;
		memcpy(t, buf, (size_t)n);
		t[0] = (uint8_t)v;
		cr_expect_eq(cert_decode(t, (size_t)n, &d), -EINVAL, "version %u", v);
	}
	/* A user length that disagrees with the total, either way. */
	for (unsigned int v = 0; v < 256; v++) {
		if (v == 5)
			continue;
		memcpy(t, buf, (size_t)n);
		t[1] = (uint8_t)v;
		cr_expect_eq(cert_decode(t, (size_t)n, &d), -EINVAL, "user length %u", v);
	}
	/* Bad user bytes at the right length. */
	memcpy(t, buf, (size_t)n);
	t[2] = 'A';
	cr_expect_eq(cert_decode(t, (size_t)n, &d), -EINVAL, "upper case user");
	memcpy(t, buf, (size_t)n);
	t[4] = '\0';
	cr_expect_eq(cert_decode(t, (size_t)n, &d), -EINVAL, "NUL in user");
	/* expires == issued: copy issued over expires (at 34+n and 42+n). */
	memcpy(t, buf, (size_t)n);
	memcpy(t + 2 + 5 + 40, t + 2 + 5 + 32, 8);
	cr_expect_eq(cert_decode(t, (size_t)n, &d), -EINVAL, "expires == issued");
}

Test(cert, decode_refuses_garbage)
{
	uint8_t buf[CERT_MAX_LEN + 8];
	struct cert d;
	uint32_t x = 0x12345678;

	memset(buf, 0xff, sizeof(buf));
	for (size_t len = 0; len <= sizeof(buf); len++)
		cr_expect_eq(cert_decode(buf, len, &d), -EINVAL, "0xff * %zu", len);
	memset(buf, 0, sizeof(buf));
	for (size_t len = 0; len <= sizeof(buf); len++)
		cr_expect_eq(cert_decode(buf, len, &d), -EINVAL, "0x00 * %zu", len);

	/* Pseudo-random bodies behind a plausible header: user bytes from
	 * the whole byte range fail the name check. */
	for (int round = 0; round < 1000; round++) {
		size_t ulen = 1 + (size_t)round % CERT_USER_MAX;

		for (size_t i = 0; i < sizeof(buf); i++) {
			x = x * 1103515245u + 12345u;
			buf[i] = (uint8_t)(x >> 16);
		}
		buf[0] = CERT_VERSION;
		buf[1] = (uint8_t)ulen;
		buf[2] = 0x80; /* never a name byte */
		cr_expect_eq(cert_decode(buf, CERT_FIXED_LEN + ulen, &d), -EINVAL, "round %d",
		             round);
	}
}

/* ------------------------------------------------------------------ */
/* User names                                                          */
/* ------------------------------------------------------------------ */

Test(cert, user_names)
{
	static const struct {
		const char *name;
		size_t len;
		bool ok;
	} cases[] = {
	    {S("a"), true},        {S("0"), true},       {S("alice"), true},
	    {S("a.b_c-d9"), true}, {S("9lives"), true},  {S(""), false},
	    {S("Alice"), false},   {S("alicE"), false},  {S("a/b"), false},
	    {S("../x"), false},    {S(".alice"), false}, {S("-alice"), false},
	    {S("_alice"), false},  {S("al ice"), false}, {S("al\0ice"), false},
	    {S("alice\0"), false}, {S("al@ice"), false}, {S("\xc3\xa9mile"), false},
	};
	struct keys k = keys();
	char name[CERT_USER_MAX + 2];
	struct cert c;

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		cr_expect_eq(cert_user_valid(cases[i].name, cases[i].len), cases[i].ok, "\"%s\"",
		             cases[i].name);
		cr_expect_eq(cert_issue(&c, cases[i].name, cases[i].len, k.device_pub, ISSUED,
		                        LIFETIME, k.issuer_seed),
		             cases[i].ok ? 0 : -EINVAL, "\"%s\"", cases[i].name);
	}
	cr_expect_not(cert_user_valid(NULL, 0));
	cr_expect_not(cert_user_valid(NULL, 5));

	memset(name, 'x', sizeof(name));
	cr_expect(cert_user_valid(name, CERT_USER_MAX), "64 bytes");
	cr_expect_not(cert_user_valid(name, CERT_USER_MAX + 1), "65 bytes");
	cr_expect_eq(
	    cert_issue(&c, name, CERT_USER_MAX + 1, k.device_pub, ISSUED, LIFETIME, k.issuer_seed),
	    -EINVAL);

	/* Every byte value in the second position. */
	for (unsigned int v = 0; v < 256; v++) {
		char two[2] = {'a', (char)v};
		bool want = (v >= 'a' && v <= 'z') || (v >= '0' && v <= '9') || v == '.' ||
		            v == '_' || v == '-';

		cr_expect_eq(cert_user_valid(two, 2), want, "0x%02x", v);
	}
}

/* ------------------------------------------------------------------ */
/* Device login challenge                                              */
/* ------------------------------------------------------------------ */

static void test_nonce(uint8_t nonce[CERT_NONCE_LEN])
{
	for (int i = 0; i < CERT_NONCE_LEN; i++)
		nonce[i] = (uint8_t)i;
}

Test(cert, challenge_known_answer_and_round_trip)
{
	struct keys k = keys();
	uint8_t nonce[CERT_NONCE_LEN], sig[SIG_LEN];
	char h[2 * SIG_LEN + 1];

	test_nonce(nonce);
	cr_assert_eq(cert_challenge_sign(k.device_seed, nonce, S("alice"), sig), 0);
	hex(sig, sizeof(sig), h);
	cr_expect_str_eq(h, golden_challenge_hex);
	cr_expect(cert_challenge_verify(k.device_pub, nonce, S("alice"), sig));

	cr_expect_not(cert_challenge_verify(k.other_pub, nonce, S("alice"), sig), "other key");
	cr_expect_not(cert_challenge_verify(k.device_pub, nonce, S("alicf"), sig), "other user");
	cr_expect_not(cert_challenge_verify(k.device_pub, nonce, S("alic"), sig), "prefix user");
	for (size_t i = 0; i < CERT_NONCE_LEN; i++) {
		nonce[i] ^= 0x01;
		cr_expect_not(cert_challenge_verify(k.device_pub, nonce, S("alice"), sig),
		              "nonce byte %zu", i);
		nonce[i] ^= 0x01;
	}
	for (size_t i = 0; i < SIG_LEN; i++) {
		sig[i] ^= 0x40;
		cr_expect_not(cert_challenge_verify(k.device_pub, nonce, S("alice"), sig),
		              "signature byte %zu", i);
		sig[i] ^= 0x40;
	}
}

Test(cert, challenge_refuses_invalid_user)
{
	struct keys k = keys();
	uint8_t nonce[CERT_NONCE_LEN], sig[SIG_LEN];

	test_nonce(nonce);
	cr_expect_eq(cert_challenge_sign(k.device_seed, nonce, S(""), sig), -EINVAL);
	cr_expect_eq(cert_challenge_sign(k.device_seed, nonce, S("Alice"), sig), -EINVAL);
	cr_expect_eq(cert_challenge_sign(k.device_seed, nonce, S("al\0ce"), sig), -EINVAL);
	cr_assert_eq(cert_challenge_sign(k.device_seed, nonce, S("alice"), sig), 0);
	cr_expect_not(cert_challenge_verify(k.device_pub, nonce, S("Alice"), sig));
}

/* One key signs both kinds (here the device key doubles as an issuer, the
 * worst case): neither signature passes as the other, and neither kind
 * is a bare signature over its fields. */
Test(cert, challenge_and_certificate_are_domain_separated)
{
	struct keys k = keys();
	uint8_t nonce[CERT_NONCE_LEN], chsig[SIG_LEN], buf[CERT_MAX_LEN], raw[CERT_MAX_LEN];
	struct cert c;
	int n;

	/* A certificate whose issuer is the device key. */
	cr_assert_eq(cert_issue(&c, S("alice"), k.device_pub, ISSUED, LIFETIME, k.device_seed), 0);
	cr_assert_eq(cert_verify(&c, k.device_pub, ISSUED), 0);

	/* Its signature is no challenge answer for any nonce made from its
	 * bytes. */
	n = cert_encode(&c, buf, sizeof(buf));
	cr_assert_gt(n, 0);
	for (size_t off = 0; off + CERT_NONCE_LEN <= (size_t)n - SIG_LEN; off++)
		cr_expect_not(cert_challenge_verify(k.device_pub, buf + off, S("alice"), c.sig),
		              "nonce at %zu", off);
	test_nonce(nonce);
	cr_expect_not(cert_challenge_verify(k.device_pub, nonce, S("alice"), c.sig));

	/* A challenge answer is no certificate signature. */
	cr_assert_eq(cert_challenge_sign(k.device_seed, nonce, S("alice"), chsig), 0);
	memcpy(c.sig, chsig, SIG_LEN);
	cr_expect_eq(cert_verify(&c, k.device_pub, ISSUED), -EBADMSG);

	/* The body signed without its tag is refused: the tag is there. */
	cr_assert_eq(sig_sign(k.device_seed, buf, (size_t)n - SIG_LEN, c.sig), 0);
	cr_expect_eq(cert_verify(&c, k.device_pub, ISSUED), -EBADMSG);

	/* Likewise a bare nonce || user_len || user. */
	memcpy(raw, nonce, CERT_NONCE_LEN);
	raw[CERT_NONCE_LEN] = 5;
	memcpy(raw + CERT_NONCE_LEN + 1, "alice", 5);
	cr_assert_eq(sig_sign(k.device_seed, raw, CERT_NONCE_LEN + 1 + 5, chsig), 0);
	cr_expect_not(cert_challenge_verify(k.device_pub, nonce, S("alice"), chsig));
}

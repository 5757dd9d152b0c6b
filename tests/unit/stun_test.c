/* Unit tests for proto/stun: RFC 5769 vectors, every length bound, the
 * builder, ChannelData framing, and a deterministic mutation loop that
 * must not crash (run it under ASan/UBSan). */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "proto/stun.h"

TestSuite(stun);

/* ---- RFC 5769 test vectors --------------------------------------------- */

/* §2.1 Sample Request: SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME
 * (padded with spaces, which the parser must ignore), MESSAGE-INTEGRITY,
 * FINGERPRINT. Short-term password "VOkJxbRl1RmTxUk/WvJxBt". */
static const uint8_t rfc5769_request[] = {
	0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42,
	0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
	0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10,
	0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
	0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74,
	0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
	0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1,
	0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
	0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76,
	0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
	0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56,
	0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
	0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04,
	0xe5, 0x7a, 0x3b, 0xcf,
};

/* §2.2 Sample IPv4 Response: XOR-MAPPED-ADDRESS 192.0.2.1:32853. */
static const uint8_t rfc5769_response_v4[] = {
	0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42,
	0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
	0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b,
	0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
	0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08,
	0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
	0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99,
	0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
	0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7,
	0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
};

/* §2.3 Sample IPv6 Response: [2001:db8:1234:5678:11:2233:4455:6677]:32853. */
static const uint8_t rfc5769_response_v6[] = {
	0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42,
	0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
	0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b,
	0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
	0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14,
	0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
	0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5,
	0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14,
	0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1,
	0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75,
	0xbf, 0xe3, 0xed, 0x41, 0x80, 0x28, 0x00, 0x04,
	0xc8, 0xfb, 0x0b, 0x4c,
};

/* §2.4 Sample Request with Long-Term Authentication: USERNAME, NONCE,
 * REALM, MESSAGE-INTEGRITY; no FINGERPRINT. */
static const uint8_t rfc5769_longterm[] = {
	0x00, 0x01, 0x00, 0x60, 0x21, 0x12, 0xa4, 0x42,
	0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72, 0xc0,
	0x29, 0xda, 0x41, 0x2e, 0x00, 0x06, 0x00, 0x12,
	0xe3, 0x83, 0x9e, 0xe3, 0x83, 0x88, 0xe3, 0x83,
	0xaa, 0xe3, 0x83, 0x83, 0xe3, 0x82, 0xaf, 0xe3,
	0x82, 0xb9, 0x00, 0x00, 0x00, 0x15, 0x00, 0x1c,
	0x66, 0x2f, 0x2f, 0x34, 0x39, 0x39, 0x6b, 0x39,
	0x35, 0x34, 0x64, 0x36, 0x4f, 0x4c, 0x33, 0x34,
	0x6f, 0x4c, 0x39, 0x46, 0x53, 0x54, 0x76, 0x79,
	0x36, 0x34, 0x73, 0x41, 0x00, 0x14, 0x00, 0x0b,
	0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e,
	0x6f, 0x72, 0x67, 0x00, 0x00, 0x08, 0x00, 0x14,
	0xf6, 0x70, 0x24, 0x65, 0x6d, 0xd6, 0x4a, 0x3e,
	0x02, 0xb8, 0xe0, 0x71, 0x2e, 0x85, 0xc9, 0xa2,
	0x8c, 0xa8, 0x96, 0x66,
};

static const char short_term_pw[] = "VOkJxbRl1RmTxUk/WvJxBt";
/* "マトリックス" in UTF-8 */
static const char lt_user[] = "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa"
			      "\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";
static const char lt_realm[] = "example.org";
static const char lt_nonce[] = "f//499k954d6OL34oL9FSTvy64sA";
static const char lt_pass[] = "TheMatrIX";

static const uint8_t txid_a[STUN_TXID_LEN] = {
	0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
};

static void key_pw(const char *pw, const uint8_t **key, size_t *len)
{
	*key = (const uint8_t *)pw;
	*len = strlen(pw);
}

/* MD5(username ":" realm ":" password), RFC 8489 §9.2.2. */
static void longterm_key(uint8_t key[16])
{
	char in[256];
	unsigned int n = 0;
	int len = snprintf(in, sizeof(in), "%s:%s:%s", lt_user, lt_realm, lt_pass);

	cr_assert(len > 0 && (size_t)len < sizeof(in));
	cr_assert_eq(EVP_Digest(in, (size_t)len, key, &n, EVP_md5(), NULL), 1);
	cr_assert_eq(n, 16);
}

static bool attr_eq(const uint8_t *buf, uint16_t off, uint16_t len, const char *s)
{
	return off != 0 && len == strlen(s) && memcmp(buf + off, s, len) == 0;
}

/* Parses a copy on the heap with exactly len bytes, so ASan catches any
 * read past the end. */
static int parse_heap(const uint8_t *src, size_t len, struct stun_msg *m, uint8_t **out)
{
	uint8_t *p = malloc(len ? len : 1);
	int err;

	cr_assert_not_null(p);
	memcpy(p, src, len);
	err = stun_parse(p, len, m);
	*out = p;
	return err;
}

Test(stun, rfc5769_sample_request)
{
	struct stun_msg m;
	const uint8_t *key;
	size_t key_len;

	cr_assert_eq(stun_parse(rfc5769_request, sizeof(rfc5769_request), &m), STUN_OK);
	cr_assert_eq(m.method, STUN_BINDING);
	cr_assert_eq(m.cls, STUN_REQUEST);
	cr_assert_eq(m.len, sizeof(rfc5769_request));
	cr_assert_arr_eq(m.txid, txid_a, STUN_TXID_LEN);
	cr_assert(attr_eq(rfc5769_request, m.username, m.username_len, "evtj:h6vY"));
	cr_assert(attr_eq(rfc5769_request, m.software, m.software_len, "STUN test client"));
	cr_assert_neq(m.integrity, 0);
	cr_assert_neq(m.fingerprint, 0);
	cr_assert_eq(m.integrity256, 0);
	cr_assert_eq(m.n_unknown, 0);

	key_pw(short_term_pw, &key, &key_len);
	cr_assert(stun_check_integrity(rfc5769_request, &m, key, key_len));
	cr_assert_not(stun_check_integrity(rfc5769_request, &m, key, key_len - 1));
	cr_assert_not(stun_check_integrity(rfc5769_request, &m,
					   (const uint8_t *)"VOkJxbRl1RmTxUk/WvJxBT", key_len));
}

static void check_v4_response(const uint8_t *buf, size_t len)
{
	struct stun_msg m;
	union addr a;
	const uint8_t *key;
	size_t key_len;

	cr_assert_eq(stun_parse(buf, len, &m), STUN_OK);
	cr_assert_eq(m.method, STUN_BINDING);
	cr_assert_eq(m.cls, STUN_SUCCESS);
	cr_assert(attr_eq(buf, m.software, m.software_len, "test vector"));
	cr_assert_eq(stun_get_addr(buf, &m, m.xor_mapped, m.xor_mapped_len, true, &a), 0);
	cr_assert_eq(a.sa.sa_family, AF_INET);
	cr_assert_eq(ntohs(a.v4.sin_port), 32853);
	cr_assert_eq(ntohl(a.v4.sin_addr.s_addr), 0xc0000201u);
	key_pw(short_term_pw, &key, &key_len);
	cr_assert(stun_check_integrity(buf, &m, key, key_len));
}

Test(stun, rfc5769_ipv4_response)
{
	check_v4_response(rfc5769_response_v4, sizeof(rfc5769_response_v4));
}

Test(stun, rfc5769_ipv6_response)
{
	static const uint8_t want[16] = {
		0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78,
		0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
	};
	const uint8_t *buf = rfc5769_response_v6;
	struct stun_msg m;
	union addr a;
	const uint8_t *key;
	size_t key_len;

	cr_assert_eq(stun_parse(buf, sizeof(rfc5769_response_v6), &m), STUN_OK);
	cr_assert_eq(m.cls, STUN_SUCCESS);
	cr_assert_eq(m.xor_mapped_len, 20);
	cr_assert_eq(stun_get_addr(buf, &m, m.xor_mapped, m.xor_mapped_len, true, &a), 0);
	cr_assert_eq(a.sa.sa_family, AF_INET6);
	cr_assert_eq(ntohs(a.v6.sin6_port), 32853);
	cr_assert_arr_eq(a.v6.sin6_addr.s6_addr, want, 16);
	key_pw(short_term_pw, &key, &key_len);
	cr_assert(stun_check_integrity(buf, &m, key, key_len));
}

Test(stun, rfc5769_long_term_auth)
{
	const uint8_t *buf = rfc5769_longterm;
	struct stun_msg m;
	uint8_t key[16];

	longterm_key(key);
	cr_assert_eq(stun_parse(buf, sizeof(rfc5769_longterm), &m), STUN_OK);
	cr_assert(attr_eq(buf, m.username, m.username_len, lt_user));
	cr_assert(attr_eq(buf, m.realm, m.realm_len, lt_realm));
	cr_assert(attr_eq(buf, m.nonce, m.nonce_len, lt_nonce));
	cr_assert_eq(m.fingerprint, 0);
	cr_assert(stun_check_integrity(buf, &m, key, sizeof(key)));
	key[0] ^= 1;
	cr_assert_not(stun_check_integrity(buf, &m, key, sizeof(key)));
}

/* Every single-bit flip before the end of the MAC either makes the
 * message unparseable or fails integrity; none passes. */
Test(stun, integrity_detects_any_flip)
{
	uint8_t key[16], buf[sizeof(rfc5769_longterm)];
	struct stun_msg m;
	int checked = 0;

	longterm_key(key);
	for (size_t i = 0; i < sizeof(buf); i++) {
		memcpy(buf, rfc5769_longterm, sizeof(buf));
		buf[i] ^= 0x01;
		if (stun_parse(buf, sizeof(buf), &m) != STUN_OK)
			continue;
		cr_assert_not(stun_check_integrity(buf, &m, key, sizeof(key)),
			      "flip at %zu passed integrity", i);
		checked++;
	}
	/* Header-only flips make the message unparseable; the rest must
	 * have been seen. */
	cr_assert_gt(checked, 80);
}

Test(stun, integrity_absent_is_false)
{
	uint8_t buf[64];
	struct stun_builder b;
	struct stun_msg m;
	int n;

	stun_build(&b, buf, sizeof(buf), STUN_BINDING, STUN_REQUEST, txid_a);
	n = stun_finish(&b);
	cr_assert_eq(n, 20);
	cr_assert_eq(stun_parse(buf, (size_t)n, &m), STUN_OK);
	cr_assert_not(stun_check_integrity(buf, &m, (const uint8_t *)"k", 1));
}

Test(stun, fingerprint_failure)
{
	uint8_t buf[sizeof(rfc5769_response_v4)];
	struct stun_msg m;

	/* SOFTWARE byte: not covered by the MAC check in parse, but by CRC */
	memcpy(buf, rfc5769_response_v4, sizeof(buf));
	buf[24] ^= 0x20;
	cr_assert_eq(stun_parse(buf, sizeof(buf), &m), STUN_E_FINGERPRINT);

	/* the CRC value itself */
	memcpy(buf, rfc5769_response_v4, sizeof(buf));
	buf[sizeof(buf) - 1] ^= 0x01;
	cr_assert_eq(stun_parse(buf, sizeof(buf), &m), STUN_E_FINGERPRINT);

	/* the transaction id */
	memcpy(buf, rfc5769_response_v4, sizeof(buf));
	buf[10] ^= 0x80;
	cr_assert_eq(stun_parse(buf, sizeof(buf), &m), STUN_E_FINGERPRINT);
}

/* ---- raw message construction for the bound tests ---------------------- */

struct raw {
	uint8_t b[4096];
	size_t len;
};

static void raw_init(struct raw *r)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->b, rfc5769_request, 8);  /* Binding request + cookie */
	r->b[2] = r->b[3] = 0;
	memcpy(r->b + 8, txid_a, STUN_TXID_LEN);
	r->len = STUN_HEADER_LEN;
}

static void raw_set_len(struct raw *r)
{
	size_t n = r->len - STUN_HEADER_LEN;

	r->b[2] = (uint8_t)(n >> 8);
	r->b[3] = (uint8_t)n;
}

/* Appends type with a declared length and vlen bytes of fill, padded to 4,
 * and sets the header length to cover everything. */
static void raw_attr_lie(struct raw *r, uint16_t type, uint16_t declared, size_t vlen,
			 uint8_t fill)
{
	size_t padded = (vlen + 3) & ~(size_t)3;

	cr_assert_leq(r->len + 4 + padded, sizeof(r->b));
	r->b[r->len] = (uint8_t)(type >> 8);
	r->b[r->len + 1] = (uint8_t)type;
	r->b[r->len + 2] = (uint8_t)(declared >> 8);
	r->b[r->len + 3] = (uint8_t)declared;
	memset(r->b + r->len + 4, fill, vlen);
	memset(r->b + r->len + 4 + vlen, 0, padded - vlen);
	r->len += 4 + padded;
	raw_set_len(r);
}

static void raw_attr(struct raw *r, uint16_t type, uint16_t vlen)
{
	raw_attr_lie(r, type, vlen, vlen, 0);
}

static int raw_parse(const struct raw *r, struct stun_msg *m)
{
	uint8_t *p;
	int err = parse_heap(r->b, r->len, m, &p);

	free(p);
	return err;
}

Test(stun, header_bounds)
{
	struct raw r;
	struct stun_msg m;
	uint8_t *p;

	/* truncated header */
	for (size_t n = 0; n < STUN_HEADER_LEN; n++) {
		cr_assert_eq(parse_heap(rfc5769_request, n, &m, &p), STUN_E_SHORT, "n=%zu", n);
		free(p);
	}
	cr_assert_eq(stun_parse(NULL, 0, &m), STUN_E_SHORT);

	raw_init(&r);
	cr_assert_eq(raw_parse(&r, &m), STUN_OK);

	/* top two bits, each */
	r.b[0] = 0x80;
	cr_assert_eq(raw_parse(&r, &m), STUN_E_NOT_STUN);
	r.b[0] = 0x40;
	cr_assert_eq(raw_parse(&r, &m), STUN_E_NOT_STUN);
	r.b[0] = 0x00;
	/* wrong cookie */
	r.b[7] ^= 1;
	cr_assert_eq(raw_parse(&r, &m), STUN_E_NOT_STUN);
	r.b[7] ^= 1;

	/* length not a multiple of 4, with a buffer that matches it */
	raw_attr(&r, STUN_ATTR_USERNAME, 4);
	r.b[3] = 6;
	r.len = 26;
	cr_assert_eq(raw_parse(&r, &m), STUN_E_LENGTH);

	/* length field vs buffer: longer and shorter */
	raw_init(&r);
	raw_attr(&r, STUN_ATTR_USERNAME, 8);
	cr_assert_eq(raw_parse(&r, &m), STUN_OK);
	r.len += 4;
	cr_assert_eq(raw_parse(&r, &m), STUN_E_LENGTH);
	r.len -= 8;
	cr_assert_eq(raw_parse(&r, &m), STUN_E_LENGTH);
	r.len = STUN_HEADER_LEN;
	cr_assert_eq(raw_parse(&r, &m), STUN_E_LENGTH);
}

/* The length field may describe 65532 + 20 bytes, more than the uint16_t
 * offsets can index: refused, not wrapped. */
Test(stun, oversize_message)
{
	size_t len = STUN_HEADER_LEN + 65532;
	uint8_t *p = calloc(1, len);
	struct stun_msg m;

	cr_assert_not_null(p);
	memcpy(p, rfc5769_request, 8);
	p[2] = 0xff;
	p[3] = 0xfc;
	/* one PADDING attribute filling the body */
	p[20] = 0x00;
	p[21] = 0x26;
	p[22] = 0xff;
	p[23] = 0xf8;
	cr_assert_eq(stun_parse(p, len, &m), STUN_E_LENGTH);
	/* the largest indexable message parses */
	p[2] = 0xff;
	p[3] = 0xe8;
	p[22] = 0xff;
	p[23] = 0xe4;
	cr_assert_eq(stun_parse(p, STUN_HEADER_LEN + 0xffe8, &m), STUN_OK);
	free(p);
}

Test(stun, attribute_past_end)
{
	struct raw r;
	struct stun_msg m;

	raw_init(&r);
	raw_attr_lie(&r, STUN_ATTR_USERNAME, 9, 8, 'a');
	cr_assert_eq(raw_parse(&r, &m), STUN_E_ATTR_LENGTH);

	raw_init(&r);
	raw_attr_lie(&r, STUN_ATTR_DATA, 0xffff, 4, 0);
	cr_assert_eq(raw_parse(&r, &m), STUN_E_ATTR_LENGTH);

	/* a later attribute overrunning, after a good one */
	raw_init(&r);
	raw_attr(&r, STUN_ATTR_SOFTWARE, 5);
	raw_attr_lie(&r, 0x8055, 5, 4, 0);
	cr_assert_eq(raw_parse(&r, &m), STUN_E_ATTR_LENGTH);

	/* padding counted: 5 bytes of value need 8 on the wire */
	raw_init(&r);
	raw_attr(&r, STUN_ATTR_DATA, 5);
	cr_assert_eq(raw_parse(&r, &m), STUN_OK);
	cr_assert_eq(m.data_len, 5);
	r.len -= 4;
	raw_set_len(&r);
	cr_assert_eq(raw_parse(&r, &m), STUN_E_ATTR_LENGTH);
}

struct len_rule {
	uint16_t type;
	uint16_t good[4];
	int n_good;
	uint16_t bad[6];
	int n_bad;
};

Test(stun, fixed_attribute_lengths)
{
	static const struct len_rule rules[] = {
		{STUN_ATTR_LIFETIME, {4}, 1, {0, 2, 3, 5, 8}, 5},
		{STUN_ATTR_CHANNEL_NUMBER, {4}, 1, {0, 2, 8}, 3},
		{STUN_ATTR_REQUESTED_TRANSPORT, {4}, 1, {0, 1, 8}, 3},
		{STUN_ATTR_REQUESTED_ADDRESS_FAMILY, {4}, 1, {0, 1, 8}, 3},
		{STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, {4}, 1, {0, 1, 8}, 3},
		{STUN_ATTR_CONNECTION_ID, {4}, 1, {0, 3, 8}, 3},
		{STUN_ATTR_CHANGE_REQUEST, {4}, 1, {0, 3, 8}, 3},
		{STUN_ATTR_PRIORITY, {4}, 1, {0, 8}, 2},
		{STUN_ATTR_MESSAGE_INTEGRITY, {20}, 1, {0, 16, 19, 21, 32}, 5},
		{STUN_ATTR_MESSAGE_INTEGRITY_SHA256, {16, 20, 28, 32}, 4,
		 {0, 12, 17, 18, 33, 36}, 6},
		{STUN_ATTR_FINGERPRINT, {0}, 0, {0, 3, 5, 8}, 4},
		{STUN_ATTR_USERHASH, {32}, 1, {0, 31, 33, 64}, 4},
		{STUN_ATTR_RESERVATION_TOKEN, {8}, 1, {0, 4, 7, 9}, 4},
		{STUN_ATTR_EVEN_PORT, {1}, 1, {0, 2, 4}, 3},
		{STUN_ATTR_DONT_FRAGMENT, {0}, 1, {1, 4}, 2},
		{STUN_ATTR_USE_CANDIDATE, {0}, 1, {4}, 1},
		{STUN_ATTR_ICE_CONTROLLED, {8}, 1, {4, 16}, 2},
		{STUN_ATTR_ICE_CONTROLLING, {8}, 1, {4, 16}, 2},
		{STUN_ATTR_USERNAME, {0, 1, 513}, 3, {514, 1000}, 2},
		{STUN_ATTR_REALM, {0, 763}, 2, {764}, 1},
		{STUN_ATTR_NONCE, {0, 763}, 2, {764}, 1},
		{STUN_ATTR_SOFTWARE, {0, 763}, 2, {764}, 1},
		{STUN_ATTR_ERROR_CODE, {4, 767}, 2, {0, 3, 768}, 3},
		{STUN_ATTR_UNKNOWN_ATTRIBUTES, {0, 2, 6}, 3, {1, 3}, 2},
		{STUN_ATTR_XOR_PEER_ADDRESS, {8, 20}, 2, {0, 4, 12, 16, 24}, 5},
		{STUN_ATTR_XOR_RELAYED_ADDRESS, {8, 20}, 2, {0, 4, 12, 16, 24}, 5},
		{STUN_ATTR_XOR_MAPPED_ADDRESS, {8, 20}, 2, {0, 4, 12, 16, 24}, 5},
		{STUN_ATTR_MAPPED_ADDRESS, {8, 20}, 2, {0, 7, 9, 21}, 4},
		{STUN_ATTR_ALTERNATE_SERVER, {8, 20}, 2, {0, 7, 9, 21}, 4},
		{STUN_ATTR_RESPONSE_ORIGIN, {8, 20}, 2, {0, 7, 9, 21}, 4},
		{STUN_ATTR_OTHER_ADDRESS, {8, 20}, 2, {0, 7, 9, 21}, 4},
		{STUN_ATTR_PASSWORD_ALGORITHM, {4}, 1, {0, 3}, 2},
	};
	struct raw r;
	struct stun_msg m;

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		const struct len_rule *rule = &rules[i];

		for (int j = 0; j < rule->n_good; j++) {
			raw_init(&r);
			raw_attr(&r, rule->type, rule->good[j]);
			cr_assert_eq(raw_parse(&r, &m), STUN_OK, "type %#x len %u",
				     rule->type, rule->good[j]);
		}
		for (int j = 0; j < rule->n_bad; j++) {
			raw_init(&r);
			raw_attr(&r, rule->type, rule->bad[j]);
			cr_assert_eq(raw_parse(&r, &m), STUN_E_ATTR_LENGTH,
				     "type %#x len %u", rule->type, rule->bad[j]);
		}
	}

	/* PASSWORD-ALGORITHM's own parameter length must fit */
	raw_init(&r);
	raw_attr(&r, STUN_ATTR_PASSWORD_ALGORITHM, 8);
	r.b[STUN_HEADER_LEN + 4 + 3] = 4;
	cr_assert_eq(raw_parse(&r, &m), STUN_OK);
	r.b[STUN_HEADER_LEN + 4 + 3] = 5;
	cr_assert_eq(raw_parse(&r, &m), STUN_E_ATTR_LENGTH);
}

Test(stun, first_occurrence_wins)
{
	struct raw r;
	struct stun_msg m;

	raw_init(&r);
	raw_attr_lie(&r, STUN_ATTR_LIFETIME, 4, 4, 0x11);
	raw_attr_lie(&r, STUN_ATTR_LIFETIME, 4, 4, 0x22);
	raw_attr_lie(&r, STUN_ATTR_USERNAME, 3, 3, 'a');
	raw_attr_lie(&r, STUN_ATTR_USERNAME, 5, 5, 'b');
	cr_assert_eq(raw_parse(&r, &m), STUN_OK);
	cr_assert_eq(stun_get_u32(r.b, m.lifetime), 0x11111111u);
	cr_assert(attr_eq(r.b, m.username, m.username_len, "aaa"));

	/* later duplicates are still length-checked */
	raw_attr(&r, STUN_ATTR_LIFETIME, 5);
	cr_assert_eq(raw_parse(&r, &m), STUN_E_ATTR_LENGTH);
}

Test(stun, attribute_order_after_integrity)
{
	struct raw r;
	struct stun_msg m;

	/* after FINGERPRINT: anything, even a second FINGERPRINT */
	raw_init(&r);
	raw_attr(&r, STUN_ATTR_FINGERPRINT, 4);
	raw_attr(&r, STUN_ATTR_SOFTWARE, 4);
	cr_assert_eq(raw_parse(&r, &m), STUN_E_AFTER_FINGERPRINT);
	raw_init(&r);
	raw_attr(&r, STUN_ATTR_FINGERPRINT, 4);
	raw_attr(&r, STUN_ATTR_FINGERPRINT, 4);
	cr_assert_eq(raw_parse(&r, &m), STUN_E_AFTER_FINGERPRINT);

	/* after MESSAGE-INTEGRITY: a known, an unknown optional, a second MI */
	static const uint16_t forbidden[] = {
		STUN_ATTR_USERNAME, STUN_ATTR_SOFTWARE, 0xc0de,
		STUN_ATTR_MESSAGE_INTEGRITY,
	};
	for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
		raw_init(&r);
		raw_attr(&r, STUN_ATTR_MESSAGE_INTEGRITY, 20);
		raw_attr(&r, forbidden[i], forbidden[i] == STUN_ATTR_MESSAGE_INTEGRITY ? 20 : 4);
		cr_assert_eq(raw_parse(&r, &m), STUN_E_AFTER_INTEGRITY, "type %#x",
			     forbidden[i]);
	}

	/* MI then MI-SHA256: allowed */
	raw_init(&r);
	raw_attr(&r, STUN_ATTR_MESSAGE_INTEGRITY, 20);
	raw_attr(&r, STUN_ATTR_MESSAGE_INTEGRITY_SHA256, 32);
	cr_assert_eq(raw_parse(&r, &m), STUN_OK);
	cr_assert_neq(m.integrity, 0);
	cr_assert_eq(m.integrity256_len, 32);

	/* after MI-SHA256: not MI, not anything else */
	raw_init(&r);
	raw_attr(&r, STUN_ATTR_MESSAGE_INTEGRITY_SHA256, 32);
	raw_attr(&r, STUN_ATTR_MESSAGE_INTEGRITY, 20);
	cr_assert_eq(raw_parse(&r, &m), STUN_E_AFTER_INTEGRITY);
	raw_init(&r);
	raw_attr(&r, STUN_ATTR_MESSAGE_INTEGRITY_SHA256, 16);
	raw_attr(&r, STUN_ATTR_LIFETIME, 4);
	cr_assert_eq(raw_parse(&r, &m), STUN_E_AFTER_INTEGRITY);
}

Test(stun, peers_bounded)
{
	struct raw r;
	struct stun_msg m;

	raw_init(&r);
	for (int i = 0; i < STUN_MAX_PEERS; i++) {
		raw_attr(&r, STUN_ATTR_XOR_PEER_ADDRESS, (i & 1) ? 20 : 8);
		r.b[r.len - ((i & 1) ? 20 : 8) + 1] = (i & 1) ? 2 : 1;
	}
	cr_assert_eq(raw_parse(&r, &m), STUN_OK);
	cr_assert_eq(m.n_peers, STUN_MAX_PEERS);
	for (int i = 0; i < STUN_MAX_PEERS; i++) {
		union addr a;

		cr_assert_eq(m.peers_len[i], (i & 1) ? 20 : 8);
		cr_assert_eq(stun_get_addr(r.b, &m, m.peers[i], m.peers_len[i], true, &a), 0);
		cr_assert_eq(a.sa.sa_family, (i & 1) ? AF_INET6 : AF_INET);
	}
	raw_attr(&r, STUN_ATTR_XOR_PEER_ADDRESS, 8);
	cr_assert_eq(raw_parse(&r, &m), STUN_E_TOO_MANY);
}

Test(stun, unknown_attributes)
{
	struct raw r;
	struct stun_msg m;

	raw_init(&r);
	raw_attr(&r, 0x0030, 4);     /* unknown, comprehension-required */
	raw_attr(&r, 0xc001, 4);     /* unknown, comprehension-optional */
	raw_attr(&r, 0x7fff, 0);
	raw_attr(&r, 0x0030, 8);     /* repeated: listed once */
	raw_attr(&r, 0x8888, 7);
	cr_assert_eq(raw_parse(&r, &m), STUN_OK);
	cr_assert_eq(m.n_unknown, 2);
	cr_assert_eq(m.unknown[0], 0x0030);
	cr_assert_eq(m.unknown[1], 0x7fff);

	/* only comprehension-optional ones: nothing to report */
	raw_init(&r);
	raw_attr(&r, 0x8fff, 4);
	raw_attr(&r, 0xffff, 12);
	cr_assert_eq(raw_parse(&r, &m), STUN_OK);
	cr_assert_eq(m.n_unknown, 0);

	/* more than fit: the first STUN_MAX_UNKNOWN are kept, still OK */
	raw_init(&r);
	for (uint16_t t = 0x0100; t < 0x0100 + STUN_MAX_UNKNOWN + 4; t++)
		raw_attr(&r, t, 0);
	cr_assert_eq(raw_parse(&r, &m), STUN_OK);
	cr_assert_eq(m.n_unknown, STUN_MAX_UNKNOWN);
	cr_assert_eq(m.unknown[STUN_MAX_UNKNOWN - 1], 0x0100 + STUN_MAX_UNKNOWN - 1);
}

Test(stun, method_and_class_encoding)
{
	static const uint16_t methods[] = {
		STUN_BINDING, TURN_ALLOCATE, TURN_REFRESH, TURN_SEND, TURN_DATA,
		TURN_CREATE_PERMISSION, TURN_CHANNEL_BIND, TURN_CONNECT,
		TURN_CONNECTION_BIND, TURN_CONNECTION_ATTEMPT, 0x0fff, 0x0abc,
	};
	uint8_t buf[STUN_HEADER_LEN];
	struct stun_builder b;
	struct stun_msg m;

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		for (uint8_t c = 0; c < 4; c++) {
			stun_build(&b, buf, sizeof(buf), methods[i], c, txid_a);
			cr_assert_eq(stun_finish(&b), STUN_HEADER_LEN);
			cr_assert_eq(stun_parse(buf, sizeof(buf), &m), STUN_OK);
			cr_assert_eq(m.method, methods[i]);
			cr_assert_eq(m.cls, c);
		}
	}
	/* known wire values (RFC 8489 §5, RFC 8656) */
	stun_build(&b, buf, sizeof(buf), STUN_BINDING, STUN_SUCCESS, txid_a);
	cr_assert(buf[0] == 0x01 && buf[1] == 0x01);
	stun_build(&b, buf, sizeof(buf), TURN_ALLOCATE, STUN_ERROR, txid_a);
	cr_assert(buf[0] == 0x01 && buf[1] == 0x13);
	stun_build(&b, buf, sizeof(buf), TURN_DATA, STUN_INDICATION, txid_a);
	cr_assert(buf[0] == 0x00 && buf[1] == 0x17);

	stun_build(&b, buf, sizeof(buf), 0x1000, STUN_REQUEST, txid_a);
	cr_assert_eq(stun_finish(&b), -EINVAL);
	stun_build(&b, buf, sizeof(buf), STUN_BINDING, 4, txid_a);
	cr_assert_eq(stun_finish(&b), -EINVAL);
}

Test(stun, is_stun)
{
	uint8_t cd[8] = {0x40, 0x00, 0x00, 0x04};

	cr_assert(stun_is_stun(rfc5769_request, sizeof(rfc5769_request)));
	cr_assert_not(stun_is_stun(rfc5769_request, STUN_HEADER_LEN - 1));
	cr_assert_not(stun_is_stun(cd, sizeof(cd)));
	cr_assert_not(stun_is_stun(NULL, 0));
}

Test(stun, parse_error_names)
{
	for (int i = 0; i < STUN_E__COUNT; i++) {
		const char *n = stun_parse_error_name(i);

		cr_assert(n != NULL && n[0] != '\0' && strcmp(n, "unknown") != 0);
		for (int j = 0; j < i; j++)
			cr_assert_str_neq(n, stun_parse_error_name(j));
	}
	cr_assert_str_eq(stun_parse_error_name(STUN_E_SHORT), "short");
	cr_assert_str_eq(stun_parse_error_name(-1), "unknown");
	cr_assert_str_eq(stun_parse_error_name(STUN_E__COUNT), "unknown");
}

/* ---- builder ----------------------------------------------------------- */

static union addr v4(const char *ip, uint16_t port)
{
	union addr a;

	memset(&a, 0, sizeof(a));
	a.v4.sin_family = AF_INET;
	a.v4.sin_port = htons(port);
	cr_assert_eq(inet_pton(AF_INET, ip, &a.v4.sin_addr), 1);
	return a;
}

static union addr v6(const char *ip, uint16_t port)
{
	union addr a;

	memset(&a, 0, sizeof(a));
	a.v6.sin6_family = AF_INET6;
	a.v6.sin6_port = htons(port);
	cr_assert_eq(inet_pton(AF_INET6, ip, &a.v6.sin6_addr), 1);
	return a;
}

static void assert_addr_eq(const union addr *a, const union addr *b)
{
	cr_assert_eq(a->sa.sa_family, b->sa.sa_family);
	if (a->sa.sa_family == AF_INET) {
		cr_assert_eq(a->v4.sin_port, b->v4.sin_port);
		cr_assert_eq(a->v4.sin_addr.s_addr, b->v4.sin_addr.s_addr);
	} else {
		cr_assert_eq(a->v6.sin6_port, b->v6.sin6_port);
		cr_assert_arr_eq(a->v6.sin6_addr.s6_addr, b->v6.sin6_addr.s6_addr, 16);
	}
}

static const uint8_t txid_b[STUN_TXID_LEN] = {
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
};

/* The request of the round-trip tests; with mi256 also a
 * MESSAGE-INTEGRITY-SHA256 after the MESSAGE-INTEGRITY. Returns
 * stun_finish. */
static int build_request(uint8_t *buf, size_t cap, const uint8_t *key, size_t key_len,
			 bool mi, bool mi256)
{
	union addr p4 = v4("198.51.100.7", 49152);
	union addr p6 = v6("2001:db8::1:2", 3478);
	struct stun_builder b;

	stun_build(&b, buf, cap, TURN_CREATE_PERMISSION, STUN_REQUEST, txid_b);
	stun_put(&b, STUN_ATTR_USERNAME, "alice", 5);
	stun_put(&b, STUN_ATTR_REALM, "example.org", 11);
	stun_put(&b, STUN_ATTR_NONCE, "0123456789abcdef", 16);
	stun_put_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, &p4, true);
	stun_put_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, &p6, true);
	stun_put_u32(&b, STUN_ATTR_LIFETIME, 600);
	if (mi)
		stun_put_integrity(&b, key, key_len);
	if (mi256)
		stun_put_integrity_sha256(&b, key, key_len);
	stun_put_fingerprint(&b);
	return stun_finish(&b);
}

Test(stun, builder_round_trip)
{
	const uint8_t *key = (const uint8_t *)"s3cret";
	union addr want4 = v4("198.51.100.7", 49152), want6 = v6("2001:db8::1:2", 3478);
	uint8_t buf[512];
	struct stun_msg m;
	union addr a;
	int n = build_request(buf, sizeof(buf), key, 6, true, false);

	cr_assert_gt(n, 0);
	cr_assert_eq(n % 4, 0);
	cr_assert_eq(stun_parse(buf, (size_t)n, &m), STUN_OK);
	cr_assert_eq(m.method, TURN_CREATE_PERMISSION);
	cr_assert_eq(m.cls, STUN_REQUEST);
	cr_assert_arr_eq(m.txid, txid_b, STUN_TXID_LEN);
	cr_assert(attr_eq(buf, m.username, m.username_len, "alice"));
	cr_assert(attr_eq(buf, m.realm, m.realm_len, "example.org"));
	cr_assert(attr_eq(buf, m.nonce, m.nonce_len, "0123456789abcdef"));
	cr_assert_eq(stun_get_u32(buf, m.lifetime), 600);
	cr_assert_eq(m.n_peers, 2);
	cr_assert_eq(stun_get_addr(buf, &m, m.peers[0], m.peers_len[0], true, &a), 0);
	assert_addr_eq(&a, &want4);
	cr_assert_eq(stun_get_addr(buf, &m, m.peers[1], m.peers_len[1], true, &a), 0);
	assert_addr_eq(&a, &want6);
	cr_assert_neq(m.fingerprint, 0);
	cr_assert_neq(m.integrity, 0);
	cr_assert(stun_check_integrity(buf, &m, key, 6));
	cr_assert_not(stun_check_integrity(buf, &m, key, 5));
	/* username padding was zeroed */
	cr_assert(buf[m.username + 5] == 0 && buf[m.username + 7] == 0);
}

/* HMAC computed independently with the one-shot API, over a patched copy,
 * to check the SHA256 path (RFC 5769 has no SHA256 vectors). */
static void expect_hmac256(const uint8_t *buf, uint16_t mi_off, uint16_t mi_len,
			   const uint8_t *key, size_t key_len)
{
	uint8_t copy[1024], mac[32];
	unsigned int n = 0;
	size_t upto = mi_off - 4u;
	uint16_t patched = (uint16_t)(mi_off + mi_len - STUN_HEADER_LEN);

	cr_assert_leq(upto, sizeof(copy));
	memcpy(copy, buf, upto);
	copy[2] = (uint8_t)(patched >> 8);
	copy[3] = (uint8_t)patched;
	cr_assert_not_null(HMAC(EVP_sha256(), key, (int)key_len, copy, upto, mac, &n));
	cr_assert_eq(n, 32);
	cr_assert_arr_eq(buf + mi_off, mac, mi_len);
}

Test(stun, builder_sha256_round_trip)
{
	const uint8_t *key = (const uint8_t *)"another key";
	uint8_t buf[512];
	struct stun_msg m;
	int n;

	/* MI-SHA256 alone */
	n = build_request(buf, sizeof(buf), key, 11, false, true);
	cr_assert_gt(n, 0);
	cr_assert_eq(stun_parse(buf, (size_t)n, &m), STUN_OK);
	cr_assert_eq(m.integrity, 0);
	cr_assert_eq(m.integrity256_len, STUN_MI256_LEN);
	expect_hmac256(buf, m.integrity256, m.integrity256_len, key, 11);
	cr_assert(stun_check_integrity(buf, &m, key, 11));
	cr_assert_not(stun_check_integrity(buf, &m, key, 10));

	/* both: SHA256 is the one checked, so corrupting its value fails even
	 * though MESSAGE-INTEGRITY (which it covers) is intact */
	n = build_request(buf, sizeof(buf), key, 11, true, true);
	cr_assert_gt(n, 0);
	cr_assert_eq(stun_parse(buf, (size_t)n, &m), STUN_OK);
	cr_assert(m.integrity != 0 && m.integrity256 != 0);
	cr_assert(stun_check_integrity(buf, &m, key, 11));
	buf[m.integrity256 + 31] ^= 1;
	cr_assert_not(stun_check_integrity(buf, &m, key, 11));
}

/* A peer may send a truncated MESSAGE-INTEGRITY-SHA256 (16..32 bytes). */
Test(stun, sha256_truncated)
{
	const uint8_t *key = (const uint8_t *)"k";
	uint8_t full[512], buf[512];
	struct stun_msg m;
	int n = build_request(full, sizeof(full), key, 1, false, true);
	size_t mi_attr;

	cr_assert_gt(n, 0);
	cr_assert_eq(stun_parse(full, (size_t)n, &m), STUN_OK);
	mi_attr = m.integrity256 - 4u;

	/* rewrite as a 16-byte MAC: MAC first 16 bytes of the new MAC */
	memcpy(buf, full, mi_attr);
	buf[mi_attr] = 0x00;
	buf[mi_attr + 1] = 0x1c;
	buf[mi_attr + 2] = 0x00;
	buf[mi_attr + 3] = 16;
	{
		uint16_t l = (uint16_t)(mi_attr + 20 - STUN_HEADER_LEN);
		uint8_t mac[32];
		unsigned int mn = 0;

		buf[2] = (uint8_t)(l >> 8);
		buf[3] = (uint8_t)l;
		cr_assert_not_null(HMAC(EVP_sha256(), key, 1, buf, mi_attr, mac, &mn));
		memcpy(buf + mi_attr + 4, mac, 16);
	}
	cr_assert_eq(stun_parse(buf, mi_attr + 20, &m), STUN_OK);
	cr_assert_eq(m.integrity256_len, 16);
	cr_assert(stun_check_integrity(buf, &m, key, 1));
	buf[mi_attr + 4 + 15] ^= 0x80;
	cr_assert_not(stun_check_integrity(buf, &m, key, 1));
}

Test(stun, builder_enospc_never_overflows)
{
	const uint8_t *key = (const uint8_t *)"s3cret";
	uint8_t full[512];
	int want = build_request(full, sizeof(full), key, 6, true, true);

	cr_assert_gt(want, 0);
	for (int cap = 0; cap <= want; cap++) {
		enum { CANARY = 32 };
		uint8_t *p = malloc((size_t)cap + CANARY);
		int n;

		cr_assert_not_null(p);
		memset(p, 0xa5, (size_t)cap + CANARY);
		n = build_request(p, (size_t)cap, key, 6, true, true);
		if (cap < want)
			cr_assert_eq(n, -ENOSPC, "cap %d", cap);
		else
			cr_assert_eq(n, want);
		for (int i = 0; i < CANARY; i++)
			cr_assert_eq(p[cap + i], 0xa5, "cap %d wrote at +%d", cap, i);
		if (cap == want)
			cr_assert_arr_eq(p, full, (size_t)want);
		free(p);
	}
}

Test(stun, builder_errors_stick)
{
	uint8_t buf[64];
	struct stun_builder b;
	union addr none;

	memset(&none, 0, sizeof(none));
	stun_build(&b, buf, sizeof(buf), STUN_BINDING, STUN_REQUEST, txid_a);
	stun_put_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, &none, true);
	cr_assert_eq(b.err, -EINVAL);
	stun_put_u32(&b, STUN_ATTR_LIFETIME, 1);
	cr_assert_eq(b.len, STUN_HEADER_LEN);
	cr_assert_eq(stun_finish(&b), -EINVAL);

	stun_build(&b, buf, sizeof(buf), STUN_BINDING, STUN_REQUEST, txid_a);
	stun_put(&b, STUN_ATTR_DATA, NULL, 3);
	cr_assert_eq(stun_finish(&b), -EINVAL);

	stun_build(&b, buf, sizeof(buf), STUN_BINDING, STUN_REQUEST, txid_a);
	stun_put_error(&b, 200, NULL);
	cr_assert_eq(stun_finish(&b), -EINVAL);

	stun_build(&b, NULL, 100, STUN_BINDING, STUN_REQUEST, txid_a);
	cr_assert_eq(stun_finish(&b), -EINVAL);

	/* a message the parser could not index is never built */
	{
		size_t cap = 70000;
		uint8_t *big = malloc(cap);
		static uint8_t zeros[65535];

		cr_assert_not_null(big);
		stun_build(&b, big, cap, STUN_BINDING, STUN_INDICATION, txid_a);
		stun_put(&b, STUN_ATTR_DATA, zeros, 65500);
		cr_assert_eq(stun_finish(&b), STUN_HEADER_LEN + 65504);
		stun_put(&b, STUN_ATTR_PADDING, zeros, 8);
		cr_assert_eq(stun_finish(&b), -ENOSPC);
		free(big);
	}
}

Test(stun, non_xor_addresses)
{
	union addr in4 = v4("203.0.113.9", 1), in6 = v6("fe80::1234", 65535), a;
	uint8_t buf[128];
	struct stun_builder b;
	struct stun_msg m;
	struct raw r;
	int n;

	stun_build(&b, buf, sizeof(buf), STUN_BINDING, STUN_SUCCESS, txid_b);
	stun_put_addr(&b, STUN_ATTR_MAPPED_ADDRESS, &in4, false);
	stun_put_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, &in6, true);
	stun_put_addr(&b, STUN_ATTR_RESPONSE_ORIGIN, &in6, false);
	n = stun_finish(&b);
	cr_assert_gt(n, 0);
	/* MAPPED-ADDRESS is plain: the IP is on the wire as is */
	cr_assert(buf[24] == 0 && buf[25] == 1 && buf[26] == 0 && buf[27] == 1);
	cr_assert(buf[28] == 203 && buf[29] == 0 && buf[30] == 113 && buf[31] == 9);
	cr_assert_eq(stun_parse(buf, (size_t)n, &m), STUN_OK);
	cr_assert_eq(stun_get_addr(buf, &m, 24, 8, false, &a), 0);
	assert_addr_eq(&a, &in4);
	cr_assert_eq(stun_get_addr(buf, &m, m.xor_mapped, m.xor_mapped_len, true, &a), 0);
	assert_addr_eq(&a, &in6);
	cr_assert_eq(stun_get_addr(buf, &m, 60, 20, false, &a), 0);
	assert_addr_eq(&a, &in6);

	/* family and length must agree */
	raw_init(&r);
	raw_attr(&r, STUN_ATTR_XOR_MAPPED_ADDRESS, 8);
	r.b[25] = 2;
	cr_assert_eq(raw_parse(&r, &m), STUN_OK);
	cr_assert_eq(stun_get_addr(r.b, &m, m.xor_mapped, m.xor_mapped_len, true, &a), -EINVAL);
	r.b[25] = 3;
	cr_assert_eq(stun_get_addr(r.b, &m, m.xor_mapped, m.xor_mapped_len, true, &a), -EINVAL);
	r.b[25] = 1;
	cr_assert_eq(stun_get_addr(r.b, &m, m.xor_mapped, m.xor_mapped_len, true, &a), 0);
	/* absent attribute, or an offset outside the message */
	cr_assert_eq(stun_get_addr(r.b, &m, 0, 0, true, &a), -EINVAL);
	cr_assert_eq(stun_get_addr(r.b, &m, 24, 20, true, &a), -EINVAL);
}

Test(stun, error_code)
{
	uint8_t buf[256];
	struct stun_builder b;
	struct stun_msg m;
	struct raw r;
	int n;

	stun_build(&b, buf, sizeof(buf), TURN_ALLOCATE, STUN_ERROR, txid_b);
	stun_put_error(&b, STUN_ERR_UNAUTHORIZED, NULL);
	n = stun_finish(&b);
	cr_assert_gt(n, 0);
	cr_assert_eq(stun_parse(buf, (size_t)n, &m), STUN_OK);
	cr_assert_eq(m.cls, STUN_ERROR);
	cr_assert_eq(stun_get_error_code(buf, &m), 401);
	cr_assert_eq(m.error_code_len, 4 + strlen("Unauthorized"));
	cr_assert_arr_eq(buf + m.error_code + 4, "Unauthorized", 12);

	stun_build(&b, buf, sizeof(buf), TURN_REFRESH, STUN_ERROR, txid_b);
	stun_put_error(&b, STUN_ERR_STALE_NONCE, "go again");
	n = stun_finish(&b);
	cr_assert_eq(stun_parse(buf, (size_t)n, &m), STUN_OK);
	cr_assert_eq(stun_get_error_code(buf, &m), 438);

	/* malformed class / number / absent */
	raw_init(&r);
	raw_attr(&r, STUN_ATTR_ERROR_CODE, 4);
	cr_assert_eq(raw_parse(&r, &m), STUN_OK);
	r.b[26] = 7;
	cr_assert_eq(stun_get_error_code(r.b, &m), -EINVAL);
	r.b[26] = 2;
	cr_assert_eq(stun_get_error_code(r.b, &m), -EINVAL);
	r.b[26] = 4;
	r.b[27] = 100;
	cr_assert_eq(stun_get_error_code(r.b, &m), -EINVAL);
	r.b[27] = 20;
	cr_assert_eq(stun_get_error_code(r.b, &m), 420);
	raw_init(&r);
	cr_assert_eq(raw_parse(&r, &m), STUN_OK);
	cr_assert_eq(stun_get_error_code(r.b, &m), -EINVAL);

	cr_assert_str_eq(stun_error_reason(401), "Unauthorized");
	cr_assert_str_eq(stun_error_reason(437), "Allocation Mismatch");
	cr_assert_not_null(stun_error_reason(499));
}

Test(stun, unknown_attributes_build)
{
	static const uint16_t types[] = {0x0030, 0x0031, 0x0032};
	uint8_t buf[64];
	struct stun_builder b;
	struct stun_msg m;
	int n;

	stun_build(&b, buf, sizeof(buf), STUN_BINDING, STUN_ERROR, txid_b);
	stun_put_error(&b, STUN_ERR_UNKNOWN_ATTRIBUTE, NULL);
	stun_put_unknown(&b, types, 3);
	n = stun_finish(&b);
	cr_assert_gt(n, 0);
	cr_assert_eq(stun_parse(buf, (size_t)n, &m), STUN_OK);
	cr_assert_eq(stun_get_error_code(buf, &m), 420);
	cr_assert(buf[n - 8] == 0x00 && buf[n - 7] == 0x30 && buf[n - 4] == 0x00 &&
		  buf[n - 3] == 0x32 && buf[n - 2] == 0 && buf[n - 1] == 0);
}

/* ---- ChannelData and stream framing ------------------------------------ */

Test(stun, channel_data)
{
	uint8_t buf[16] = {0};
	uint16_t ch = 0, dl = 0;

	turn_channel_header(buf, 0x4001, 5);
	cr_assert(buf[0] == 0x40 && buf[1] == 0x01 && buf[2] == 0 && buf[3] == 5);
	cr_assert(turn_is_channel_data(buf, 9));
	cr_assert_eq(turn_channel_parse(buf, 9, &ch, &dl), 0);
	cr_assert_eq(ch, 0x4001);
	cr_assert_eq(dl, 5);
	/* padding (TCP) or trailing bytes */
	cr_assert_eq(turn_channel_parse(buf, 12, &ch, &dl), 0);
	cr_assert_eq(dl, 5);
	/* length past the buffer */
	cr_assert_eq(turn_channel_parse(buf, 8, &ch, &dl), -EINVAL);
	cr_assert_eq(turn_channel_parse(buf, 3, &ch, &dl), -EINVAL);
	/* empty payload */
	turn_channel_header(buf, TURN_CHANNEL_MAX, 0);
	cr_assert_eq(turn_channel_parse(buf, 4, &ch, &dl), 0);
	cr_assert_eq(ch, TURN_CHANNEL_MAX);
	cr_assert_eq(dl, 0);
	/* channel out of range */
	static const uint16_t bad[] = {0x0000, 0x3fff, 0x7fff, 0x8000, 0xffff};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		turn_channel_header(buf, bad[i], 0);
		cr_assert_not(turn_is_channel_data(buf, 4));
		cr_assert_eq(turn_channel_parse(buf, 4, &ch, &dl), -EINVAL, "%#x", bad[i]);
	}
	cr_assert_not(turn_channel_parse(NULL, 0, NULL, NULL) == 0);
	/* a STUN message is not ChannelData */
	cr_assert_not(turn_is_channel_data(rfc5769_request, sizeof(rfc5769_request)));
}

Test(stun, frame_len)
{
	uint8_t cd[4];
	uint8_t stun[8];

	/* STUN: 20 + length */
	cr_assert_eq(stun_frame_len(rfc5769_request, sizeof(rfc5769_request)),
		     (int)sizeof(rfc5769_request));
	cr_assert_eq(stun_frame_len(rfc5769_request, 4), (int)sizeof(rfc5769_request));
	cr_assert_eq(stun_frame_len(rfc5769_request, 3), 0);
	cr_assert_eq(stun_frame_len(rfc5769_request, 0), 0);
	memcpy(stun, rfc5769_request, 8);
	stun[7] ^= 1;
	cr_assert_eq(stun_frame_len(stun, 8), -EINVAL);
	memcpy(stun, rfc5769_request, 8);
	stun[3] = 0x59;
	cr_assert_eq(stun_frame_len(stun, 8), -EINVAL);

	/* ChannelData: 4 + length rounded up to 4 */
	for (uint16_t n = 0; n < 9; n++) {
		turn_channel_header(cd, 0x4abc, n);
		cr_assert_eq(stun_frame_len(cd, 4), 4 + ((n + 3) & ~3), "n=%u", n);
	}
	turn_channel_header(cd, 0x4000, 0xffff);
	cr_assert_eq(stun_frame_len(cd, 4), 4 + 0x10000);

	/* garbage; 0x5000-0x7FFE is accepted (RFC 5766 range, see stun.h) */
	turn_channel_header(cd, 0x5000, 4);
	cr_assert_eq(stun_frame_len(cd, 4), 8);
	turn_channel_header(cd, 0x7fff, 4);
	cr_assert_eq(stun_frame_len(cd, 4), -EINVAL);
	turn_channel_header(cd, 0x8000, 4);
	cr_assert_eq(stun_frame_len(cd, 4), -EINVAL);
	turn_channel_header(cd, 0xffff, 0xffff);
	cr_assert_eq(stun_frame_len(cd, 4), -EINVAL);
}

/* ---- robustness -------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
	/* splitmix64: deterministic, so a failure reproduces */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Exercise every reader on a parsed message the way the relay would. */
static void use_msg(const uint8_t *buf, const struct stun_msg *m, bool mac)
{
	union addr a;

	if (m->xor_mapped)
		(void)stun_get_addr(buf, m, m->xor_mapped, m->xor_mapped_len, true, &a);
	if (m->xor_relayed)
		(void)stun_get_addr(buf, m, m->xor_relayed, m->xor_relayed_len, true, &a);
	for (int i = 0; i < m->n_peers; i++)
		(void)stun_get_addr(buf, m, m->peers[i], m->peers_len[i], true, &a);
	if (m->lifetime)
		(void)stun_get_u32(buf, m->lifetime);
	if (m->channel_number)
		(void)stun_get_u32(buf, m->channel_number);
	(void)stun_get_error_code(buf, m);
	if (mac)
		(void)stun_check_integrity(buf, m, (const uint8_t *)"key", 3);
}

Test(stun, mutation_loop_does_not_crash, .timeout = 300)
{
	static const struct {
		const uint8_t *p;
		size_t n;
	} seeds[] = {
		{rfc5769_request, sizeof(rfc5769_request)},
		{rfc5769_response_v4, sizeof(rfc5769_response_v4)},
		{rfc5769_response_v6, sizeof(rfc5769_response_v6)},
		{rfc5769_longterm, sizeof(rfc5769_longterm)},
	};
	uint8_t built[512], work[1024];
	uint64_t s = 0x5eed5eed12345678ull;
	int n_built = build_request(built, sizeof(built), (const uint8_t *)"key", 3, true, true);
	int ok = 0;

	cr_assert_gt(n_built, 0);
	for (int iter = 0; iter < 200000; iter++) {
		uint64_t r = rng_next(&s);
		size_t len;
		struct stun_msg m;
		uint16_t ch, dl;
		uint8_t *p;

		/* pick a seed, or pure noise */
		switch (r % 6) {
		case 0:
			len = rng_next(&s) % 128;
			for (size_t i = 0; i < len; i++)
				work[i] = (uint8_t)rng_next(&s);
			break;
		case 1:
			len = (size_t)n_built;
			memcpy(work, built, len);
			break;
		default: {
			size_t k = (r >> 8) % (sizeof(seeds) / sizeof(seeds[0]));

			len = seeds[k].n;
			memcpy(work, seeds[k].p, len);
			break;
		}
		}
		/* mutate: flips, random bytes, truncation, extension */
		for (int k = (int)(rng_next(&s) % 6); k > 0 && len > 0; k--) {
			uint64_t q = rng_next(&s);
			size_t at = (size_t)(q >> 16) % len;

			switch (q % 5) {
			case 0: work[at] ^= (uint8_t)(1u << (q >> 8 & 7)); break;
			case 1: work[at] = (uint8_t)(q >> 40); break;
			case 2: len = at; break;
			case 3:
				if (len + 4 <= sizeof(work)) {
					memset(work + len, (int)(q >> 48), 4);
					len += 4;
				}
				break;
			case 4:
				/* attribute length bytes are the interesting ones */
				if ((at | 2) < len)
					work[at | 2] = (uint8_t)(q >> 24);
				break;
			}
		}
		/* often keep the header consistent so the attribute walk runs */
		if (len >= STUN_HEADER_LEN && (rng_next(&s) & 1)) {
			work[2] = (uint8_t)((len - STUN_HEADER_LEN) >> 8);
			work[3] = (uint8_t)(len - STUN_HEADER_LEN);
		}

		/* an exact-size heap copy, so ASan sees any over-read */
		if (parse_heap(work, len, &m, &p) == STUN_OK) {
			ok++;
			use_msg(p, &m, (iter & 15) == 0);
		}
		(void)stun_frame_len(p, len);
		(void)turn_is_channel_data(p, len);
		(void)stun_is_stun(p, len);
		if (len >= 2) {
			/* and as ChannelData */
			p[0] = (uint8_t)(0x40 | (p[0] & 0x0f));
			(void)turn_channel_parse(p, len, &ch, &dl);
			if (turn_channel_parse(p, len, &ch, &dl) == 0)
				cr_assert_leq((size_t)dl + 4, len);
		}
		free(p);
	}
	/* the loop is pointless if nothing ever got through the header */
	cr_assert_gt(ok, 1000);
}

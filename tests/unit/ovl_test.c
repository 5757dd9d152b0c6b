/* ovl: the overlay message codec. Round trips, framing over a stream, and
 * every way a hostile buffer can be wrong. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "proto/ovl.h"
#include "proto/wire.h"

static union addr v4(const char *ip, uint16_t port)
{
	union addr a = { 0 };

	a.v4.sin_family = AF_INET;
	a.v4.sin_port = htons(port);
	inet_pton(AF_INET, ip, &a.v4.sin_addr);
	return a;
}

static union addr v6(const char *ip, uint16_t port)
{
	union addr a = { 0 };

	a.v6.sin6_family = AF_INET6;
	a.v6.sin6_port = htons(port);
	inet_pton(AF_INET6, ip, &a.v6.sin6_addr);
	return a;
}

static int build_ok(uint8_t *buf, size_t cap)
{
	struct ovl_builder b;
	uint8_t cert[100];
	union addr a1 = v4("198.51.100.7", 3478), a2 = v6("2001:db8::1", 443);

	memset(cert, 0xab, sizeof(cert));
	ovl_build(&b, buf, cap, OVL_LOGIN_OK, 0x01020304);
	ovl_put(&b, OVL_A_CERT, cert, sizeof(cert));
	ovl_put_str(&b, OVL_A_TURN_USER, "1700000000:alice");
	ovl_put_str(&b, OVL_A_TURN_PASSWORD, "c2VjcmV0");
	ovl_put_u64(&b, OVL_A_EXPIRES, 1700000000);
	ovl_put_u64(&b, OVL_A_TIME, 1699990000);
	ovl_put_addr(&b, &a1);
	ovl_put_addr(&b, &a2);
	return ovl_finish(&b);
}

Test(ovl, round_trip)
{
	uint8_t buf[1024];
	struct ovl_msg m;
	union addr a;
	int n = build_ok(buf, sizeof(buf));

	cr_assert_gt(n, OVL_HEADER_LEN);
	cr_assert_eq(ovl_frame_len(buf, (size_t)n), n);
	cr_assert_eq(ovl_parse(buf, (size_t)n, &m), 0);
	cr_assert_eq(m.type, OVL_LOGIN_OK);
	cr_assert_eq(m.id, 0x01020304u);
	cr_assert(ovl_has(&m, OVL_A_CERT));
	cr_assert_eq(m.alen[OVL_A_CERT], 100);
	cr_assert_eq(m.alen[OVL_A_TURN_USER], strlen("1700000000:alice"));
	cr_assert_eq(memcmp(buf + m.off[OVL_A_TURN_USER], "1700000000:alice", 16), 0);
	cr_assert_eq(ovl_get_u64(buf, &m, OVL_A_EXPIRES), 1700000000u);
	cr_assert_eq(ovl_get_u64(buf, &m, OVL_A_TIME), 1699990000u);
	cr_assert(!ovl_has(&m, OVL_A_USER));
	cr_assert_eq(m.n_addrs, 2);
	cr_assert_eq(ovl_get_addr(buf, &m, 0, &a), 0);
	cr_assert(addr_equal(&a, &(union addr){ .v4 = v4("198.51.100.7", 3478).v4 }));
	cr_assert_eq(ovl_get_addr(buf, &m, 1, &a), 0);
	cr_assert_eq(a.sa.sa_family, AF_INET6);
	cr_assert_eq(ntohs(a.v6.sin6_port), 443);
	cr_assert_eq(ovl_get_addr(buf, &m, 2, &a), -EINVAL);
}

Test(ovl, error_message)
{
	uint8_t buf[256];
	struct ovl_msg m;
	int n = ovl_build_error(buf, sizeof(buf), 7, OVL_E_UNAUTHORIZED, "wrong user name or password");

	cr_assert_gt(n, 0);
	cr_assert_eq(ovl_parse(buf, (size_t)n, &m), 0);
	cr_assert_eq(m.type, OVL_ERROR);
	cr_assert_eq(m.id, 7u);
	cr_assert_eq(ovl_get_u16(buf, &m, OVL_A_ERROR_CODE), 401);
	cr_assert_eq(m.alen[OVL_A_TEXT], strlen("wrong user name or password"));
}

Test(ovl, every_truncation_is_refused)
{
	uint8_t buf[1024];
	struct ovl_msg m;
	int n = build_ok(buf, sizeof(buf));

	for (int i = 0; i < n; i++)
		cr_assert_neq(ovl_parse(buf, (size_t)i, &m), 0, "prefix of %d bytes parsed", i);
	/* The stream framing waits for a header, then names the full length. */
	for (int i = 0; i < OVL_HEADER_LEN; i++)
		cr_assert_eq(ovl_frame_len(buf, (size_t)i), 0);
	for (int i = OVL_HEADER_LEN; i <= n; i++)
		cr_assert_eq(ovl_frame_len(buf, (size_t)i), n);
}

Test(ovl, bad_headers)
{
	uint8_t buf[1024];
	struct ovl_msg m;
	int n = build_ok(buf, sizeof(buf));

	buf[0] = 0x00;      /* STUN's first byte */
	cr_assert_eq(ovl_frame_len(buf, (size_t)n), -EBADMSG);
	cr_assert_eq(ovl_parse(buf, (size_t)n, &m), -EBADMSG);
	buf[0] = OVL_MAGIC;
	wire_put16(buf + 2, 0xffff);   /* longer than OVL_MAX_LEN */
	cr_assert_eq(ovl_frame_len(buf, sizeof(buf)), -EBADMSG);
	wire_put16(buf + 2, (uint16_t)(n - OVL_HEADER_LEN + 4)); /* claims more than there is */
	cr_assert_eq(ovl_parse(buf, (size_t)n, &m), -EBADMSG);
}

Test(ovl, wrong_attribute_sizes)
{
	static const struct {
		enum ovl_attr a;
		size_t len;
	} bad[] = {
		{ OVL_A_USER, 0 },       { OVL_A_USER, 65 },       { OVL_A_DEVICE_KEY, 31 },
		{ OVL_A_DEVICE_KEY, 33 }, { OVL_A_NONCE, 16 },     { OVL_A_SIGNATURE, 63 },
		{ OVL_A_EXPIRES, 4 },    { OVL_A_ERROR_CODE, 4 }, { OVL_A_ADDR, 12 },
		{ OVL_A_PASSWORD, 1025 }, { OVL_A_CERT, 513 },    { OVL_A_TEXT, 513 },
	};
	static uint8_t zeros[2048];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t buf[4096];
		struct ovl_builder b;
		struct ovl_msg m;
		int n;

		ovl_build(&b, buf, sizeof(buf), OVL_LOGIN_DEVICE, 1);
		ovl_put(&b, bad[i].a, zeros, bad[i].len);
		n = ovl_finish(&b);
		cr_assert_gt(n, 0);
		cr_assert_eq(ovl_parse(buf, (size_t)n, &m), -EBADMSG, "attribute %d of %zu bytes",
			     bad[i].a, bad[i].len);
	}
}

Test(ovl, unknown_attributes_are_skipped)
{
	uint8_t buf[256];
	struct ovl_builder b;
	struct ovl_msg m;
	int n;

	ovl_build(&b, buf, sizeof(buf), OVL_LOGIN_DEVICE, 9);
	ovl_put(&b, (enum ovl_attr)999, "future", 6);
	ovl_put_str(&b, OVL_A_USER, "bob");
	n = ovl_finish(&b);
	cr_assert_eq(ovl_parse(buf, (size_t)n, &m), 0);
	cr_assert_eq(m.alen[OVL_A_USER], 3);
	cr_assert_eq(memcmp(buf + m.off[OVL_A_USER], "bob", 3), 0);
}

Test(ovl, bad_address_family)
{
	uint8_t buf[256];
	struct ovl_builder b;
	struct ovl_msg m;
	union addr a = v4("192.0.2.1", 1);
	int n;

	ovl_build(&b, buf, sizeof(buf), OVL_BOOTSTRAP, 1);
	ovl_put_addr(&b, &a);
	n = ovl_finish(&b);
	buf[OVL_HEADER_LEN + 4] = 9;   /* family byte */
	cr_assert_eq(ovl_parse(buf, (size_t)n, &m), 0);
	cr_assert_eq(ovl_get_addr(buf, &m, 0, &a), -EINVAL);
}

Test(ovl, builder_overflow_is_reported)
{
	uint8_t buf[32];
	struct ovl_builder b;

	ovl_build(&b, buf, sizeof(buf), OVL_LOGIN_PASSWORD, 1);
	ovl_put_str(&b, OVL_A_USER, "alice");
	ovl_put_str(&b, OVL_A_PASSWORD, "a password that does not fit");
	cr_assert_eq(ovl_finish(&b), -ENOSPC);
	cr_assert_eq(ovl_build_error(buf, 4, 1, OVL_E_SERVER, "x"), -ENOSPC);
}

Test(ovl, nodes_round_trip)
{
	uint8_t buf[512];
	struct ovl_builder b;
	struct ovl_msg m;
	struct ovl_node in[3] = {
		{ .id = 0x1122334455667788ull, .incarnation = 7, .state = 0, .addr = v4("127.0.0.2", 4000) },
		{ .id = 42, .incarnation = 0xffffffffu, .state = 1, .addr = v6("::1", 4001) },
		{ .id = 1, .incarnation = 0, .state = 3, .addr = v4("127.0.0.3", 1) },
	}, out, t;
	int n;

	ovl_build(&b, buf, sizeof(buf), OVL_SWIM_PING_REQ, 5);
	ovl_put_u64(&b, OVL_A_EXPIRES, 1); /* any other attribute in between */
	for (int i = 0; i < 3; i++)
		ovl_put_node(&b, OVL_A_NODE, &in[i]);
	ovl_put_node(&b, OVL_A_TARGET, &in[1]);
	n = ovl_finish(&b);
	cr_assert_gt(n, 0);
	cr_assert_eq(ovl_parse(buf, (size_t)n, &m), 0);
	cr_assert_eq(m.n_nodes, 3);
	for (unsigned i = 0; i < 3; i++) {
		cr_assert_eq(ovl_get_node(buf, &m, i, &out), 0);
		cr_assert_eq(out.id, in[i].id);
		cr_assert_eq(out.incarnation, in[i].incarnation);
		cr_assert_eq(out.state, in[i].state);
		cr_assert(addr_equal(&out.addr, &in[i].addr));
	}
	cr_assert_eq(ovl_get_node(buf, &m, 3, &out), -EINVAL);
	cr_assert(ovl_has(&m, OVL_A_TARGET));
	cr_assert_eq(ovl_node_decode(buf + m.off[OVL_A_TARGET], m.alen[OVL_A_TARGET], &t), 0);
	cr_assert_eq(t.id, 42u);
	/* A state beyond "left" is refused. */
	buf[m.nodes[0] + 12] = 4;
	cr_assert_eq(ovl_get_node(buf, &m, 0, &out), -EINVAL);
}

/* Unit tests for proto/addr. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "proto/addr.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static union addr parse_ok(const char *s, uint16_t default_port)
{
	union addr a;
	int ret = addr_parse(s, default_port, &a);

	cr_assert_eq(ret, 0, "addr_parse(\"%s\") = %d", s, ret);
	return a;
}

/* ------------------------------------------------------------------ */
/* addr_parse / addr_format                                            */
/* ------------------------------------------------------------------ */

Test(addr, parse_ipv4_with_port)
{
	union addr a = parse_ok("192.0.2.1:3478", 0);

	cr_assert_eq(a.sa.sa_family, AF_INET);
	cr_assert_eq(a.v4.sin_addr.s_addr, htonl(0xc0000201));
	cr_assert_eq(addr_port(&a), 3478);
	cr_assert_eq(addr_len(&a), sizeof(struct sockaddr_in));
}

Test(addr, parse_ipv6_with_port)
{
	union addr a = parse_ok("[2001:db8::1]:65535", 7);
	struct in6_addr want;

	inet_pton(AF_INET6, "2001:db8::1", &want);
	cr_assert_eq(a.sa.sa_family, AF_INET6);
	cr_assert_eq(memcmp(&a.v6.sin6_addr, &want, 16), 0);
	cr_assert_eq(addr_port(&a), 65535);
	cr_assert_eq(a.v6.sin6_scope_id, 0);
	cr_assert_eq(addr_len(&a), sizeof(struct sockaddr_in6));
}

Test(addr, parse_without_port_uses_default)
{
	union addr a;

	a = parse_ok("::1", 0);
	cr_assert_eq(a.sa.sa_family, AF_INET6);
	cr_assert_eq(addr_port(&a), 0);

	a = parse_ok("::1", 3478);
	cr_assert_eq(addr_port(&a), 3478);

	a = parse_ok("[::1]", 5349);
	cr_assert_eq(a.sa.sa_family, AF_INET6);
	cr_assert_eq(addr_port(&a), 5349);

	a = parse_ok("10.1.2.3", 3478);
	cr_assert_eq(a.sa.sa_family, AF_INET);
	cr_assert_eq(addr_port(&a), 3478);

	/* Two or more colons without brackets: an address, never a port. */
	a = parse_ok("2001:db8::5:3478", 9);
	cr_assert_eq(a.sa.sa_family, AF_INET6);
	cr_assert_eq(addr_port(&a), 9);

	a = parse_ok("::ffff:1.2.3.4", 0);
	cr_assert_eq(a.sa.sa_family, AF_INET6);
}

Test(addr, parse_explicit_port_overrides_default)
{
	union addr a = parse_ok("1.2.3.4:0", 3478);

	cr_assert_eq(addr_port(&a), 0);
	a = parse_ok("[::]:00080", 3478);
	cr_assert_eq(addr_port(&a), 80);
}

Test(addr, parse_rejects_junk)
{
	static const char *const bad[] = {
		"",
		":",
		"1.2.3.4:",
		"1.2.3.4:65536",
		"1.2.3.4:99999",
		"1.2.3.4:123456",
		"1.2.3.4:-1",
		"1.2.3.4:+5",
		"1.2.3.4: 5",
		"1.2.3.4:5 ",
		"1.2.3.4:0x10",
		" 1.2.3.4",
		"1.2.3",
		"1.2.3.4.5",
		"256.1.1.1",
		"01.2.3.4",
		"localhost",
		"localhost:3478",
		"example.com:80",
		"[::1",
		"[::1]:",
		"[::1]x",
		"[::1]:5x",
		"[::1]:70000",
		"[]:5",
		"[]",
		"[1.2.3.4]:5",
		"::1]",
		"[[::1]]:5",
		":::",
		"1::2::3",
		"fe80::1%eth0",
		"[fe80::1%1]:5",
		"12345:6789::1",
		"2001:db8:0:0:0:0:0:0:1",
		"1.2.3.4:5:6",
		"[::1]:5:6",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1",
	};

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		union addr a;

		memset(&a, 0x5a, sizeof(a));
		cr_expect_eq(addr_parse(bad[i], 0, &a), -EINVAL,
			     "addr_parse(\"%s\") should fail", bad[i]);
	}
	cr_expect_eq(addr_parse(NULL, 0, &(union addr){ 0 }), -EINVAL);
}

Test(addr, parse_failure_leaves_output_alone)
{
	union addr a = parse_ok("1.2.3.4:5", 0);
	union addr before = a;

	cr_assert_eq(addr_parse("1.2.3.4:70000", 0, &a), -EINVAL);
	cr_assert(addr_equal(&a, &before));
}

Test(addr, format_round_trip)
{
	static const char *const forms[] = {
		"0.0.0.0:0",
		"1.2.3.4:5",
		"255.255.255.255:65535",
		"[::]:0",
		"[::1]:5",
		"[2001:db8::1]:3478",
		"[fe80::1:2:3:4]:1",
		"[::ffff:10.0.0.1]:443",
		"[2001:db8:1:2:3:4:5:6]:65535",
	};
	char buf[ADDR_STRLEN];

	for (size_t i = 0; i < ARRAY_LEN(forms); i++) {
		union addr a = parse_ok(forms[i], 0), b;

		cr_expect_str_eq(addr_format(&a, buf, sizeof(buf)), forms[i]);
		cr_assert_eq(addr_parse(buf, 0, &b), 0, "%s", buf);
		cr_expect(addr_equal(&a, &b), "%s", forms[i]);
	}
}

Test(addr, format_odd_cases)
{
	char buf[ADDR_STRLEN], tiny[6];
	union addr a;

	memset(&a, 0, sizeof(a));
	cr_expect_str_eq(addr_format(&a, buf, sizeof(buf)), "?");

	a = parse_ok("[fe80::1]:5", 0);
	a.v6.sin6_scope_id = 4294967295u;
	cr_expect_str_eq(addr_format(&a, buf, sizeof(buf)),
			 "[fe80::1%4294967295]:5");

	/* The longest form fits ADDR_STRLEN. */
	a = parse_ok("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", 0);
	a.v6.sin6_scope_id = 4294967295u;
	cr_expect_str_eq(addr_format(&a, buf, sizeof(buf)),
			 "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535");

	/* A short buffer truncates, NUL-terminated. */
	a = parse_ok("1.2.3.4:5", 0);
	cr_expect_str_eq(addr_format(&a, tiny, sizeof(tiny)), "1.2.3");
}

/* ------------------------------------------------------------------ */
/* addr_classify                                                       */
/* ------------------------------------------------------------------ */

Test(addr, classify_every_class)
{
	static const struct {
		const char *ip;
		enum addr_class want;
	} cases[] = {
		/* unspecified */
		{ "0.0.0.0", ADDR_UNSPECIFIED },
		{ "0.255.255.255", ADDR_UNSPECIFIED },
		{ "::", ADDR_UNSPECIFIED },
		{ "::ffff:0.0.0.0", ADDR_UNSPECIFIED },
		{ "::0.1.2.3", ADDR_UNSPECIFIED },
		/* loopback, in every encoding */
		{ "127.0.0.1", ADDR_LOOPBACK },
		{ "127.255.255.254", ADDR_LOOPBACK },
		{ "::1", ADDR_LOOPBACK },
		{ "::ffff:127.0.0.1", ADDR_LOOPBACK },
		{ "::127.0.0.1", ADDR_LOOPBACK },
		{ "64:ff9b::7f00:1", ADDR_LOOPBACK },
		{ "2002:7f00:1::", ADDR_LOOPBACK },
		{ "2002:7f00:1:ffff:ffff:ffff:ffff:ffff", ADDR_LOOPBACK },
		/* private */
		{ "10.0.0.1", ADDR_PRIVATE },
		{ "10.255.255.255", ADDR_PRIVATE },
		{ "172.16.0.1", ADDR_PRIVATE },
		{ "172.31.255.255", ADDR_PRIVATE },
		{ "192.168.1.1", ADDR_PRIVATE },
		{ "100.64.0.1", ADDR_PRIVATE },
		{ "100.127.255.255", ADDR_PRIVATE },
		{ "::ffff:10.0.0.1", ADDR_PRIVATE },
		{ "::10.0.0.1", ADDR_PRIVATE },
		{ "64:ff9b::c0a8:101", ADDR_PRIVATE },
		{ "2002:c0a8:101::1", ADDR_PRIVATE },
		{ "fc00::1", ADDR_PRIVATE },
		{ "fd12::1", ADDR_PRIVATE },
		{ "fec0::1", ADDR_PRIVATE },
		{ "feff::1", ADDR_PRIVATE },
		{ "fdff:ffff::1", ADDR_PRIVATE },
		/* link-local */
		{ "169.254.1.1", ADDR_LINK_LOCAL },
		{ "::ffff:169.254.169.254", ADDR_LINK_LOCAL },
		{ "fe80::1", ADDR_LINK_LOCAL },
		{ "febf:ffff::1", ADDR_LINK_LOCAL },
		/* multicast and broadcast */
		{ "224.0.0.1", ADDR_MULTICAST },
		{ "239.255.255.255", ADDR_MULTICAST },
		{ "255.255.255.255", ADDR_MULTICAST },
		{ "::ffff:224.0.0.1", ADDR_MULTICAST },
		{ "ff02::1", ADDR_MULTICAST },
		{ "ff0e::1", ADDR_MULTICAST },
		/* reserved */
		{ "240.0.0.1", ADDR_RESERVED },
		{ "255.255.255.254", ADDR_RESERVED },
		{ "192.0.0.1", ADDR_RESERVED },
		{ "192.0.0.255", ADDR_RESERVED },
		{ "198.18.0.1", ADDR_RESERVED },
		{ "198.19.255.255", ADDR_RESERVED },
		{ "64:ff9b:1::1", ADDR_RESERVED },
		{ "2001::1", ADDR_RESERVED },
		{ "2001:0:4136:e378:8000:63bf:3fff:fdd2", ADDR_RESERVED },
		{ "2001:1ff::1", ADDR_RESERVED },
		{ "2002:f000:1::", ADDR_RESERVED },
		/* public, edges of the ranges above included */
		{ "8.8.8.8", ADDR_PUBLIC },
		{ "1.0.0.0", ADDR_PUBLIC },
		{ "9.255.255.255", ADDR_PUBLIC },
		{ "11.0.0.0", ADDR_PUBLIC },
		{ "126.255.255.255", ADDR_PUBLIC },
		{ "128.0.0.0", ADDR_PUBLIC },
		{ "172.15.255.255", ADDR_PUBLIC },
		{ "172.32.0.1", ADDR_PUBLIC },
		{ "192.167.255.255", ADDR_PUBLIC },
		{ "192.169.0.0", ADDR_PUBLIC },
		{ "100.63.255.255", ADDR_PUBLIC },
		{ "100.128.0.0", ADDR_PUBLIC },
		{ "169.253.255.255", ADDR_PUBLIC },
		{ "169.255.0.0", ADDR_PUBLIC },
		{ "223.255.255.255", ADDR_PUBLIC },
		{ "192.0.1.0", ADDR_PUBLIC },
		{ "198.17.255.255", ADDR_PUBLIC },
		{ "198.20.0.0", ADDR_PUBLIC },
		{ "192.0.2.1", ADDR_PUBLIC },
		{ "198.51.100.7", ADDR_PUBLIC },
		{ "203.0.113.200", ADDR_PUBLIC },
		{ "::ffff:8.8.8.8", ADDR_PUBLIC },
		{ "::8.8.8.8", ADDR_PUBLIC },
		{ "64:ff9b::808:808", ADDR_PUBLIC },
		{ "2002:808:808::1", ADDR_PUBLIC },
		{ "2001:4860::8888", ADDR_PUBLIC },
		{ "2001:4860:4860::8888", ADDR_PUBLIC },
		{ "2001:200::1", ADDR_PUBLIC },
		{ "2001:db8::1", ADDR_PUBLIC },
		{ "64:ff9b:2::1", ADDR_PUBLIC },
		{ "fbff:ffff::1", ADDR_PUBLIC },
		{ "fe00::1", ADDR_PUBLIC },
		{ "::1:0:0:0", ADDR_PUBLIC },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		union addr a = parse_ok(cases[i].ip, 0);
		enum addr_class got = addr_classify(&a);

		cr_expect_eq(got, cases[i].want, "%s: got %s, want %s",
			     cases[i].ip, addr_class_name(got),
			     addr_class_name(cases[i].want));
	}
}

Test(addr, classify_unknown_family_is_reserved)
{
	union addr a;

	memset(&a, 0, sizeof(a));
	cr_expect_eq(addr_classify(&a), ADDR_RESERVED);
}

Test(addr, class_names)
{
	cr_expect_str_eq(addr_class_name(ADDR_PUBLIC), "public");
	cr_expect_str_eq(addr_class_name(ADDR_UNSPECIFIED), "unspecified");
	cr_expect_str_eq(addr_class_name(ADDR_LOOPBACK), "loopback");
	cr_expect_str_eq(addr_class_name(ADDR_PRIVATE), "private");
	cr_expect_str_eq(addr_class_name(ADDR_LINK_LOCAL), "link-local");
	cr_expect_str_eq(addr_class_name(ADDR_MULTICAST), "multicast");
	cr_expect_str_eq(addr_class_name(ADDR_RESERVED), "reserved");
	cr_expect_str_eq(addr_class_name((enum addr_class)99), "?");
}

/* ------------------------------------------------------------------ */
/* Prefixes                                                            */
/* ------------------------------------------------------------------ */

static struct addr_prefix prefix_ok(const char *s)
{
	struct addr_prefix p;
	int ret = addr_prefix_parse(s, &p);

	cr_assert_eq(ret, 0, "addr_prefix_parse(\"%s\") = %d", s, ret);
	return p;
}

static bool contains(const struct addr_prefix *p, const char *ip)
{
	union addr a = parse_ok(ip, 1234);

	return addr_prefix_contains(p, &a);
}

Test(addr, prefix_parse_clears_host_bits)
{
	char buf[ADDR_STRLEN];
	struct addr_prefix p;

	p = prefix_ok("10.1.2.3/8");
	cr_expect_eq(p.bits, 8);
	cr_expect_str_eq(addr_format(&p.net, buf, sizeof(buf)), "10.0.0.0:0");

	p = prefix_ok("172.31.255.255/12");
	cr_expect_eq(p.bits, 12);
	cr_expect_str_eq(addr_format(&p.net, buf, sizeof(buf)), "172.16.0.0:0");

	p = prefix_ok("1.2.3.4/0");
	cr_expect_eq(p.bits, 0);
	cr_expect_str_eq(addr_format(&p.net, buf, sizeof(buf)), "0.0.0.0:0");

	p = prefix_ok("2001:db8:ffff::1/33");
	cr_expect_eq(p.bits, 33);
	cr_expect_str_eq(addr_format(&p.net, buf, sizeof(buf)),
			 "[2001:db8:8000::]:0");

	p = prefix_ok("fe80::1/10");
	cr_expect_str_eq(addr_format(&p.net, buf, sizeof(buf)), "[fe80::]:0");
}

Test(addr, prefix_parse_bare_address_is_full_length)
{
	struct addr_prefix p;

	p = prefix_ok("192.0.2.7");
	cr_expect_eq(p.bits, 32);
	cr_expect_eq(p.net.sa.sa_family, AF_INET);

	p = prefix_ok("2001:db8::7");
	cr_expect_eq(p.bits, 128);
	cr_expect_eq(p.net.sa.sa_family, AF_INET6);
}

Test(addr, prefix_parse_rejects_junk)
{
	static const char *const bad[] = {
		"",
		"/8",
		"10.0.0.0/",
		"10.0.0.0/33",
		"10.0.0.0/-1",
		"10.0.0.0/+8",
		"10.0.0.0/8x",
		"10.0.0.0/ 8",
		"10.0.0.0/0008",
		"10.0.0.0/8/8",
		"10.0.0/8",
		"10.0.0.0:80/8",
		"::/129",
		"::/1000",
		"2001:db8::/",
		"[2001:db8::]/32",
		"host.example/24",
		"fe80::%eth0/64",
	};

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		struct addr_prefix p;

		cr_expect_eq(addr_prefix_parse(bad[i], &p), -EINVAL,
			     "addr_prefix_parse(\"%s\") should fail", bad[i]);
	}
	cr_expect_eq(addr_prefix_parse(NULL, &(struct addr_prefix){ 0 }),
		     -EINVAL);
}

Test(addr, prefix_contains_v4)
{
	struct addr_prefix p = prefix_ok("10.0.0.0/8");

	cr_expect(contains(&p, "10.0.0.0"));
	cr_expect(contains(&p, "10.255.255.255:9"));
	cr_expect_not(contains(&p, "11.0.0.0"));
	cr_expect_not(contains(&p, "9.255.255.255"));
	/* v4-mapped IPv6 matches an IPv4 prefix... */
	cr_expect(contains(&p, "::ffff:10.1.2.3"));
	cr_expect_not(contains(&p, "::ffff:11.1.2.3"));
	/* ... but no other IPv6 form does. */
	cr_expect_not(contains(&p, "::10.1.2.3"));
	cr_expect_not(contains(&p, "a00::1"));

	p = prefix_ok("172.16.0.0/12");
	cr_expect(contains(&p, "172.31.0.1"));
	cr_expect_not(contains(&p, "172.32.0.1"));

	p = prefix_ok("0.0.0.0/0");
	cr_expect(contains(&p, "1.2.3.4"));
	cr_expect(contains(&p, "255.255.255.255"));
	cr_expect(contains(&p, "::ffff:1.2.3.4"));
	cr_expect_not(contains(&p, "::1"));

	p = prefix_ok("192.0.2.1/32");
	cr_expect(contains(&p, "192.0.2.1:1"));
	cr_expect(contains(&p, "192.0.2.1:2"));
	cr_expect_not(contains(&p, "192.0.2.0"));
	cr_expect_not(contains(&p, "192.0.2.2"));
}

Test(addr, prefix_contains_v6)
{
	struct addr_prefix p = prefix_ok("2001:db8::/32");

	cr_expect(contains(&p, "2001:db8::1"));
	cr_expect(contains(&p, "[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:5"));
	cr_expect_not(contains(&p, "2001:db9::1"));
	cr_expect_not(contains(&p, "2001:db7:ffff::1"));
	cr_expect_not(contains(&p, "32.1.13.184"));

	p = prefix_ok("fc00::/7");
	cr_expect(contains(&p, "fd00::1"));
	cr_expect_not(contains(&p, "fe00::1"));

	p = prefix_ok("::/0");
	cr_expect(contains(&p, "::"));
	cr_expect(contains(&p, "ffff::1"));
	cr_expect(contains(&p, "::ffff:1.2.3.4"));
	/* An IPv4 address is not in "all of IPv6". */
	cr_expect_not(contains(&p, "1.2.3.4"));

	p = prefix_ok("2001:db8::1/128");
	cr_expect(contains(&p, "[2001:db8::1]:1"));
	cr_expect_not(contains(&p, "2001:db8::"));
	cr_expect_not(contains(&p, "2001:db8::2"));

	/* A v4-mapped prefix does speak about IPv4 addresses. */
	p = prefix_ok("::ffff:10.0.0.0/104");
	cr_expect(contains(&p, "10.9.8.7"));
	cr_expect(contains(&p, "::ffff:10.9.8.7"));
	cr_expect_not(contains(&p, "11.9.8.7"));
}

/* ------------------------------------------------------------------ */
/* Equality, hashing and the small helpers                             */
/* ------------------------------------------------------------------ */

Test(addr, equal_and_ip_equal)
{
	union addr a = parse_ok("1.2.3.4:5", 0);
	union addr b = parse_ok("1.2.3.4:5", 0);
	union addr c = parse_ok("1.2.3.4:6", 0);
	union addr d = parse_ok("1.2.3.5:5", 0);
	union addr m = parse_ok("[::ffff:1.2.3.4]:5", 0);
	union addr x = parse_ok("[2001:db8::1]:5", 0);
	union addr y = parse_ok("[2001:db8::1]:6", 0);
	union addr z = parse_ok("[2001:db8::2]:5", 0);
	union addr x2 = x;

	cr_expect(addr_equal(&a, &b));
	cr_expect(addr_ip_equal(&a, &b));
	cr_expect_not(addr_equal(&a, &c));
	cr_expect(addr_ip_equal(&a, &c));
	cr_expect_not(addr_equal(&a, &d));
	cr_expect_not(addr_ip_equal(&a, &d));
	cr_expect_not(addr_equal(&a, &m));
	cr_expect_not(addr_ip_equal(&a, &m));

	cr_expect(addr_equal(&x, &x2));
	cr_expect_not(addr_equal(&x, &y));
	cr_expect(addr_ip_equal(&x, &y));
	cr_expect_not(addr_ip_equal(&x, &z));

	x2.v6.sin6_scope_id = 3;
	cr_expect_not(addr_equal(&x, &x2));
	x2.v6.sin6_flowinfo = htonl(7);
	x2.v6.sin6_scope_id = 0;
	cr_expect(addr_equal(&x, &x2), "flow info is not part of an address");
}

Test(addr, hash_ignores_padding)
{
	union addr a, b;

	/* Same address, different garbage in sin_zero and the union tail. */
	memset(&a, 0x00, sizeof(a));
	memset(&b, 0xa5, sizeof(b));
	a.v4.sin_family = b.v4.sin_family = AF_INET;
	a.v4.sin_port = b.v4.sin_port = htons(3478);
	inet_pton(AF_INET, "192.0.2.1", &a.v4.sin_addr);
	inet_pton(AF_INET, "192.0.2.1", &b.v4.sin_addr);

	cr_expect(addr_equal(&a, &b));
	cr_expect_eq(addr_hash(&a, 42), addr_hash(&b, 42));
}

Test(addr, hash_equal_for_equal_and_different_otherwise)
{
	static const char *const forms[] = {
		"1.2.3.4:5",	  "1.2.3.4:6",	      "1.2.3.5:5",
		"0.0.0.0:0",	  "[::]:0",	      "[::1]:5",
		"[::1]:6",	  "[::2]:5",	      "[::ffff:1.2.3.4]:5",
		"[2001:db8::1]:5", "[2001:db8::1]:6", "[1:2:3:4:5:6:7:8]:5",
	};
	uint64_t seeds[] = { 0, 1, 0x0123456789abcdefull };

	for (size_t s = 0; s < ARRAY_LEN(seeds); s++) {
		for (size_t i = 0; i < ARRAY_LEN(forms); i++) {
			union addr a = parse_ok(forms[i], 0);
			union addr b = parse_ok(forms[i], 0);

			cr_expect_eq(addr_hash(&a, seeds[s]),
				     addr_hash(&b, seeds[s]), "%s", forms[i]);
			for (size_t j = i + 1; j < ARRAY_LEN(forms); j++) {
				union addr c = parse_ok(forms[j], 0);

				cr_expect_neq(addr_hash(&a, seeds[s]),
					      addr_hash(&c, seeds[s]),
					      "%s vs %s", forms[i], forms[j]);
			}
		}
	}

	union addr a = parse_ok("1.2.3.4:5", 0);
	union addr l1 = parse_ok("[fe80::1]:5", 0), l2 = l1;

	cr_expect_neq(addr_hash(&a, 1), addr_hash(&a, 2),
		      "the seed must change the hash");
	l2.v6.sin6_scope_id = 2;
	cr_expect_neq(addr_hash(&l1, 1), addr_hash(&l2, 1),
		      "scope ids tell link-local hosts apart");
}

Test(addr, hash_spreads_ports)
{
	/* Consecutive ports from one client (a port scan, a NAT's block)
	 * should land in different buckets of a small table. */
	union addr a = parse_ok("198.51.100.1:0", 0);
	unsigned used[64] = { 0 };
	unsigned filled = 0;

	for (unsigned port = 1000; port < 1064; port++) {
		addr_set_port(&a, (uint16_t)port);
		used[addr_hash(&a, 0x5eed) & 63]++;
	}
	for (size_t i = 0; i < ARRAY_LEN(used); i++)
		filled += used[i] != 0;
	/* 64 balls in 64 bins fill about 40 on average. */
	cr_expect_gt(filled, 30, "only %u of 64 buckets used", filled);
}

Test(addr, port_helpers_and_any)
{
	union addr a = parse_ok("0.0.0.0:1", 0);
	union addr b = parse_ok("[::]:1", 0);
	union addr c = parse_ok("1.2.3.4:1", 0);
	union addr none;

	cr_expect(addr_is_any(&a));
	cr_expect(addr_is_any(&b));
	cr_expect_not(addr_is_any(&c));

	addr_set_port(&a, 65535);
	addr_set_port(&b, 3478);
	cr_expect_eq(addr_port(&a), 65535);
	cr_expect_eq(addr_port(&b), 3478);
	cr_expect_eq(b.v6.sin6_port, htons(3478));

	memset(&none, 0, sizeof(none));
	addr_set_port(&none, 5);
	cr_expect_eq(addr_port(&none), 0);
	cr_expect_eq(addr_len(&none), 0);
	cr_expect_not(addr_is_any(&none));
}

/* Shorthand for the casts below. */
#define from_sa(p, len, out) \
	addr_from_sockaddr((struct sockaddr *)(p), (len), (out))

Test(addr, from_sockaddr)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(80),
		.sin_addr.s_addr = htonl(0x01020304),
	};
	struct sockaddr_in6 sin6 = {
		.sin6_family = AF_INET6,
		.sin6_port = htons(443),
		.sin6_scope_id = 2,
	};
	struct sockaddr_storage ss;
	union addr a;
	char buf[ADDR_STRLEN];

	cr_assert_eq(from_sa(&sin, sizeof(sin), &a), 0);
	cr_expect_str_eq(addr_format(&a, buf, sizeof(buf)), "1.2.3.4:80");
	cr_expect_eq(from_sa(&sin, sizeof(sin) - 1, &a), -EINVAL);

	inet_pton(AF_INET6, "fe80::9", &sin6.sin6_addr);
	cr_assert_eq(from_sa(&sin6, sizeof(sin6), &a), 0);
	cr_expect_str_eq(addr_format(&a, buf, sizeof(buf)), "[fe80::9%2]:443");
	cr_expect_eq(from_sa(&sin6, sizeof(sin6) - 1, &a), -EINVAL);

	/* A sockaddr_storage-sized length is fine. */
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, &sin, sizeof(sin));
	cr_expect_eq(from_sa(&ss, sizeof(ss), &a), 0);

	ss.ss_family = AF_UNIX;
	cr_expect_eq(from_sa(&ss, sizeof(ss), &a), -EINVAL);
	cr_expect_eq(from_sa(&ss, 0, &a), -EINVAL);
	cr_expect_eq(addr_from_sockaddr(NULL, sizeof(ss), &a), -EINVAL);
}

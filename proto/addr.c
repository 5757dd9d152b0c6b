/* addr: transport addresses. See addr.h for the contract. */
#include "proto/addr.h"
#include "proto/wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Parsing                                                             */
/* ------------------------------------------------------------------ */

/* Strict decimal port: 1..5 digits, no sign, no space, <= 65535. strtoul
 * would accept "+5", " 5" and "0x5", which a config typo should not. */
static int parse_port(const char *s, uint16_t *port)
{
	uint32_t v = 0;
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		if (s[n] < '0' || s[n] > '9' || n >= 5)
			return -EINVAL;
		v = v * 10 + (uint32_t)(s[n] - '0');
	}
	if (n == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

/* Copies [s, s + n) into buf (NUL-terminated) for inet_pton, which wants
 * a C string. Anything longer than the longest textual address is junk. */
static int copy_host(const char *s, size_t n, char *buf, size_t size)
{
	if (n == 0 || n >= size)
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return 0;
}

/* inet_pton only: a name here would mean a DNS lookup on a path that
 * must never block, so names are refused. A "%scope" suffix (link-local
 * v6) is refused too: inet_pton rejects it, and the relay never binds or
 * reaches link-local addresses. */
int addr_parse(const char *s, uint16_t default_port, union addr *out)
{
	char host[INET6_ADDRSTRLEN];
	const char *port_str = NULL;
	const char *colon;
	uint16_t port = default_port;
	union addr a;
	int family;

	if (s == NULL || *s == '\0')
		return -EINVAL;

	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || copy_host(s + 1, (size_t)(close - s - 1),
					       host, sizeof(host)) < 0)
			return -EINVAL;
		if (close[1] == ':')
			port_str = close + 2;
		else if (close[1] != '\0')
			return -EINVAL;
		family = AF_INET6;
	} else if ((colon = strchr(s, ':')) == NULL) {
		if (copy_host(s, strlen(s), host, sizeof(host)) < 0)
			return -EINVAL;
		family = AF_INET;
	} else if (strchr(colon + 1, ':') == NULL) {
		/* Exactly one colon: "a.b.c.d:port". */
		if (copy_host(s, (size_t)(colon - s), host, sizeof(host)) < 0)
			return -EINVAL;
		port_str = colon + 1;
		family = AF_INET;
	} else {
		/* Two or more colons and no brackets: a bare IPv6 address.
		 * "::1:5" cannot be told from "[::1]:5", so a bare v6 address
		 * never carries a port. */
		if (copy_host(s, strlen(s), host, sizeof(host)) < 0)
			return -EINVAL;
		family = AF_INET6;
	}

	if (port_str != NULL && parse_port(port_str, &port) < 0)
		return -EINVAL;

	memset(&a, 0, sizeof(a));
	if (family == AF_INET) {
		if (inet_pton(AF_INET, host, &a.v4.sin_addr) != 1)
			return -EINVAL;
		a.v4.sin_family = AF_INET;
		a.v4.sin_port = htons(port);
	} else {
		if (inet_pton(AF_INET6, host, &a.v6.sin6_addr) != 1)
			return -EINVAL;
		a.v6.sin6_family = AF_INET6;
		a.v6.sin6_port = htons(port);
	}
	*out = a;
	return 0;
}

/* Clears every bit of the len-byte address ip past the first bits. */
static void clear_host_bits(uint8_t *ip, size_t len, unsigned bits)
{
	for (size_t i = 0; i < len; i++) {
		if (bits >= 8) {
			bits -= 8;
			continue;
		}
		ip[i] &= (uint8_t)(0xff00u >> bits);
		bits = 0;
	}
}

int addr_prefix_parse(const char *s, struct addr_prefix *out)
{
	char host[INET6_ADDRSTRLEN];
	struct addr_prefix p;
	const char *slash;
	unsigned max_bits, bits;
	size_t host_len;

	if (s == NULL)
		return -EINVAL;
	slash = strchr(s, '/');
	host_len = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (copy_host(s, host_len, host, sizeof(host)) < 0)
		return -EINVAL;

	memset(&p, 0, sizeof(p));
	if (strchr(host, ':') == NULL) {
		if (inet_pton(AF_INET, host, &p.net.v4.sin_addr) != 1)
			return -EINVAL;
		p.net.v4.sin_family = AF_INET;
		max_bits = 32;
	} else {
		if (inet_pton(AF_INET6, host, &p.net.v6.sin6_addr) != 1)
			return -EINVAL;
		p.net.v6.sin6_family = AF_INET6;
		max_bits = 128;
	}

	bits = max_bits;
	if (slash != NULL) {
		const char *d = slash + 1;
		size_t n = 0;

		/* 1..3 digits, nothing else: "/", "/+8", "/8x" are typos. */
		bits = 0;
		for (; d[n] != '\0'; n++) {
			if (d[n] < '0' || d[n] > '9' || n >= 3)
				return -EINVAL;
			bits = bits * 10 + (unsigned)(d[n] - '0');
		}
		if (n == 0 || bits > max_bits)
			return -EINVAL;
	}

	if (p.net.sa.sa_family == AF_INET)
		clear_host_bits((uint8_t *)&p.net.v4.sin_addr, 4, bits);
	else
		clear_host_bits(p.net.v6.sin6_addr.s6_addr, 16, bits);
	p.bits = (uint8_t)bits;
	*out = p;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Prefixes and comparisons                                            */
/* ------------------------------------------------------------------ */

static const uint8_t v4_mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
};

/* True when the first bits of a and b agree. */
static bool bits_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	size_t whole = bits / 8;
	unsigned rest = bits % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[whole] ^ b[whole]) & (uint8_t)(0xff00u >> rest)) == 0;
}

static bool is_v4_mapped(const uint8_t ip[16])
{
	return memcmp(ip, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0;
}

bool addr_prefix_contains(const struct addr_prefix *p, const union addr *a)
{
	int pf = p->net.sa.sa_family;
	int af = a->sa.sa_family;

	if (pf == AF_INET && p->bits <= 32) {
		const uint8_t *net = (const uint8_t *)&p->net.v4.sin_addr;

		if (af == AF_INET)
			return bits_equal(net, (const uint8_t *)&a->v4.sin_addr,
					  p->bits);
		/* A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d;
		 * an IPv4 rule must still apply to them. */
		if (af == AF_INET6 && is_v4_mapped(a->v6.sin6_addr.s6_addr))
			return bits_equal(net, a->v6.sin6_addr.s6_addr + 12,
					  p->bits);
		return false;
	}
	if (pf == AF_INET6 && p->bits <= 128) {
		const uint8_t *net = p->net.v6.sin6_addr.s6_addr;
		uint8_t mapped[16];

		if (af == AF_INET6)
			return bits_equal(net, a->v6.sin6_addr.s6_addr, p->bits);
		/* Only a prefix inside ::ffff:0:0/96 speaks about IPv4
		 * addresses; "::/0" means "all of IPv6", not "everything". */
		if (af == AF_INET && p->bits >= 96 && is_v4_mapped(net)) {
			memcpy(mapped, v4_mapped_prefix, 12);
			memcpy(mapped + 12, &a->v4.sin_addr, 4);
			return bits_equal(net, mapped, p->bits);
		}
	}
	return false;
}

bool addr_equal(const union addr *a, const union addr *b)
{
	if (!addr_ip_equal(a, b))
		return false;
	switch (a->sa.sa_family) {
	case AF_INET:
		return a->v4.sin_port == b->v4.sin_port;
	case AF_INET6:
		return a->v6.sin6_port == b->v6.sin6_port &&
		       a->v6.sin6_scope_id == b->v6.sin6_scope_id;
	default:
		return true; /* both AF_UNSPEC: two "none"s */
	}
}

/* The scope id is left out on purpose: it only tells link-local hosts
 * apart, and the peer policy never lets a permission reach those. */
bool addr_ip_equal(const union addr *a, const union addr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	switch (a->sa.sa_family) {
	case AF_INET:
		return a->v4.sin_addr.s_addr == b->v4.sin_addr.s_addr;
	case AF_INET6:
		return memcmp(&a->v6.sin6_addr, &b->v6.sin6_addr, 16) == 0;
	case AF_UNSPEC:
		return true;
	default:
		return false;
	}
}

/* ------------------------------------------------------------------ */
/* Hashing                                                             */
/* ------------------------------------------------------------------ */

/* splitmix64's finaliser: a bijection on 64 bits with full avalanche. */
static uint64_t hash_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/* Each word is absorbed by a bijective step, so for one seed two IPv4
 * addresses never collide in 64 bits, and the seed (secret, per process)
 * keeps a client from predicting which bucket its 5-tuples land in. Only
 * named fields are read: sin_zero and struct padding may hold anything. */
uint64_t addr_hash(const union addr *a, uint64_t seed)
{
	uint64_t h = hash_mix(seed ^ 0x9e3779b97f4a7c15ull);
	uint64_t fam = (uint64_t)a->sa.sa_family << 48;

	switch (a->sa.sa_family) {
	case AF_INET: {
		uint32_t ip;

		memcpy(&ip, &a->v4.sin_addr, 4);
		h = hash_mix(h ^ (fam | (uint64_t)a->v4.sin_port << 32 | ip));
		break;
	}
	case AF_INET6: {
		uint64_t w[2];

		memcpy(w, &a->v6.sin6_addr, 16);
		h = hash_mix(h ^ w[0]) + 0x632be59bd9b4e019ull;
		h = hash_mix(h ^ w[1]) + 0x9e3779b97f4a7c15ull;
		h = hash_mix(h ^ (fam | (uint64_t)a->v6.sin6_port << 32 |
				  a->v6.sin6_scope_id));
		break;
	}
	default:
		h = hash_mix(h ^ fam);
		break;
	}
	return h;
}

/* ------------------------------------------------------------------ */
/* Classification                                                      */
/* ------------------------------------------------------------------ */

#define V4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | \
			(uint32_t)(c) << 8 | (uint32_t)(d))

/* First match wins, so the broadcast address comes before 240/4. The
 * documentation ranges (192.0.2/24, 198.51.100/24, 203.0.113/24) are left
 * public on purpose: the namespace tests use them as the "public" side
 * of their NATs. */
static const struct {
	uint32_t net;
	uint8_t bits;
	uint8_t cls;
} v4_ranges[] = {
	{ V4(0, 0, 0, 0), 8, ADDR_UNSPECIFIED },
	{ V4(127, 0, 0, 0), 8, ADDR_LOOPBACK },
	{ V4(10, 0, 0, 0), 8, ADDR_PRIVATE },
	{ V4(172, 16, 0, 0), 12, ADDR_PRIVATE },
	{ V4(192, 168, 0, 0), 16, ADDR_PRIVATE },
	{ V4(100, 64, 0, 0), 10, ADDR_PRIVATE },
	{ V4(169, 254, 0, 0), 16, ADDR_LINK_LOCAL },
	{ V4(224, 0, 0, 0), 4, ADDR_MULTICAST },
	{ V4(255, 255, 255, 255), 32, ADDR_MULTICAST },
	{ V4(240, 0, 0, 0), 4, ADDR_RESERVED },
	{ V4(192, 0, 0, 0), 24, ADDR_RESERVED },
	{ V4(198, 18, 0, 0), 15, ADDR_RESERVED },
};

/* ip in host byte order. */
static enum addr_class classify_v4(uint32_t ip)
{
	for (size_t i = 0; i < sizeof(v4_ranges) / sizeof(v4_ranges[0]); i++) {
		uint32_t mask = ~(uint32_t)0 << (32 - v4_ranges[i].bits);

		if ((ip & mask) == v4_ranges[i].net)
			return (enum addr_class)v4_ranges[i].cls;
	}
	return ADDR_PUBLIC;
}

/* Every IPv6 form that embeds an IPv4 address is judged by that address,
 * or ::ffff:127.0.0.1, 64:ff9b::7f00:1 and 2002:7f00:1:: would be ways
 * around the loopback ban. */
static enum addr_class classify_v6(const uint8_t b[16])
{
	static const uint8_t zero[16];
	static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };

	if (memcmp(b, zero, 12) == 0) {
		uint32_t low = wire_get32(b + 12);

		if (low == 0)
			return ADDR_UNSPECIFIED;
		if (low == 1)
			return ADDR_LOOPBACK;
		return classify_v4(low); /* v4-compatible ::a.b.c.d */
	}
	if (is_v4_mapped(b) || memcmp(b, nat64, 12) == 0)
		return classify_v4(wire_get32(b + 12));
	if (memcmp(b, nat64, 4) == 0 && b[4] == 0 && b[5] == 1)
		return ADDR_RESERVED; /* 64:ff9b:1::/48, local-use NAT64 */
	if (b[0] == 0x20 && b[1] == 0x02) /* 6to4: 2002:V4ADDR::/48 */
		return classify_v4(wire_get32(b + 2));
	/* 2001:db8::/32 lies outside 2001::/23 and stays public, like the
	 * IPv4 documentation ranges. */
	if (b[0] == 0x20 && b[1] == 0x01 && (b[2] & 0xfe) == 0)
		return ADDR_RESERVED; /* 2001::/23, Teredo included */
	if ((b[0] & 0xfe) == 0xfc)
		return ADDR_PRIVATE;
	/* fec0::/10, site-local: deprecated (RFC 3879) but still routed inside
	 * some sites, so as private as fc00::/7. */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return ADDR_PRIVATE;
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return ADDR_LINK_LOCAL;
	if (b[0] == 0xff)
		return ADDR_MULTICAST;
	return ADDR_PUBLIC;
}

/* An address of no known family is never a place to send to. */
enum addr_class addr_classify(const union addr *a)
{
	switch (a->sa.sa_family) {
	case AF_INET:
		return classify_v4(ntohl(a->v4.sin_addr.s_addr));
	case AF_INET6:
		return classify_v6(a->v6.sin6_addr.s6_addr);
	default:
		return ADDR_RESERVED;
	}
}

const char *addr_class_name(enum addr_class c)
{
	switch (c) {
	case ADDR_PUBLIC:
		return "public";
	case ADDR_UNSPECIFIED:
		return "unspecified";
	case ADDR_LOOPBACK:
		return "loopback";
	case ADDR_PRIVATE:
		return "private";
	case ADDR_LINK_LOCAL:
		return "link-local";
	case ADDR_MULTICAST:
		return "multicast";
	case ADDR_RESERVED:
		return "reserved";
	}
	return "?";
}

/* ------------------------------------------------------------------ */
/* Formatting and sockaddr glue                                        */
/* ------------------------------------------------------------------ */

char *addr_format(const union addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (len == 0)
		return buf;
	switch (a->sa.sa_family) {
	case AF_INET:
		if (inet_ntop(AF_INET, &a->v4.sin_addr, ip, sizeof(ip)) == NULL)
			break;
		snprintf(buf, len, "%s:%u", ip, ntohs(a->v4.sin_port));
		return buf;
	case AF_INET6:
		if (inet_ntop(AF_INET6, &a->v6.sin6_addr, ip, sizeof(ip)) == NULL)
			break;
		/* The scope is printed as a number: an interface name would
		 * need if_indextoname, a syscall in a log path. */
		if (a->v6.sin6_scope_id != 0)
			snprintf(buf, len, "[%s%%%u]:%u", ip,
				 (unsigned)a->v6.sin6_scope_id,
				 ntohs(a->v6.sin6_port));
		else
			snprintf(buf, len, "[%s]:%u", ip,
				 ntohs(a->v6.sin6_port));
		return buf;
	default:
		break;
	}
	snprintf(buf, len, "?");
	return buf;
}

socklen_t addr_len(const union addr *a)
{
	switch (a->sa.sa_family) {
	case AF_INET:
		return sizeof(struct sockaddr_in);
	case AF_INET6:
		return sizeof(struct sockaddr_in6);
	default:
		return 0;
	}
}

int addr_from_sockaddr(const struct sockaddr *sa, socklen_t len,
		       union addr *out)
{
	if (sa == NULL ||
	    len < offsetof(struct sockaddr, sa_family) + sizeof(sa_family_t))
		return -EINVAL;
	switch (sa->sa_family) {
	case AF_INET:
		if (len < sizeof(struct sockaddr_in))
			return -EINVAL;
		memset(out, 0, sizeof(*out));
		memcpy(&out->v4, sa, sizeof(struct sockaddr_in));
		return 0;
	case AF_INET6:
		if (len < sizeof(struct sockaddr_in6))
			return -EINVAL;
		memcpy(&out->v6, sa, sizeof(struct sockaddr_in6));
		return 0;
	default:
		return -EINVAL;
	}
}

uint16_t addr_port(const union addr *a)
{
	switch (a->sa.sa_family) {
	case AF_INET:
		return ntohs(a->v4.sin_port);
	case AF_INET6:
		return ntohs(a->v6.sin6_port);
	default:
		return 0;
	}
}

void addr_set_port(union addr *a, uint16_t port)
{
	switch (a->sa.sa_family) {
	case AF_INET:
		a->v4.sin_port = htons(port);
		break;
	case AF_INET6:
		a->v6.sin6_port = htons(port);
		break;
	default:
		break;
	}
}

bool addr_is_any(const union addr *a)
{
	switch (a->sa.sa_family) {
	case AF_INET:
		return a->v4.sin_addr.s_addr == htonl(INADDR_ANY);
	case AF_INET6:
		return IN6_IS_ADDR_UNSPECIFIED(&a->v6.sin6_addr);
	default:
		return false;
	}
}

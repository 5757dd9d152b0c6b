/* addr: transport addresses (IPv4/IPv6 + port), parsing, formatting,
 * hashing, CIDR prefixes and the classification the relay's peer policy
 * needs. Pure functions, no allocation. */
#ifndef PARLEY_PROTO_ADDR_H
#define PARLEY_PROTO_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A transport address small enough to keep in per-allocation state
 * (28 bytes, unlike sockaddr_storage's 128). sa.sa_family says which
 * member is valid: AF_INET or AF_INET6; AF_UNSPEC means "none". */
union addr {
	struct sockaddr sa;
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
};

/* Longest string addr_format() writes, NUL included: "[v6%scope]:port". */
#define ADDR_STRLEN 64

/* What an IP address is, for the peer policy (RFC 8656 §21.1 and the
 * no-open-relay defaults). A v4-mapped (::ffff:a.b.c.d), v4-compatible
 * (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d) or 6to4 (2002:AABB:CCDD::/48) IPv6
 * address is classified by its embedded IPv4 address. */
enum addr_class {
	ADDR_PUBLIC = 0,
	ADDR_UNSPECIFIED,  /* 0.0.0.0/8, :: */
	ADDR_LOOPBACK,     /* 127.0.0.0/8, ::1 */
	ADDR_PRIVATE,      /* 10/8, 172.16/12, 192.168/16, 100.64/10 (CGN), fc00::/7, fec0::/10 */
	ADDR_LINK_LOCAL,   /* 169.254/16, fe80::/10 */
	ADDR_MULTICAST,    /* 224/4, ff00::/8, and 255.255.255.255 */
	ADDR_RESERVED,     /* 240/4 (other than broadcast), other IETF special-use
	                      ranges the relay must never reach: 192.0.0.0/24,
	                      198.18.0.0/15, 64:ff9b:1::/48, 2001::/23 (Teredo etc.) */
};

/* A CIDR prefix: network address (port ignored) and prefix length. */
struct addr_prefix {
	union addr net;
	uint8_t bits;     /* 0..32 for AF_INET, 0..128 for AF_INET6 */
};

/* Parses "1.2.3.4:5", "[::1]:5", or without a port "1.2.3.4" / "::1" /
 * "[::1]" (port default_port then, which may be 0; a bare IPv6 address
 * never carries a port). Returns 0 or -EINVAL. Never resolves names. */
int addr_parse(const char *s, uint16_t default_port, union addr *out);

/* Parses "10.0.0.0/8", "2001:db8::/32", or a bare address (full-length
 * prefix). Host bits beyond the prefix are cleared. Returns 0 or -EINVAL. */
int addr_prefix_parse(const char *s, struct addr_prefix *out);

/* True when a's IP is inside p. A v4-mapped IPv6 address matches an IPv4
 * prefix (and vice versa is false: an IPv4 address never matches a v6
 * prefix unless the prefix is itself v4-mapped). */
bool addr_prefix_contains(const struct addr_prefix *p, const union addr *a);

/* Writes "ip:port" or "[ip]:port" into buf (ADDR_STRLEN bytes is enough);
 * returns buf. Never fails: an unknown family prints "?". */
char *addr_format(const union addr *a, char *buf, size_t len);

/* Size of the sockaddr for a's family (for sendmsg/bind), 0 if unknown. */
socklen_t addr_len(const union addr *a);

/* Copies a sockaddr of the given length into out; returns 0 or -EINVAL
 * when the family is not AF_INET/AF_INET6 or len is too short. */
int addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, union addr *out);

/* Same family, IP and port (scope id included for v6). */
bool addr_equal(const union addr *a, const union addr *b);

/* Same family and IP; ports ignored (TURN permissions are per IP,
 * RFC 8656 §9). */
bool addr_ip_equal(const union addr *a, const union addr *b);

/* 64-bit hash of family, IP and port, seeded (a per-process random seed
 * keeps hostile clients from choosing colliding 5-tuples). */
uint64_t addr_hash(const union addr *a, uint64_t seed);

/* Classifies the IP address (see enum addr_class). */
enum addr_class addr_classify(const union addr *a);

/* A short lower-case name for the class ("loopback", "private", ...). */
const char *addr_class_name(enum addr_class c);

/* Port in host order, 0 if the family is unknown. */
uint16_t addr_port(const union addr *a);
void addr_set_port(union addr *a, uint16_t port);

/* True for 0.0.0.0 / :: (a wildcard listen address). */
bool addr_is_any(const union addr *a);

#endif

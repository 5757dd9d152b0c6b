/* policy: which peers a TURN allocation may reach (RFC 8656 §21.1: no
 * open relay into the operator's own networks).
 *
 * Refused by default: loopback, unspecified, private, link-local,
 * multicast/broadcast and reserved addresses, their IPv4-mapped and
 * IPv4-compatible IPv6 forms (addr_classify), and the supernode's own
 * addresses. The operator opens holes with --allow-loopback-peers and
 * --allow-peer CIDR; --deny-peer CIDR closes more (deny wins over
 * allow). The supernode's listening transport addresses are refused
 * always: relaying into our own listener can only loop. */
#ifndef PARLEY_SN_POLICY_H
#define PARLEY_SN_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/addr.h"

#define POLICY_MAX_PREFIXES 64
#define POLICY_MAX_OWN 64

struct policy {
	bool allow_loopback;
	struct addr_prefix allow[POLICY_MAX_PREFIXES];
	size_t n_allow;
	struct addr_prefix deny[POLICY_MAX_PREFIXES];
	size_t n_deny;
	union addr own_ip[POLICY_MAX_OWN];         /* our IPs (ports ignored) */
	size_t n_own_ip;
	union addr listen[POLICY_MAX_OWN];         /* our listening ip:ports */
	size_t n_listen;
};

/* Why a peer was refused, for logs and the metric's label. */
enum policy_verdict {
	POLICY_ALLOW = 0,
	POLICY_DENY_CLASS,    /* loopback, private, ... (see addr_classify) */
	POLICY_DENY_OWN,      /* one of our own addresses */
	POLICY_DENY_LISTENER, /* one of our listening ip:ports */
	POLICY_DENY_LIST,     /* matched --deny-peer */
};

void policy_init(struct policy *p);

/* Adds an --allow-peer / --deny-peer CIDR. Returns 0, -EINVAL (bad CIDR)
 * or -ENOSPC. */
int policy_allow(struct policy *p, const char *cidr);
int policy_deny(struct policy *p, const char *cidr);

/* Records a listening address. A wildcard listener adds every address of
 * the host's interfaces (getifaddrs) to the own-IP set. Returns 0 or
 * -ENOSPC. */
int policy_add_listener(struct policy *p, const union addr *a);

/* Adds one own IP (a relay address, say). */
int policy_add_own_ip(struct policy *p, const union addr *a);

/* Decides for peer. Order: listener → deny list → allow list → loopback
 * switch → own IPs → address class. Pure; thread-safe once built. */
enum policy_verdict policy_check(const struct policy *p, const union addr *peer);

const char *policy_verdict_name(enum policy_verdict v);

#endif

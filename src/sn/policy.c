/* policy: see policy.h. */
#include "src/sn/policy.h"

#include <errno.h>
#include <ifaddrs.h>
#include <string.h>

void policy_init(struct policy *p)
{
	memset(p, 0, sizeof(*p));
}

static int policy_add_prefix(struct addr_prefix *tab, size_t *n, const char *cidr)
{
	struct addr_prefix pfx;

	if (addr_prefix_parse(cidr, &pfx) < 0)
		return -EINVAL;
	if (*n >= POLICY_MAX_PREFIXES)
		return -ENOSPC;
	tab[(*n)++] = pfx;
	return 0;
}

int policy_allow(struct policy *p, const char *cidr)
{
	return policy_add_prefix(p->allow, &p->n_allow, cidr);
}

int policy_deny(struct policy *p, const char *cidr)
{
	return policy_add_prefix(p->deny, &p->n_deny, cidr);
}

/* Rewrites ::ffff:a.b.c.d as a.b.c.d (port kept) so that one comparison
 * covers both spellings: a dual-stack socket would reach our IPv4
 * address through either. */
static union addr policy_unmap(const union addr *a)
{
	union addr out = *a;

	if (a->sa.sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a->v6.sin6_addr)) {
		memset(&out, 0, sizeof(out));
		out.v4.sin_family = AF_INET;
		out.v4.sin_port = a->v6.sin6_port;
		memcpy(&out.v4.sin_addr, &a->v6.sin6_addr.s6_addr[12], 4);
	}
	return out;
}

static bool policy_same_ip(const union addr *a, const union addr *b)
{
	union addr ua = policy_unmap(a), ub = policy_unmap(b);

	return addr_ip_equal(&ua, &ub);
}

static bool policy_is_own(const struct policy *p, const union addr *ip)
{
	for (size_t i = 0; i < p->n_own_ip; i++) {
		if (policy_same_ip(&p->own_ip[i], ip))
			return true;
	}
	return false;
}

int policy_add_own_ip(struct policy *p, const union addr *a)
{
	if (a->sa.sa_family != AF_INET && a->sa.sa_family != AF_INET6)
		return -EINVAL;
	if (policy_is_own(p, a))
		return 0;
	if (p->n_own_ip >= POLICY_MAX_OWN)
		return -ENOSPC;
	p->own_ip[p->n_own_ip] = *a;
	addr_set_port(&p->own_ip[p->n_own_ip], 0);
	p->n_own_ip++;
	return 0;
}

/* A wildcard socket receives on every local address of its family (our
 * sockets set IPV6_V6ONLY, so only that family). */
static int policy_add_interfaces(struct policy *p, int family)
{
	struct ifaddrs *list, *ifa;
	int ret = 0;

	if (getifaddrs(&list) < 0)
		return -errno;
	for (ifa = list; ifa != NULL && ret == 0; ifa = ifa->ifa_next) {
		union addr a;

		if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != family)
			continue;
		if (addr_from_sockaddr(ifa->ifa_addr,
				       family == AF_INET ? sizeof(struct sockaddr_in)
							 : sizeof(struct sockaddr_in6),
				       &a) < 0)
			continue;
		ret = policy_add_own_ip(p, &a);
	}
	freeifaddrs(list);
	return ret;
}

int policy_add_listener(struct policy *p, const union addr *a)
{
	if (a->sa.sa_family != AF_INET && a->sa.sa_family != AF_INET6)
		return -EINVAL;
	if (p->n_listen >= POLICY_MAX_OWN)
		return -ENOSPC;
	p->listen[p->n_listen++] = *a;
	if (addr_is_any(a))
		return policy_add_interfaces(p, a->sa.sa_family);
	return policy_add_own_ip(p, a);
}

static bool policy_is_listener(const struct policy *p, const union addr *peer)
{
	uint16_t port = addr_port(peer);

	for (size_t i = 0; i < p->n_listen; i++) {
		const union addr *l = &p->listen[i];

		if (addr_port(l) != port)
			continue;
		if (addr_is_any(l) ? policy_is_own(p, peer) : policy_same_ip(l, peer))
			return true;
	}
	return false;
}

enum policy_verdict policy_check(const struct policy *p, const union addr *peer)
{
	enum addr_class cls;

	if (policy_is_listener(p, peer))
		return POLICY_DENY_LISTENER;
	for (size_t i = 0; i < p->n_deny; i++) {
		if (addr_prefix_contains(&p->deny[i], peer))
			return POLICY_DENY_LIST;
	}
	for (size_t i = 0; i < p->n_allow; i++) {
		if (addr_prefix_contains(&p->allow[i], peer))
			return POLICY_ALLOW;
	}
	cls = addr_classify(peer);
	if (p->allow_loopback && cls == ADDR_LOOPBACK)
		return POLICY_ALLOW;
	if (policy_is_own(p, peer))
		return POLICY_DENY_OWN;
	if (cls != ADDR_PUBLIC)
		return POLICY_DENY_CLASS;
	return POLICY_ALLOW;
}

const char *policy_verdict_name(enum policy_verdict v)
{
	switch (v) {
	case POLICY_ALLOW:
		return "allow";
	case POLICY_DENY_CLASS:
		return "class";
	case POLICY_DENY_OWN:
		return "own";
	case POLICY_DENY_LISTENER:
		return "listener";
	case POLICY_DENY_LIST:
		return "deny-list";
	}
	return "?";
}

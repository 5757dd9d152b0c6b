/* policy: default refusals, the operator's holes and the own-address rules. */
#include <criterion/criterion.h>
#include <errno.h>

#include "proto/addr.h"
#include "src/sn/policy.h"

static union addr peer(const char *s)
{
	union addr a;

	cr_assert_eq(addr_parse(s, 9999, &a), 0, "%s", s);
	return a;
}

static enum policy_verdict check(const struct policy *p, const char *s)
{
	union addr a = peer(s);

	return policy_check(p, &a);
}

Test(policy, forbidden_classes_by_default)
{
	static const char *const refused[] = {
		"127.0.0.1",  "::1",       "::ffff:127.0.0.1", "10.1.2.3",
		"0.0.0.0",    "169.254.0.1", "224.0.0.1",      "fe80::1",
		"fd00::1",    "::ffff:192.168.0.1", "255.255.255.255", "100.64.0.1",
	};
	struct policy p;

	policy_init(&p);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		cr_assert_eq(check(&p, refused[i]), POLICY_DENY_CLASS, "%s", refused[i]);
	cr_assert_eq(check(&p, "8.8.8.8"), POLICY_ALLOW);
	cr_assert_eq(check(&p, "192.0.2.10"), POLICY_ALLOW);
	cr_assert_eq(check(&p, "2606:4700::1111"), POLICY_ALLOW);
}

Test(policy, allow_loopback)
{
	struct policy p;

	policy_init(&p);
	p.allow_loopback = true;
	cr_assert_eq(check(&p, "127.0.0.1"), POLICY_ALLOW);
	cr_assert_eq(check(&p, "::1"), POLICY_ALLOW);
	cr_assert_eq(check(&p, "10.0.0.1"), POLICY_DENY_CLASS);
}

Test(policy, allow_and_deny_lists)
{
	struct policy p;

	policy_init(&p);
	cr_assert_eq(policy_allow(&p, "10.0.0.0/8"), 0);
	cr_assert_eq(check(&p, "10.1.2.3"), POLICY_ALLOW);
	cr_assert_eq(check(&p, "::ffff:10.1.2.3"), POLICY_ALLOW);
	cr_assert_eq(check(&p, "192.168.1.1"), POLICY_DENY_CLASS);
	cr_assert_eq(policy_deny(&p, "10.1.0.0/16"), 0);
	cr_assert_eq(check(&p, "10.1.2.3"), POLICY_DENY_LIST);
	cr_assert_eq(check(&p, "10.2.0.1"), POLICY_ALLOW);
	/* Deny also closes public space. */
	cr_assert_eq(policy_deny(&p, "8.8.8.0/24"), 0);
	cr_assert_eq(check(&p, "8.8.8.8"), POLICY_DENY_LIST);
	cr_assert_eq(check(&p, "8.8.4.4"), POLICY_ALLOW);

	cr_assert_eq(policy_allow(&p, "10.0.0.0/33"), -EINVAL);
	cr_assert_eq(policy_deny(&p, "example.com/8"), -EINVAL);
}

Test(policy, list_full)
{
	struct policy p;

	policy_init(&p);
	for (int i = 0; i < POLICY_MAX_PREFIXES; i++)
		cr_assert_eq(policy_allow(&p, "10.0.0.0/8"), 0);
	cr_assert_eq(policy_allow(&p, "10.0.0.0/8"), -ENOSPC);
}

Test(policy, own_ip)
{
	struct policy p;
	union addr own = peer("203.0.113.5");

	policy_init(&p);
	cr_assert_eq(policy_add_own_ip(&p, &own), 0);
	cr_assert_eq(check(&p, "203.0.113.5:1234"), POLICY_DENY_OWN);
	cr_assert_eq(check(&p, "::ffff:203.0.113.5"), POLICY_DENY_OWN);
	cr_assert_eq(check(&p, "203.0.113.6"), POLICY_ALLOW);
	/* An explicit allow wins over the own-IP rule, as documented. */
	cr_assert_eq(policy_allow(&p, "203.0.113.0/24"), 0);
	cr_assert_eq(check(&p, "203.0.113.5"), POLICY_ALLOW);
}

Test(policy, listener)
{
	struct policy p;
	union addr l = peer("203.0.113.5:3478");

	policy_init(&p);
	cr_assert_eq(policy_add_listener(&p, &l), 0);
	cr_assert_eq(check(&p, "203.0.113.5:3478"), POLICY_DENY_LISTENER);
	cr_assert_eq(check(&p, "[::ffff:203.0.113.5]:3478"), POLICY_DENY_LISTENER);
	cr_assert_eq(check(&p, "203.0.113.5:3479"), POLICY_DENY_OWN);
	cr_assert_eq(policy_allow(&p, "203.0.113.0/24"), 0);
	cr_assert_eq(check(&p, "203.0.113.5:3478"), POLICY_DENY_LISTENER);
	cr_assert_eq(check(&p, "203.0.113.5:3479"), POLICY_ALLOW);
}

Test(policy, wildcard_listener)
{
	struct policy p;
	union addr l = peer("0.0.0.0:3478");

	policy_init(&p);
	p.allow_loopback = true;
	cr_assert_eq(policy_add_listener(&p, &l), 0);
	/* getifaddrs always reports lo's 127.0.0.1 on Linux. */
	cr_assert_eq(check(&p, "127.0.0.1:3478"), POLICY_DENY_LISTENER);
	cr_assert_eq(check(&p, "127.0.0.1:3479"), POLICY_ALLOW);
	cr_assert_eq(check(&p, "8.8.8.8:3478"), POLICY_ALLOW);
}

Test(policy, verdict_names)
{
	cr_assert_str_eq(policy_verdict_name(POLICY_ALLOW), "allow");
	cr_assert_str_eq(policy_verdict_name(POLICY_DENY_CLASS), "class");
	cr_assert_str_eq(policy_verdict_name(POLICY_DENY_OWN), "own");
	cr_assert_str_eq(policy_verdict_name(POLICY_DENY_LISTENER), "listener");
	cr_assert_str_eq(policy_verdict_name(POLICY_DENY_LIST), "deny-list");
	cr_assert_str_eq(policy_verdict_name((enum policy_verdict)42), "?");
}

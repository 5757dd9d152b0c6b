/* alloc: the allocation table (hash, pool, generations), permissions and
 * channel bindings. Time is injected as now_ms everywhere, so expiry is
 * tested at its exact edges without sleeping. */
#include <criterion/criterion.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "proto/addr.h"
#include "src/sn/alloc.h"

/* Far from 0 so "now minus a lifetime" never wraps. */
#define T0 1000000000ull

static union addr addr_of(const char *s)
{
	union addr a;

	cr_assert_eq(addr_parse(s, 0, &a), 0, "addr_parse(\"%s\")", s);
	return a;
}

/* 10.x.y.z:port, distinct for each i below 2^24. */
static union addr client_n(uint32_t i, uint16_t port)
{
	char s[64];

	snprintf(s, sizeof(s), "10.%u.%u.%u:%u", (i >> 16) & 255, (i >> 8) & 255, i & 255, port);
	return addr_of(s);
}

/* One allocation outside any table, for the permission and channel
 * tests (they only touch the struct). */
static struct alloc fresh_alloc(void)
{
	struct alloc a;

	memset(&a, 0, sizeof(a));
	a.relay_fd = -1;
	a.state = ALLOC_ACTIVE;
	return a;
}

/* ------------------------------------------------------------------ */
/* table                                                               */
/* ------------------------------------------------------------------ */

Test(alloc, init_rejects_zero_cap)
{
	struct alloc_table t;

	cr_assert_eq(alloc_table_init(&t, 0, 1), -EINVAL);
	alloc_table_fini(&t);
	/* fini takes NULL, like every destroy. */
	alloc_table_fini(NULL);
}

Test(alloc, insert_find_unlink_release)
{
	struct alloc_table t;
	union addr c = addr_of("192.0.2.1:5000");
	union addr other_port = addr_of("192.0.2.1:5001");
	struct alloc *a;

	cr_assert_eq(alloc_table_init(&t, 16, 42), 0);
	cr_assert_null(alloc_find(&t, IPPROTO_UDP, 0, &c));

	a = alloc_insert(&t, IPPROTO_UDP, 0, &c);
	cr_assert_not_null(a);
	cr_assert_eq(a->state, ALLOC_ACTIVE);
	cr_assert_eq(a->relay_fd, -1);
	cr_assert_eq(a->n_perms, 0);
	cr_assert_eq(a->n_channels, 0);
	cr_assert(addr_equal(&a->client, &c));
	cr_assert_eq(t.n_used, 1);

	cr_assert_eq(alloc_find(&t, IPPROTO_UDP, 0, &c), a);
	/* The key is the whole 5-tuple: port, transport and listener count. */
	cr_assert_null(alloc_find(&t, IPPROTO_UDP, 0, &other_port));
	cr_assert_null(alloc_find(&t, IPPROTO_TCP, 0, &c));
	cr_assert_null(alloc_find(&t, IPPROTO_UDP, 1, &c));

	alloc_unlink(&t, a);
	cr_assert_eq(a->state, ALLOC_CLOSING);
	cr_assert_null(alloc_find(&t, IPPROTO_UDP, 0, &c));
	/* Still in use until released: a completion can still name it. */
	cr_assert_eq(t.n_used, 1);
	cr_assert_eq(alloc_at(&t, alloc_index(&t, a), a->gen), a);

	alloc_release(&t, a);
	cr_assert_eq(a->state, ALLOC_FREE);
	cr_assert_eq(t.n_used, 0);
	/* A second release is harmless (the state says it is free). */
	alloc_release(&t, a);
	cr_assert_eq(t.n_used, 0);
	alloc_table_fini(&t);
}

Test(alloc, release_of_active_unlinks_it)
{
	struct alloc_table t;
	union addr c = addr_of("[2001:db8::7]:9");
	struct alloc *a;

	cr_assert_eq(alloc_table_init(&t, 4, 7), 0);
	a = alloc_insert(&t, IPPROTO_TCP, 3, &c);
	cr_assert_not_null(a);
	memset(a->key, 0xAB, sizeof(a->key));
	alloc_release(&t, a);
	cr_assert_null(alloc_find(&t, IPPROTO_TCP, 3, &c));
	cr_assert_eq(t.n_used, 0);
	/* The long-term key does not outlive its allocation. */
	for (size_t i = 0; i < sizeof(a->key); i++)
		cr_assert_eq(a->key[i], 0, "key byte %zu not wiped", i);
	alloc_table_fini(&t);
}

Test(alloc, generation_rejects_stale_completions)
{
	struct alloc_table t;
	union addr c1 = addr_of("192.0.2.1:1000");
	union addr c2 = addr_of("192.0.2.2:2000");
	struct alloc *a, *b;
	uint32_t idx, gen;

	cr_assert_eq(alloc_table_init(&t, 4, 1), 0);
	a = alloc_insert(&t, IPPROTO_UDP, 0, &c1);
	cr_assert_not_null(a);
	idx = alloc_index(&t, a);
	gen = a->gen;
	cr_assert_eq(alloc_at(&t, idx, gen), a);
	cr_assert_null(alloc_at(&t, idx, gen + 1));
	cr_assert_null(alloc_at(&t, t.cap, gen), "index past the pool");
	/* Only 24 bits of the generation travel in user_data. */
	cr_assert_eq(alloc_at(&t, idx, gen + 0x1000000u), a);

	alloc_release(&t, a);
	cr_assert_null(alloc_at(&t, idx, gen), "a released slot must not be found");

	/* The free list hands the same slot out again, with a new generation:
	 * the old one must still be refused. */
	b = alloc_insert(&t, IPPROTO_UDP, 0, &c2);
	cr_assert_eq(b, a);
	cr_assert_neq(b->gen & 0xffffffu, gen & 0xffffffu);
	cr_assert_null(alloc_at(&t, idx, gen));
	cr_assert_eq(alloc_at(&t, idx, b->gen), b);
	cr_assert_null(alloc_find(&t, IPPROTO_UDP, 0, &c1));
	cr_assert_eq(alloc_find(&t, IPPROTO_UDP, 0, &c2), b);
	alloc_table_fini(&t);
}

Test(alloc, pool_full_returns_null)
{
	struct alloc_table t;
	struct alloc *slots[4];
	union addr c;

	cr_assert_eq(alloc_table_init(&t, 4, 3), 0);
	for (uint32_t i = 0; i < 4; i++) {
		c = client_n(i, 3478);
		slots[i] = alloc_insert(&t, IPPROTO_UDP, 0, &c);
		cr_assert_not_null(slots[i], "insert %u of 4", i);
	}
	c = client_n(99, 3478);
	cr_assert_null(alloc_insert(&t, IPPROTO_UDP, 0, &c));
	cr_assert_eq(t.n_used, 4);

	/* A released slot makes room for exactly one more. */
	alloc_release(&t, slots[2]);
	cr_assert_not_null(alloc_insert(&t, IPPROTO_UDP, 0, &c));
	c = client_n(100, 1);
	cr_assert_null(alloc_insert(&t, IPPROTO_UDP, 0, &c));
	for (uint32_t i = 0; i < 4; i++) {
		union addr ci = client_n(i, 3478);

		if (i == 2)
			cr_assert_null(alloc_find(&t, IPPROTO_UDP, 0, &ci));
		else
			cr_assert_eq(alloc_find(&t, IPPROTO_UDP, 0, &ci), slots[i]);
	}
	alloc_table_fini(&t);
}

/* Longest hash chain in the table: proves the test below exercised
 * collisions rather than hoping it did. */
static uint32_t longest_chain(const struct alloc_table *t)
{
	uint32_t best = 0;

	for (uint32_t b = 0; b <= t->mask; b++) {
		uint32_t n = 0;

		for (uint32_t i = t->buckets[b]; i; i = t->slots[i - 1].hnext)
			n++;
		if (n > best)
			best = n;
	}
	return best;
}

Test(alloc, many_inserts_with_collisions_all_findable)
{
	enum { CAP = 1000 };
	static struct alloc *got[CAP];
	struct alloc_table t;

	cr_assert_eq(alloc_table_init(&t, CAP, 0x5eed), 0);
	for (uint32_t i = 0; i < CAP; i++) {
		/* Half the clients share an IP and differ by port only. */
		union addr c = i % 2 ? client_n(7, (uint16_t)(1024 + i)) : client_n(i, 5000);

		got[i] = alloc_insert(&t, IPPROTO_UDP, i % 3, &c);
		cr_assert_not_null(got[i], "insert %u", i);
	}
	cr_assert_eq(t.n_used, CAP);
	/* 1000 keys in 2048 buckets: collisions are certain. */
	cr_assert_gt(longest_chain(&t), 1);

	for (uint32_t i = 0; i < CAP; i++) {
		union addr c = i % 2 ? client_n(7, (uint16_t)(1024 + i)) : client_n(i, 5000);

		cr_assert_eq(alloc_find(&t, IPPROTO_UDP, i % 3, &c), got[i], "find %u", i);
	}

	/* Unlinking from the middle of chains leaves the rest reachable. */
	for (uint32_t i = 0; i < CAP; i += 3)
		alloc_release(&t, got[i]);
	for (uint32_t i = 0; i < CAP; i++) {
		union addr c = i % 2 ? client_n(7, (uint16_t)(1024 + i)) : client_n(i, 5000);
		struct alloc *a = alloc_find(&t, IPPROTO_UDP, i % 3, &c);

		if (i % 3 == 0)
			cr_assert_null(a, "released %u still found", i);
		else
			cr_assert_eq(a, got[i], "find %u after releases", i);
	}
	alloc_table_fini(&t);
}

/* ------------------------------------------------------------------ */
/* permissions                                                         */
/* ------------------------------------------------------------------ */

Test(alloc, permission_by_ip_ignoring_port)
{
	struct alloc a = fresh_alloc();
	union addr peer = addr_of("198.51.100.7:4000");
	union addr same_ip = addr_of("198.51.100.7:9");
	union addr other_ip = addr_of("198.51.100.8:4000");

	cr_assert_not(alloc_perm_check(&a, &peer, T0));
	cr_assert_eq(alloc_perm_add(&a, &peer, T0), 0);
	cr_assert_eq(a.n_perms, 1);
	cr_assert(alloc_perm_check(&a, &peer, T0));
	cr_assert(alloc_perm_check(&a, &same_ip, T0));
	cr_assert_not(alloc_perm_check(&a, &other_ip, T0));

	/* Adding the same IP on another port refreshes, not duplicates. */
	cr_assert_eq(alloc_perm_add(&a, &same_ip, T0 + 1000), 0);
	cr_assert_eq(a.n_perms, 1);
}

Test(alloc, permission_expires)
{
	struct alloc a = fresh_alloc();
	union addr peer = addr_of("[2001:db8::1]:4000");
	uint64_t end = T0 + ALLOC_PERM_LIFETIME_MS;

	cr_assert_eq(alloc_perm_add(&a, &peer, T0), 0);
	cr_assert(alloc_perm_check(&a, &peer, end - 1));
	cr_assert_not(alloc_perm_check(&a, &peer, end), "a permission lasts exactly 300 s");

	/* A refresh restarts the 300 s. */
	cr_assert_eq(alloc_perm_add(&a, &peer, end - 1), 0);
	cr_assert(alloc_perm_check(&a, &peer, end + ALLOC_PERM_LIFETIME_MS - 2));
	cr_assert_not(alloc_perm_check(&a, &peer, end - 1 + ALLOC_PERM_LIFETIME_MS));
}

Test(alloc, permission_table_full_and_prune)
{
	struct alloc a = fresh_alloc();
	union addr extra = addr_of("203.0.113.200:1");

	for (uint32_t i = 0; i < ALLOC_MAX_PERMS; i++) {
		union addr p = client_n(i, 1);

		cr_assert_eq(alloc_perm_add(&a, &p, T0 + i), 0, "perm %u", i);
	}
	cr_assert_eq(alloc_perm_add(&a, &extra, T0 + 100), -ENOSPC);
	cr_assert_not(alloc_perm_check(&a, &extra, T0 + 100));
	cr_assert_eq(a.n_perms, ALLOC_MAX_PERMS);

	/* Once the first has expired, add makes room by itself. */
	cr_assert_eq(alloc_perm_add(&a, &extra, T0 + ALLOC_PERM_LIFETIME_MS), 0);
	cr_assert_eq(a.n_perms, ALLOC_MAX_PERMS);
	cr_assert(alloc_perm_check(&a, &extra, T0 + ALLOC_PERM_LIFETIME_MS));
	{
		union addr first = client_n(0, 1), second = client_n(1, 1);

		cr_assert_not(alloc_perm_check(&a, &first, T0 + ALLOC_PERM_LIFETIME_MS));
		cr_assert(alloc_perm_check(&a, &second, T0 + ALLOC_PERM_LIFETIME_MS));
	}

	/* prune drops exactly the expired ones: perm i ended at
	 * T0 + i + 300 s, so at T0 + 300 s + 3 perms 1..3 are over. */
	alloc_prune(&a, T0 + ALLOC_PERM_LIFETIME_MS + 3);
	cr_assert_eq(a.n_perms, ALLOC_MAX_PERMS - 3);
	alloc_prune(&a, T0 + 2 * ALLOC_PERM_LIFETIME_MS);
	cr_assert_eq(a.n_perms, 0);
}

/* ------------------------------------------------------------------ */
/* channels                                                            */
/* ------------------------------------------------------------------ */

Test(alloc, channel_number_range)
{
	struct alloc a = fresh_alloc();
	union addr peer = addr_of("198.51.100.1:5000");

	cr_assert_eq(alloc_channel_bind(&a, 0x3FFF, &peer, T0), -EINVAL);
	cr_assert_eq(alloc_channel_bind(&a, 0x7FFF, &peer, T0), -EINVAL);
	cr_assert_eq(alloc_channel_bind(&a, 0x8000, &peer, T0), -EINVAL);
	cr_assert_eq(alloc_channel_bind(&a, 0x0000, &peer, T0), -EINVAL);
	cr_assert_eq(a.n_channels, 0);
	cr_assert_eq(a.n_perms, 0, "a refused bind must not install a permission");

	cr_assert_eq(alloc_channel_bind(&a, 0x4000, &peer, T0), 0);
	cr_assert_eq(a.n_channels, 1);
	/* RFC 5766's upper end, still used by deployed clients. */
	{
		union addr p2 = addr_of("198.51.100.2:5000");

		cr_assert_eq(alloc_channel_bind(&a, 0x7FFE, &p2, T0), 0);
	}
	cr_assert_eq(a.n_channels, 2);
}

Test(alloc, channel_installs_permission_and_is_found)
{
	struct alloc a = fresh_alloc();
	union addr peer = addr_of("198.51.100.1:5000");
	union addr other_port = addr_of("198.51.100.1:5001");
	struct alloc_channel *c;

	cr_assert_not(alloc_perm_check(&a, &peer, T0));
	cr_assert_eq(alloc_channel_bind(&a, 0x4001, &peer, T0), 0);
	cr_assert(alloc_perm_check(&a, &peer, T0));
	cr_assert(alloc_perm_check(&a, &peer, T0 + ALLOC_PERM_LIFETIME_MS - 1));

	c = alloc_channel_by_number(&a, 0x4001, T0);
	cr_assert_not_null(c);
	cr_assert(addr_equal(&c->peer, &peer));
	cr_assert_eq(alloc_channel_by_peer(&a, &peer, T0), c);
	/* A channel is bound to a transport address, not just an IP. */
	cr_assert_null(alloc_channel_by_peer(&a, &other_port, T0));
	cr_assert_null(alloc_channel_by_number(&a, 0x4002, T0));
}

Test(alloc, channel_rebind_refreshes)
{
	struct alloc a = fresh_alloc();
	union addr peer = addr_of("198.51.100.1:5000");
	uint64_t later = T0 + ALLOC_CHANNEL_LIFETIME_MS - 1000;

	cr_assert_eq(alloc_channel_bind(&a, 0x4001, &peer, T0), 0);
	cr_assert_eq(alloc_channel_bind(&a, 0x4001, &peer, later), 0);
	cr_assert_eq(a.n_channels, 1, "a refresh must not add a second binding");
	/* Alive past the first binding's end, until the refresh's end. */
	cr_assert_not_null(alloc_channel_by_number(&a, 0x4001, T0 + ALLOC_CHANNEL_LIFETIME_MS));
	cr_assert_not_null(
		alloc_channel_by_number(&a, 0x4001, later + ALLOC_CHANNEL_LIFETIME_MS - 1));
	cr_assert_null(alloc_channel_by_number(&a, 0x4001, later + ALLOC_CHANNEL_LIFETIME_MS));
	/* The refresh refreshed the permission too. */
	cr_assert(alloc_perm_check(&a, &peer, later + ALLOC_PERM_LIFETIME_MS - 1));
}

Test(alloc, channel_conflicts)
{
	struct alloc a = fresh_alloc();
	union addr peer = addr_of("198.51.100.1:5000");
	union addr other = addr_of("198.51.100.9:5000");
	union addr other_port = addr_of("198.51.100.1:5002");

	cr_assert_eq(alloc_channel_bind(&a, 0x4001, &peer, T0), 0);
	/* Same number, another peer (another port counts as another peer). */
	cr_assert_eq(alloc_channel_bind(&a, 0x4001, &other, T0 + 1), -EEXIST);
	cr_assert_eq(alloc_channel_bind(&a, 0x4001, &other_port, T0 + 1), -EEXIST);
	/* Same peer, another number. */
	cr_assert_eq(alloc_channel_bind(&a, 0x4002, &peer, T0 + 1), -EEXIST);
	cr_assert_eq(a.n_channels, 1);
	cr_assert(addr_equal(&alloc_channel_by_number(&a, 0x4001, T0 + 1)->peer, &peer));
	/* A refused bind installs no permission for the refused peer. */
	cr_assert_not(alloc_perm_check(&a, &other, T0 + 1));
}

Test(alloc, channel_table_full)
{
	struct alloc a = fresh_alloc();
	union addr extra = addr_of("203.0.113.99:7");

	for (uint32_t i = 0; i < ALLOC_MAX_CHANNELS; i++) {
		union addr p = client_n(i, 6000);
		uint16_t number = (uint16_t)(0x4000 + i);

		cr_assert_eq(alloc_channel_bind(&a, number, &p, T0), 0, "channel %u", i);
	}
	cr_assert_eq(a.n_channels, ALLOC_MAX_CHANNELS);
	cr_assert_eq(alloc_channel_bind(&a, 0x4100, &extra, T0), -ENOSPC);
	cr_assert_eq(a.n_channels, ALLOC_MAX_CHANNELS);
	cr_assert_null(alloc_channel_by_number(&a, 0x4100, T0));
	/* Refreshing an existing one still works when the table is full. */
	{
		union addr p0 = client_n(0, 6000);

		cr_assert_eq(alloc_channel_bind(&a, 0x4000, &p0, T0 + 5), 0);
	}
}

Test(alloc, channel_refused_when_permissions_full)
{
	struct alloc a = fresh_alloc();
	union addr peer = addr_of("203.0.113.1:7");

	for (uint32_t i = 0; i < ALLOC_MAX_PERMS; i++) {
		union addr p = client_n(i, 1);

		cr_assert_eq(alloc_perm_add(&a, &p, T0), 0);
	}
	/* No room for the channel's permission: no half-made binding. */
	cr_assert_eq(alloc_channel_bind(&a, 0x4000, &peer, T0), -ENOSPC);
	cr_assert_eq(a.n_channels, 0);
	cr_assert_null(alloc_channel_by_number(&a, 0x4000, T0));
	cr_assert_null(alloc_channel_by_peer(&a, &peer, T0));
	/* The same peer's IP already permitted: the channel fits. */
	{
		union addr p3 = client_n(3, 9999);

		cr_assert_eq(alloc_channel_bind(&a, 0x4000, &p3, T0), 0);
		cr_assert_eq(a.n_perms, ALLOC_MAX_PERMS);
	}
}

Test(alloc, expired_channel_stays_reserved_five_minutes)
{
	struct alloc a = fresh_alloc();
	union addr peer = addr_of("198.51.100.1:5000");
	union addr other = addr_of("198.51.100.2:5000");
	uint64_t end = T0 + ALLOC_CHANNEL_LIFETIME_MS;
	uint64_t free_at = end + 300000u;

	cr_assert_eq(alloc_channel_bind(&a, 0x4001, &peer, T0), 0);
	cr_assert_not_null(alloc_channel_by_number(&a, 0x4001, end - 1));
	/* Expired: no longer delivers... */
	cr_assert_null(alloc_channel_by_number(&a, 0x4001, end));
	cr_assert_null(alloc_channel_by_peer(&a, &peer, end));
	/* ...but its number is not given to another peer for 5 minutes. */
	cr_assert_eq(alloc_channel_bind(&a, 0x4001, &other, end), -EEXIST);
	cr_assert_eq(alloc_channel_bind(&a, 0x4001, &other, free_at - 1), -EEXIST);
	alloc_prune(&a, free_at - 1);
	cr_assert_eq(a.n_channels, 1, "pruned before the 5 minutes passed");

	cr_assert_eq(alloc_channel_bind(&a, 0x4001, &other, free_at), 0);
	cr_assert_eq(a.n_channels, 1);
	cr_assert(addr_equal(&alloc_channel_by_number(&a, 0x4001, free_at)->peer, &other));
}

Test(alloc, expired_channel_can_be_renewed_by_its_peer)
{
	struct alloc a = fresh_alloc();
	union addr peer = addr_of("198.51.100.1:5000");
	uint64_t end = T0 + ALLOC_CHANNEL_LIFETIME_MS;

	cr_assert_eq(alloc_channel_bind(&a, 0x4001, &peer, T0), 0);
	cr_assert_eq(alloc_channel_bind(&a, 0x4001, &peer, end + 1000), 0);
	cr_assert_eq(a.n_channels, 1);
	cr_assert_not_null(alloc_channel_by_number(&a, 0x4001, end + 1000));
}

Test(alloc, prune_drops_only_what_is_over)
{
	struct alloc a = fresh_alloc();
	union addr p1 = addr_of("198.51.100.1:1"), p2 = addr_of("198.51.100.2:1");
	uint64_t t1 = T0 + 1000;

	cr_assert_eq(alloc_channel_bind(&a, 0x4001, &p1, T0), 0);
	cr_assert_eq(alloc_channel_bind(&a, 0x4002, &p2, t1), 0);
	cr_assert_eq(a.n_perms, 2);

	/* p1's permission (T0 + 300 s) is gone, p2's (t1 + 300 s) stays. */
	alloc_prune(&a, T0 + ALLOC_PERM_LIFETIME_MS);
	cr_assert_eq(a.n_perms, 1);
	cr_assert_not(alloc_perm_check(&a, &p1, T0 + ALLOC_PERM_LIFETIME_MS));
	cr_assert(alloc_perm_check(&a, &p2, T0 + ALLOC_PERM_LIFETIME_MS));
	cr_assert_eq(a.n_channels, 2);

	/* Channel 1 leaves at T0 + 600 s + 300 s, channel 2 a second later. */
	alloc_prune(&a, T0 + ALLOC_CHANNEL_LIFETIME_MS + 300000u);
	cr_assert_eq(a.n_channels, 1);
	cr_assert_eq(a.channels[0].number, 0x4002);
	alloc_prune(&a, t1 + ALLOC_CHANNEL_LIFETIME_MS + 300000u);
	cr_assert_eq(a.n_channels, 0);
	cr_assert_eq(a.n_perms, 0);
}

/* auth: static and shared-secret credentials, quotas, the limiter. */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "proto/addr.h"
#include "proto/cred.h"
#include "src/sn/auth.h"

#define REALM "parley.test"
#define NOW 1800000000u

static void expect_key(const char *user, const char *pass, const uint8_t got[CRED_KEY_LEN])
{
	uint8_t want[CRED_KEY_LEN];

	cr_assert_eq(cred_longterm_key(user, strlen(user), REALM, strlen(REALM), pass,
				       strlen(pass), want),
		     0);
	cr_assert_arr_eq(got, want, CRED_KEY_LEN);
}

Test(auth, add_user_specs)
{
	struct auth *a = auth_create(REALM, 0, 0);
	char longname[300];

	cr_assert_not_null(a);
	cr_assert_not(auth_has_credentials(a));
	cr_assert_eq(auth_add_user(a, "alice:secret"), 0);
	cr_assert(auth_has_credentials(a));
	cr_assert_eq(auth_add_user(a, "nocolon"), -EINVAL);
	cr_assert_eq(auth_add_user(a, ":pass"), -EINVAL);
	cr_assert_eq(auth_add_user(a, "bob:"), -EINVAL);
	cr_assert_eq(auth_add_user(a, "alice:other"), -EEXIST);
	/* A colon in the password is the password's. */
	cr_assert_eq(auth_add_user(a, "carol:a:b"), 0);

	memset(longname, 'x', 256);
	strcpy(longname + 256, ":p");
	cr_assert_eq(auth_add_user(a, longname), -EINVAL);
	strcpy(longname + 255, ":p");
	cr_assert_eq(auth_add_user(a, longname), 0);
	cr_assert_str_eq(auth_realm(a), REALM);
	auth_destroy(a);
}

Test(auth, lookup_static)
{
	struct auth *a = auth_create(REALM, 0, 0);
	uint8_t key[CRED_KEY_LEN];
	char spec[32];

	cr_assert_eq(auth_add_user(a, "alice:secret"), 0);
	cr_assert_eq(auth_add_user(a, "carol:a:b"), 0);
	/* Enough users to make the table grow a few times. */
	for (int i = 0; i < 100; i++) {
		snprintf(spec, sizeof(spec), "user%d:pw%d", i, i);
		cr_assert_eq(auth_add_user(a, spec), 0);
	}

	cr_assert_eq(auth_lookup_key(a, "alice", 5, NOW, key), 0);
	expect_key("alice", "secret", key);
	cr_assert_eq(auth_lookup_key(a, "carol", 5, NOW, key), 0);
	expect_key("carol", "a:b", key);
	cr_assert_eq(auth_lookup_key(a, "user77", 6, NOW, key), 0);
	expect_key("user77", "pw77", key);
	/* Length, not NUL, ends the name. */
	cr_assert_eq(auth_lookup_key(a, "alicexyz", 5, NOW, key), 0);

	cr_assert_eq(auth_lookup_key(a, "mallory", 7, NOW, key), -ENOENT);
	cr_assert_eq(auth_lookup_key(a, "alic", 4, NOW, key), -ENOENT);
	cr_assert_eq(auth_lookup_key(a, "", 0, NOW, key), -ENOENT);
	auth_destroy(a);
}

Test(auth, shared_secret)
{
	struct auth *a = auth_create(REALM, 0, 0);
	uint8_t key[CRED_KEY_LEN];
	char user[64], pass[CRED_SECRET_PASSWORD_LEN + 1];
	const char *secret = "s3cr3t";

	cr_assert_eq(auth_set_secret(a, ""), -EINVAL);
	cr_assert_not(auth_has_credentials(a));
	cr_assert_eq(auth_set_secret(a, secret), 0);
	cr_assert(auth_has_credentials(a));
	cr_assert_eq(auth_add_user(a, "alice:secret"), 0);

	snprintf(user, sizeof(user), "%u:bob", NOW + 100);
	cr_assert_eq(auth_lookup_key(a, user, strlen(user), NOW, key), 0);
	cr_assert_eq(cred_secret_password((const uint8_t *)secret, strlen(secret), user,
					  strlen(user), pass, sizeof(pass)),
		     0);
	expect_key(user, pass, key);

	/* Valid through its expiry second, refused after. */
	cr_assert_eq(auth_lookup_key(a, user, strlen(user), NOW + 100, key), 0);
	cr_assert_eq(auth_lookup_key(a, user, strlen(user), NOW + 101, key), -EKEYEXPIRED);
	snprintf(user, sizeof(user), "%u:bob", NOW - 1);
	cr_assert_eq(auth_lookup_key(a, user, strlen(user), NOW, key), -EKEYEXPIRED);

	cr_assert_eq(auth_lookup_key(a, "bob", 3, NOW, key), -EINVAL);
	/* Static users still come first. */
	cr_assert_eq(auth_lookup_key(a, "alice", 5, NOW, key), 0);
	expect_key("alice", "secret", key);
	auth_destroy(a);
}

Test(auth, user_id)
{
	struct auth *a = auth_create(REALM, 0, 0);

	cr_assert_eq(auth_user_id(a, "alice", 5), auth_user_id(a, "alice", 5));
	cr_assert_neq(auth_user_id(a, "alice", 5), auth_user_id(a, "alicf", 5));
	cr_assert_neq(auth_user_id(a, "alice", 5), auth_user_id(a, "alice", 4));
	auth_destroy(a);
}

Test(auth, quota_per_user)
{
	struct auth *a = auth_create(REALM, 0, 2);
	uint64_t u = auth_user_id(a, "alice", 5), v = auth_user_id(a, "bob", 3);

	cr_assert_eq(auth_quota_take(a, u), 0);
	cr_assert_eq(auth_quota_take(a, u), 0);
	cr_assert_eq(auth_quota_take(a, u), -EDQUOT);
	cr_assert_eq(auth_quota_total(a), 2);
	cr_assert_eq(auth_quota_take(a, v), 0);
	auth_quota_give(a, u);
	cr_assert_eq(auth_quota_take(a, u), 0);
	cr_assert_eq(auth_quota_total(a), 3);

	/* Id 0 and ids sharing the first slot are still told apart. */
	cr_assert_eq(auth_quota_take(a, 0), 0);
	cr_assert_eq(auth_quota_take(a, 0), 0);
	cr_assert_eq(auth_quota_take(a, 0), -EDQUOT);
	cr_assert_eq(auth_quota_take(a, 0x200000000ull), 0);
	auth_destroy(a);
}

Test(auth, quota_slot_reuse)
{
	struct auth *a = auth_create(REALM, 0, 1);

	/* Many more distinct users over time than the table has slots, as
	 * shared-secret credentials produce: drained slots are reused. */
	for (uint64_t i = 1; i <= 200000; i++) {
		uint64_t id = i * 0x9e3779b97f4a7c15ull;

		cr_assert_eq(auth_quota_take(a, id), 0, "take %" PRIu64, i);
		auth_quota_give(a, id);
	}
	cr_assert_eq(auth_quota_total(a), 0);
	auth_destroy(a);
}

Test(auth, quota_total)
{
	struct auth *a = auth_create(REALM, 3, 2);
	uint64_t u = auth_user_id(a, "alice", 5), v = auth_user_id(a, "bob", 3);

	cr_assert_eq(auth_quota_take(a, u), 0);
	cr_assert_eq(auth_quota_take(a, u), 0);
	cr_assert_eq(auth_quota_take(a, v), 0);
	cr_assert_eq(auth_quota_take(a, v), -ENOSPC);
	cr_assert_eq(auth_quota_total(a), 3);
	auth_quota_give(a, v);
	cr_assert_eq(auth_quota_total(a), 2);
	/* A per-user refusal gives its total increment back. */
	cr_assert_eq(auth_quota_take(a, u), -EDQUOT);
	cr_assert_eq(auth_quota_total(a), 2);
	cr_assert_eq(auth_quota_take(a, v), 0);
	cr_assert_eq(auth_quota_total(a), 3);
	auth_destroy(a);
}

Test(auth, quota_unlimited)
{
	struct auth *a = auth_create(REALM, 0, 0);

	for (int i = 0; i < 1000; i++)
		cr_assert_eq(auth_quota_take(a, 42), 0);
	cr_assert_eq(auth_quota_total(a), 1000);
	for (int i = 0; i < 1000; i++)
		auth_quota_give(a, 42);
	cr_assert_eq(auth_quota_total(a), 0);
	/* An unmatched give does not wrap. */
	auth_quota_give(a, 42);
	cr_assert_eq(auth_quota_total(a), 0);
	auth_destroy(a);
}

/* ---- concurrency ----------------------------------------------------- */

#define CONC_THREADS 4
#define CONC_ITERS 100000
#define CONC_LIMIT 3

struct conc {
	struct auth *a;
	uint64_t id;
	_Atomic int held;      /* takes that succeeded and are not given back */
	_Atomic int max_held;
	_Atomic int max_total; /* highest auth_quota_total the observer saw */
	_Atomic bool done;
};

static void conc_max(_Atomic int *m, int v)
{
	int cur = atomic_load(m);

	while (v > cur && !atomic_compare_exchange_weak(m, &cur, v))
		;
}

static void *conc_worker(void *arg)
{
	struct conc *c = arg;

	for (int i = 0; i < CONC_ITERS; i++) {
		int ret = auth_quota_take(c->a, c->id);

		if (ret == 0) {
			conc_max(&c->max_held, atomic_fetch_add(&c->held, 1) + 1);
			atomic_fetch_sub(&c->held, 1);
			auth_quota_give(c->a, c->id);
		} else {
			cr_assert(ret == -EDQUOT || ret == -ENOSPC, "ret %d", ret);
		}
	}
	return NULL;
}

static void *conc_observer(void *arg)
{
	struct conc *c = arg;

	while (!atomic_load(&c->done))
		conc_max(&c->max_total, (int)auth_quota_total(c->a));
	return NULL;
}

/* 4 threads x 100000 take/give pairs on one user; returns the highest
 * total the observer saw. */
static int conc_run(uint32_t max_total, uint32_t max_per_user)
{
	struct conc c = { .a = auth_create(REALM, max_total, max_per_user) };
	pthread_t t[CONC_THREADS], obs;

	cr_assert_not_null(c.a);
	c.id = auth_user_id(c.a, "alice", 5);
	cr_assert_eq(pthread_create(&obs, NULL, conc_observer, &c), 0);
	for (int i = 0; i < CONC_THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, conc_worker, &c), 0);
	for (int i = 0; i < CONC_THREADS; i++)
		pthread_join(t[i], NULL);
	atomic_store(&c.done, true);
	pthread_join(obs, NULL);

	cr_assert_eq(auth_quota_total(c.a), 0);
	cr_assert_leq(atomic_load(&c.max_held), CONC_LIMIT);
	/* Everything is back: the full quota can be taken again. */
	for (int i = 0; i < CONC_LIMIT; i++)
		cr_assert_eq(auth_quota_take(c.a, c.id), 0);
	cr_assert_lt(auth_quota_take(c.a, c.id), 0);
	auth_destroy(c.a);
	return atomic_load(&c.max_total);
}

Test(auth, quota_concurrent_per_user)
{
	/* The total may briefly count a take whose per-user step is about to
	 * fail and give it back: at most one per thread beyond the holders. */
	cr_assert_leq(conc_run(0, CONC_LIMIT), CONC_LIMIT + CONC_THREADS - 1);
}

Test(auth, quota_concurrent_total)
{
	/* The total is taken by CAS: it is never seen above its maximum. */
	cr_assert_leq(conc_run(CONC_LIMIT, 0), CONC_LIMIT);
	cr_assert_leq(conc_run(CONC_LIMIT, CONC_LIMIT), CONC_LIMIT);
}

/* ---- limiter --------------------------------------------------------- */

static union addr ip(const char *s)
{
	union addr a;

	cr_assert_eq(addr_parse(s, 0, &a), 0, "%s", s);
	return a;
}

Test(auth, limiter_burst_and_refill)
{
	struct auth_limiter l;
	union addr x = ip("192.0.2.1:1000"), y = ip("192.0.2.2:1000");
	union addr x_other_port = ip("192.0.2.1:2000");
	uint64_t t = 5000;

	auth_limiter_init(&l, 1, 3, 0x1234);
	cr_assert(auth_limiter_allow(&l, &x, t));
	for (int i = 0; i < 3; i++) {
		cr_assert(auth_limiter_allow(&l, &x, t));
		auth_limiter_fail(&l, &x, t);
	}
	cr_assert_not(auth_limiter_allow(&l, &x, t));
	/* The bucket is per IP, not per port. */
	cr_assert_not(auth_limiter_allow(&l, &x_other_port, t));
	/* Another source is untouched. */
	cr_assert(auth_limiter_allow(&l, &y, t));

	cr_assert_not(auth_limiter_allow(&l, &x, t + 999));
	cr_assert(auth_limiter_allow(&l, &x, t + 1000));
	auth_limiter_fail(&l, &x, t + 1000);
	cr_assert_not(auth_limiter_allow(&l, &x, t + 1000));

	/* Refill stops at the burst. */
	cr_assert(auth_limiter_allow(&l, &x, t + 100000));
	for (int i = 0; i < 3; i++)
		auth_limiter_fail(&l, &x, t + 100000);
	cr_assert_not(auth_limiter_allow(&l, &x, t + 100000));
	/* A clock going backwards does no harm. */
	cr_assert_not(auth_limiter_allow(&l, &x, t));
}

Test(auth, limiter_v6)
{
	struct auth_limiter l;
	union addr x = ip("[2001:db8::1]:5"), y = ip("[2001:db8::2]:5");

	auth_limiter_init(&l, 10, 1, 99);
	auth_limiter_fail(&l, &x, 0);
	cr_assert_not(auth_limiter_allow(&l, &x, 0));
	cr_assert(auth_limiter_allow(&l, &y, 0));
	/* 10 per second: one token back after 100 ms. */
	cr_assert_not(auth_limiter_allow(&l, &x, 99));
	cr_assert(auth_limiter_allow(&l, &x, 100));
}

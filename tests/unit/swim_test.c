/* swim: membership and failure detection in a simulated network (N nodes
 * whose datagrams go through an in-memory queue with delay, loss and
 * partitions, on a clock advanced in 10 ms steps; deterministic, fixed
 * seeds, bounded by step counts), then the precedence rules, refutation,
 * relaying, hostile input and the allocation-free claim on single
 * instances fed crafted datagrams. The measured times are printed. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "proto/ovl.h"
#include "proto/wire.h"
#include "src/sn/swim.h"

#ifdef __SANITIZE_ADDRESS__
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#define MAXN   40
#define STEP   10 /* ms per simulation step */
#define QCAP   8192
#define EVCAP  65536
#define PERIOD SWIM_DEF_PERIOD_MS
#define ANY    -9 /* wildcard for count_ev */

struct pkt {
	uint64_t at;
	int from, to;
	size_t len;
	uint8_t buf[SWIM_MSG_MAX];
};

struct ev {
	int obs;         /* observer's index */
	uint64_t obs_id; /* observing instance (a restart is another one) */
	uint64_t id;     /* the member */
	int old_st, new_st;
	uint64_t at;
};

struct node {
	struct swim *s;
	uint64_t id;
	union addr addr;
	bool up;       /* false: crashed or cut off, nothing in or out */
	uint64_t wake; /* what swim_tick last returned */
};

/* The network. Static: nothing in the simulation loop allocates. */
static struct {
	struct node n[MAXN];
	int count;
	uint64_t now, rng;
	unsigned loss;        /* per mille */
	bool cut[MAXN][MAXN]; /* datagrams i -> j dropped */
	bool v6;
	unsigned gossip_max;
	struct pkt q[QCAP];
	size_t qn, q_over;
	struct ev ev[EVCAP];
	size_t nev;
	size_t max_len[3]; /* longest PING, ACK, PING_REQ sent */
	unsigned oversize, bad_wake;
} S;

static uint64_t rnd(void)
{
	uint64_t z = (S.rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static union addr node_addr(int i, bool v6)
{
	union addr a = {0};

	if (v6) {
		a.v6.sin6_family = AF_INET6;
		a.v6.sin6_port = htons(7000);
		inet_pton(AF_INET6, "2001:db8::", &a.v6.sin6_addr);
		a.v6.sin6_addr.s6_addr[15] = (uint8_t)(i + 1);
	} else {
		a.v4.sin_family = AF_INET;
		a.v4.sin_port = htons(7000);
		a.v4.sin_addr.s_addr = htonl(0x0a000001u + (uint32_t)i);
	}
	return a;
}

static void sim_send(void *ctx, const union addr *to, const uint8_t *buf, size_t len)
{
	int from = (int)((struct node *)ctx - S.n), j;
	struct pkt *p;

	if (len > SWIM_MSG_MAX) {
		S.oversize++;
		return;
	}
	if (buf[1] >= OVL_SWIM_PING && buf[1] <= OVL_SWIM_PING_REQ &&
	    len > S.max_len[buf[1] - OVL_SWIM_PING])
		S.max_len[buf[1] - OVL_SWIM_PING] = len;
	for (j = 0; j < S.count && !addr_equal(&S.n[j].addr, to); j++)
		;
	if (j == S.count || S.cut[from][j] || rnd() % 1000 < S.loss)
		return;
	if (S.qn == QCAP) {
		S.q_over++;
		return;
	}
	p = &S.q[S.qn++];
	p->at = S.now + 1 + rnd() % 15; /* 1..15 ms */
	p->from = from;
	p->to = j;
	p->len = len;
	memcpy(p->buf, buf, len);
}

static void sim_event(void *ctx, const struct ovl_node *node, int old_st, int new_st)
{
	struct node *n = ctx;

	if (S.nev < EVCAP)
		S.ev[S.nev++] = (struct ev){.obs = (int)(n - S.n),
		                            .obs_id = n->id,
		                            .id = node->id,
		                            .old_st = old_st,
		                            .new_st = new_st,
		                            .at = S.now};
}

static void start_node(int i, int seed)
{
	struct node *n = &S.n[i];
	struct swim_config c = {
	    .self = {.id = rnd() | 1, .addr = node_addr(i, S.v6)},
	    .gossip_max = S.gossip_max,
	    .seed = rnd(),
	    .send = sim_send,
	    .event = sim_event,
	    .ctx = n,
	};

	n->id = c.self.id;
	n->addr = c.self.addr;
	cr_assert_eq(swim_create(&c, &n->s), 0);
	n->up = true;
	if (seed >= 0)
		cr_assert_eq(swim_join(n->s, &S.n[seed].addr, S.now), 0);
	n->wake = swim_tick(n->s, S.now);
}

/* The tests' fixed seeds can all be shifted (-DSWIM_TEST_SEED=k) to check
 * that no bound below holds only for a lucky seed. */
#ifndef SWIM_TEST_SEED
#define SWIM_TEST_SEED 0
#endif

/* N nodes; all but node 0 join through node 0 at time 0. */
static void sim_init(int count, uint64_t seed, bool v6, unsigned gossip_max)
{
	memset(&S, 0, sizeof(S));
	S.rng = seed + 1000003u * SWIM_TEST_SEED;
	S.count = count;
	S.v6 = v6;
	S.gossip_max = gossip_max;
	for (int i = 0; i < count; i++)
		start_node(i, i ? 0 : -1);
}

static void sim_fini(void)
{
	for (int i = 0; i < S.count; i++)
		swim_destroy(S.n[i].s);
}

/* One step: deliver what is due, then tick the nodes whose time has come
 * (only then: the wake-up time swim_tick returns is trusted). */
static void step(void)
{
	S.now += STEP;
	for (size_t i = 0; i < S.qn;) {
		struct pkt p;

		if (S.q[i].at > S.now) {
			i++;
			continue;
		}
		p = S.q[i];
		S.q[i] = S.q[--S.qn];
		if (S.n[p.to].up && S.n[p.from].up)
			swim_receive(S.n[p.to].s, S.now, &S.n[p.from].addr, p.buf, p.len);
	}
	for (int i = 0; i < S.count; i++) {
		struct node *n = &S.n[i];

		if (!n->up || S.now < n->wake)
			continue;
		n->wake = swim_tick(n->s, S.now);
		S.bad_wake += n->wake <= S.now;
	}
}

static void run(uint64_t ms)
{
	for (uint64_t t = 0; t < ms; t += STEP)
		step();
}

/* Steps until cond holds, at most max_ms: the ms it took, or UINT64_MAX. */
#define RUN_UNTIL(cond, max_ms)                                                                    \
	({                                                                                         \
		uint64_t t0_ = S.now, r_ = UINT64_MAX;                                             \
		for (; S.now - t0_ <= (max_ms); step())                                            \
			if (cond) {                                                                \
				r_ = S.now - t0_;                                                  \
				break;                                                             \
			}                                                                          \
		r_;                                                                                \
	})

/* What obs knows of id: a state, or -2 for nothing. */
static int view(int obs, uint64_t id)
{
	struct ovl_node x;

	return swim_lookup(S.n[obs].s, id, &x) == 0 ? x.state : -2;
}

/* Every up node lists every other up node as alive, and nothing else. */
static bool converged(void)
{
	size_t up = 0;

	for (int i = 0; i < S.count; i++)
		up += S.n[i].up;
	for (int i = 0; i < S.count; i++) {
		if (!S.n[i].up)
			continue;
		if (swim_members(S.n[i].s, NULL, 0) != up - 1)
			return false;
		for (int j = 0; j < S.count; j++)
			if (j != i && S.n[j].up && view(i, S.n[j].id) != SWIM_ALIVE)
				return false;
	}
	return true;
}

/* Every up node other than the member itself sees id in state st. */
static bool all_see(uint64_t id, int st)
{
	for (int i = 0; i < S.count; i++)
		if (S.n[i].up && S.n[i].id != id && view(i, id) != st)
			return false;
	return true;
}

static size_t count_ev(int obs, uint64_t id, int old_st, int new_st)
{
	size_t k = 0;

	for (size_t i = 0; i < S.nev; i++)
		k += (obs < 0 || S.ev[i].obs == obs) && (!id || S.ev[i].id == id) &&
		     (old_st == ANY || S.ev[i].old_st == old_st) &&
		     (new_st == ANY || S.ev[i].new_st == new_st);
	return k;
}

/* Each (observer, member) pair's events form a chain: joined -> alive
 * first, then each event starting where the previous one ended, never a
 * state to itself: exactly one event per transition. Plus the network's
 * own invariants. */
static void check_chains(void)
{
	static struct {
		uint64_t obs, id;
		int last;
	} seen[4096];
	size_t n = 0, j;

	cr_assert_lt(S.nev, EVCAP);
	for (size_t i = 0; i < S.nev; i++) {
		const struct ev *e = &S.ev[i];

		for (j = 0; j < n && !(seen[j].obs == e->obs_id && seen[j].id == e->id); j++)
			;
		cr_assert_neq(e->old_st, e->new_st);
		cr_assert_eq(e->old_st, j == n ? SWIM_JOINED : seen[j].last,
		             "chain broken (obs %d)", e->obs);
		if (j == n) {
			cr_assert_lt(n, 4096);
			seen[n].obs = e->obs_id;
			seen[n++].id = e->id;
		}
		seen[j].last = e->new_st;
	}
	cr_assert_eq(S.oversize, 0, "datagram over %d bytes", SWIM_MSG_MAX);
	cr_assert_eq(S.bad_wake, 0, "swim_tick returned a time not in the future");
	cr_assert_eq(S.q_over, 0);
}

static void report(const char *what, uint64_t ms)
{
	fprintf(stderr, "swim: %-42s %6llu ms = %5.1f periods\n", what, (unsigned long long)ms,
	        (double)ms / PERIOD);
}

TestSuite(swim, .timeout = 60);

/* ---- the simulated network ---------------------------------------------- */

/* All join through one seed: everyone lists the N-1 others as alive
 * within bound periods, with exactly N-1 join events each. */
static void join_n(int count, uint64_t bound)
{
	char what[64];
	uint64_t t;

	sim_init(count, 1000 + (uint64_t)count, false, 0);
	t = RUN_UNTIL(converged(), bound * PERIOD);
	snprintf(what, sizeof(what), "join, N=%d: full view everywhere", count);
	report(what, t);
	cr_assert_lt(t, bound * PERIOD, "N=%d: no full view in %llu periods", count,
	             (unsigned long long)bound);
	for (int i = 0; i < count; i++) {
		cr_assert_eq(count_ev(i, 0, SWIM_JOINED, SWIM_ALIVE), (size_t)count - 1);
		cr_assert_eq(count_ev(i, 0, ANY, ANY), (size_t)count - 1, "nothing else");
	}
	run(20 * PERIOD);
	cr_assert(converged(), "and it stays so");
	check_chains();
	sim_fini();
}

Test(swim, join_5)
{
	join_n(5, 4);
}

Test(swim, join_10)
{
	join_n(10, 6);
}

Test(swim, join_20)
{
	join_n(20, 10);
}

Test(swim, two_deaths_detected)
{
	const int a = 3, b = 7;
	uint64_t t, first = UINT64_MAX, susp = 4 * 4392 * PERIOD / 1000; /* 4 log2(21) periods */
	struct swim_stats st;

	sim_init(20, 42, false, 0);
	cr_assert_neq(RUN_UNTIL(converged(), 10 * PERIOD), UINT64_MAX);
	run(5 * PERIOD);
	S.n[a].up = S.n[b].up = false;
	t = S.now;
	cr_assert_neq(RUN_UNTIL(all_see(S.n[a].id, SWIM_DEAD) && all_see(S.n[b].id, SWIM_DEAD),
	                        susp + 8 * PERIOD),
	              UINT64_MAX, "not dead everywhere within the suspicion timeout + 8 periods");
	for (size_t i = 0; i < S.nev; i++)
		if (S.ev[i].at >= t && S.ev[i].new_st == SWIM_SUSPECT && S.ev[i].at - t < first)
			first = S.ev[i].at - t;
	report("death, N=20: first suspicion", first);
	report("death, N=20: both dead everywhere", S.now - t);
	report("(suspicion timeout at n=20)", susp);
	for (size_t i = 0; i < S.nev; i++)
		if (S.ev[i].new_st == SWIM_DEAD)
			cr_assert(S.ev[i].id == S.n[a].id || S.ev[i].id == S.n[b].id,
			          "a live one died");
	run(10 * PERIOD);
	cr_assert(converged());
	swim_stats(S.n[0].s, &st);
	cr_assert_eq(st.alive, 17);
	cr_assert_eq(st.dead, 2);
	check_chains();
	sim_fini();
}

Test(swim, loss_10pct_no_false_death)
{
	uint64_t susp = 0, refute = 0;

	sim_init(20, 7, false, 0);
	cr_assert_neq(RUN_UNTIL(converged(), 10 * PERIOD), UINT64_MAX);
	S.loss = 100;
	run(200 * PERIOD);
	cr_assert_eq(count_ev(-1, 0, ANY, SWIM_DEAD), 0, "a live node declared dead");
	S.loss = 0;
	cr_assert_neq(RUN_UNTIL(converged(), 5 * PERIOD), UINT64_MAX);
	for (int i = 0; i < S.count; i++) {
		struct swim_stats st;

		swim_stats(S.n[i].s, &st);
		susp += st.suspicions;
		refute += st.refutations;
	}
	fprintf(stderr,
	        "swim: 10%% loss, N=20, 200 periods: %llu suspicions (summed over "
	        "observers), %llu refutations, no death\n",
	        (unsigned long long)susp, (unsigned long long)refute);
	cr_assert_gt(susp, 0, "the loss should cause some suspicions");
	cr_assert_gt(refute, 0);
	cr_assert_eq(count_ev(-1, 0, SWIM_ALIVE, SWIM_SUSPECT), susp);
	cr_assert_eq(count_ev(-1, 0, SWIM_SUSPECT, SWIM_ALIVE), susp, "every suspicion refuted");
	cr_assert_eq(count_ev(-1, 0, ANY, SWIM_DEAD), 0);
	check_chains();
	sim_fini();
}

Test(swim, suspected_node_refutes)
{
	const int x = 4;
	struct ovl_node self, v;

	sim_init(10, 99, false, 0);
	cr_assert_neq(RUN_UNTIL(converged(), 10 * PERIOD), UINT64_MAX);
	for (int i = 0; i < S.count; i++)
		S.cut[i][x] = S.cut[x][i] = true;
	cr_assert_neq(RUN_UNTIL(count_ev(-1, S.n[x].id, SWIM_ALIVE, SWIM_SUSPECT), 10 * PERIOD),
	              UINT64_MAX);
	run(PERIOD);
	memset(S.cut, 0, sizeof(S.cut));
	/* x suspected the others too, while cut off: those are refuted as well */
	cr_assert_neq(RUN_UNTIL(converged(), 10 * PERIOD), UINT64_MAX, "no refutation");
	swim_self(S.n[x].s, &self);
	cr_assert_geq(self.incarnation, 1, "refuted by raising its incarnation");
	cr_assert_gt(count_ev(-1, S.n[x].id, SWIM_SUSPECT, SWIM_ALIVE), 0);
	cr_assert_eq(count_ev(-1, 0, ANY, SWIM_DEAD), 0);
	for (int i = 0; i < S.count; i++)
		if (i != x) {
			cr_assert_eq(swim_lookup(S.n[i].s, S.n[x].id, &v), 0);
			cr_assert_eq(v.incarnation, self.incarnation);
		}
	check_chains();
	sim_fini();
}

Test(swim, graceful_leave)
{
	const int x = 5;
	uint64_t t;

	sim_init(10, 5, false, 0);
	cr_assert_neq(RUN_UNTIL(converged(), 10 * PERIOD), UINT64_MAX);
	run(3 * PERIOD);
	swim_leave(S.n[x].s, S.now);
	cr_assert_eq(swim_tick(S.n[x].s, S.now), UINT64_MAX);
	S.n[x].wake = UINT64_MAX;
	t = RUN_UNTIL(all_see(S.n[x].id, SWIM_LEFT), 4 * PERIOD);
	report("leave, N=10: left everywhere", t);
	cr_assert_neq(t, UINT64_MAX);
	S.n[x].up = false; /* the process exits */
	run(30 * PERIOD);
	cr_assert(converged());
	cr_assert(all_see(S.n[x].id, SWIM_LEFT), "left stays left, never dead");
	cr_assert_eq(count_ev(-1, S.n[x].id, ANY, SWIM_LEFT), 9, "once per observer");
	cr_assert_eq(count_ev(-1, 0, ANY, SWIM_DEAD), 0);
	check_chains();
	sim_fini();
}

Test(swim, restart_with_new_id_replaces)
{
	const int x = 6;
	uint64_t old, t;

	sim_init(10, 66, false, 0);
	cr_assert_neq(RUN_UNTIL(converged(), 10 * PERIOD), UINT64_MAX);
	run(3 * PERIOD);
	old = S.n[x].id;
	S.n[x].up = false; /* crash, and start again on the same address */
	swim_destroy(S.n[x].s);
	step();
	start_node(x, 0);
	t = RUN_UNTIL(converged() && all_see(old, SWIM_DEAD), 10 * PERIOD);
	report("restart, N=10: old id dead, new id alive", t);
	cr_assert_lt(t, 6 * PERIOD, "replaced at once, not after a suspicion (14 periods)");
	for (int i = 0; i < S.count; i++)
		if (i != x)
			cr_assert_eq(count_ev(i, old, ANY, SWIM_DEAD), 1);
	cr_assert_eq(count_ev(-1, S.n[x].id, SWIM_JOINED, SWIM_ALIVE), 9);
	cr_assert_eq(view(x, old), SWIM_DEAD, "its previous life, at its own address");
	check_chains();
	sim_fini();
}

static bool sides_dead(void) /* each half holds the other dead */
{
	for (int i = 0; i < 10; i++)
		for (int j = 0; j < 10; j++)
			if ((i < 5) != (j < 5) && view(i, S.n[j].id) != SWIM_DEAD)
				return false;
	return true;
}

/* Long enough for each side to declare the other dead, then healed: the
 * periodic PING to a remembered dead member lets both sides refute. */
Test(swim, partition_heals)
{
	uint64_t t;

	sim_init(10, 11, false, 0);
	cr_assert_neq(RUN_UNTIL(converged(), 10 * PERIOD), UINT64_MAX);
	for (int i = 0; i < 5; i++)
		for (int j = 5; j < 10; j++)
			S.cut[i][j] = S.cut[j][i] = true;
	cr_assert_neq(RUN_UNTIL(sides_dead(), 40 * PERIOD), UINT64_MAX);
	run(10 * PERIOD);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(swim_members(S.n[i].s, NULL, 0), 4, "each side alone");
	memset(S.cut, 0, sizeof(S.cut));
	t = RUN_UNTIL(converged(), 2 * SWIM_REJOIN_PERIODS * PERIOD);
	report("partition 5/5 healed: full view again", t);
	cr_assert_neq(t, UINT64_MAX);
	cr_assert_gt(count_ev(-1, 0, SWIM_DEAD, SWIM_ALIVE), 0, "resurrected by refutation");
	check_chains();
	sim_fini();
}

/* IPv6 and the largest gossip: every datagram, PING_REQ included, stays
 * within SWIM_MSG_MAX (and check_chains counts any that does not). */
Test(swim, ipv6_full_gossip_fits)
{
	sim_init(36, 6, true, SWIM_GOSSIP_LIMIT);
	cr_assert_neq(RUN_UNTIL(converged(), 10 * PERIOD), UINT64_MAX);
	S.n[9].up = false;
	cr_assert_neq(RUN_UNTIL(all_see(S.n[9].id, SWIM_DEAD), 30 * PERIOD), UINT64_MAX);
	fprintf(stderr, "swim: IPv6, gossip_max 30: longest PING %zu, ACK %zu, PING_REQ %zu B\n",
	        S.max_len[0], S.max_len[1], S.max_len[2]);
	cr_assert_gt(S.max_len[2], 1100, "the test should fill a PING_REQ");
	check_chains();
	sim_fini();
}

/* No allocation after create: swim.c allocates only in swim_create (by
 * construction), and the heap in use is the same before and after joins,
 * probes, suspicions, deaths and a leave (the simulation is static). Under
 * ASan the sanitizer's counter is read instead of mallinfo2. */
static size_t heap_in_use(void)
{
#ifdef __SANITIZE_ADDRESS__
	return __sanitizer_get_current_allocated_bytes();
#else
	return mallinfo2().uordblks;
#endif
}

Test(swim, no_allocation_after_create)
{
	size_t before, after;

	sim_init(20, 3, false, 0);
	before = heap_in_use();
	run(10 * PERIOD);
	S.n[2].up = false;
	S.loss = 50;
	run(40 * PERIOD);
	swim_leave(S.n[4].s, S.now);
	run(5 * PERIOD);
	after = heap_in_use();
	cr_assert_eq(before, after, "heap changed by %zd bytes", (ssize_t)(after - before));
	S.n[4].up = false;
	cr_assert(all_see(S.n[2].id, SWIM_DEAD));
	sim_fini();
}

/* ---- single instances fed crafted datagrams ----------------------------- */

#define A_ID 0x1111u

/* What a single instance sent: counts, and the last datagram of each type. */
static struct {
	unsigned n, watched, by_type[3]; /* sent; to `watch`; by PING, ACK, PING_REQ */
	union addr watch;
	struct {
		union addr to;
		size_t len;
		uint8_t buf[SWIM_MSG_MAX];
	} last[3];
} cap;

#define LAST(type) (&cap.last[(type)-OVL_SWIM_PING])

static void cap_send(void *ctx, const union addr *to, const uint8_t *buf, size_t len)
{
	unsigned k = buf[1] - OVL_SWIM_PING;

	(void)ctx;
	cr_assert_lt(k, 3);
	cap.n++;
	cap.watched += addr_equal(to, &cap.watch);
	cap.by_type[k]++;
	cap.last[k].to = *to;
	cap.last[k].len = len;
	memcpy(cap.last[k].buf, buf, len);
}

/* Node "A" (id A_ID at address index 0); events logged as observer 0. */
static struct swim *solo(uint32_t max_members)
{
	struct swim_config c = {.self = {.id = A_ID, .addr = node_addr(0, false)},
	                        .max_members = max_members,
	                        .seed = 1,
	                        .send = cap_send,
	                        .event = sim_event,
	                        .ctx = &S.n[0]};
	struct swim *s;

	memset(&S, 0, sizeof(S));
	memset(&cap, 0, sizeof(cap));
	S.count = 1;
	S.n[0].addr = c.self.addr;
	cr_assert_eq(swim_create(&c, &s), 0);
	return s;
}

static struct ovl_node nd(uint64_t id, uint32_t inc, uint8_t state, int where)
{
	return (struct ovl_node){
	    .id = id, .incarnation = inc, .state = state, .addr = node_addr(where, false)};
}

/* A datagram: SEQ (unless seq is 0), NODE snd and TARGET tgt (unless
 * NULL), then the gossip g. */
static size_t craft(uint8_t *buf, uint8_t type, uint32_t seq, const struct ovl_node *snd,
                    const struct ovl_node *tgt, const struct ovl_node *g, unsigned ng)
{
	struct ovl_builder b;
	uint8_t x[4];
	int n;

	ovl_build(&b, buf, SWIM_MSG_MAX, type, seq);
	wire_put32(x, seq);
	if (seq)
		ovl_put(&b, OVL_A_SEQ, x, 4);
	if (snd)
		ovl_put_node(&b, OVL_A_NODE, snd);
	if (tgt)
		ovl_put_node(&b, OVL_A_TARGET, tgt);
	for (unsigned i = 0; i < ng; i++)
		ovl_put_node(&b, OVL_A_NODE, &g[i]);
	n = ovl_finish(&b);
	cr_assert_gt(n, 0);
	return (size_t)n;
}

/* F (id 0xF at index 9) pings A carrying gossip g. */
static void gossip(struct swim *s, uint64_t now, const struct ovl_node *g, unsigned ng)
{
	struct ovl_node f = nd(0xF, 0, SWIM_ALIVE, 9);
	uint8_t buf[SWIM_MSG_MAX];
	size_t len = craft(buf, OVL_SWIM_PING, 1, &f, NULL, g, ng);

	swim_receive(s, now, &f.addr, buf, len);
}

static int state_of(struct swim *s, uint64_t id)
{
	struct ovl_node x;

	return swim_lookup(s, id, &x) == 0 ? x.state : -2;
}

Test(swim, create_rejects_bad_config)
{
	const struct ovl_node me = nd(5, 0, 0, 0), any = {.id = 5, .addr.sa.sa_family = AF_INET};
	const struct swim_config
	    ok = {.self = me, .send = cap_send},
	    bad[] = {
	        {.self = me},                                     /* no send */
	        {.self = nd(0, 0, 0, 0), .send = cap_send},       /* id 0 */
	        {.self = any, .send = cap_send},                  /* wildcard, port 0 */
	        {.self = me, .send = cap_send, .period_ms = 200}, /* timeout 200 >= period */
	        {.self = me, .send = cap_send, .period_ms = SWIM_PERIOD_MAX + 1},
	        {.self = me, .send = cap_send, .gossip_max = SWIM_GOSSIP_LIMIT + 1},
	        {.self = me, .send = cap_send, .indirect_k = SWIM_INDIRECT_MAX + 1},
	        {.self = me, .send = cap_send, .suspect_mult = SWIM_MULT_MAX + 1},
	        {.self = me, .send = cap_send, .retransmit_mult = SWIM_MULT_MAX + 1},
	        {.self = me, .send = cap_send, .max_members = SWIM_MEMBERS_LIMIT + 1},
	    };
	struct swim *s;

	cr_assert_eq(swim_create(&ok, &s), 0);
	cr_assert_eq(swim_join(s, &any.addr, 0), -EINVAL);
	swim_destroy(s);
	swim_destroy(NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = (struct swim *)&s;
		cr_assert_eq(swim_create(&bad[i], &s), -EINVAL, "config %zu", i);
		cr_assert_null(s);
	}
}

/* The precedence table of swim.h, one gossiped NODE at a time. */
Test(swim, precedence_rules)
{
	static const struct {
		uint64_t id;
		uint32_t inc;
		uint8_t state;
		int expect; /* -2: unknown */
	} steps[] = {
	    {0x77, 0, SWIM_ALIVE, SWIM_ALIVE},     /* a new member */
	    {0x77, 0, SWIM_SUSPECT, SWIM_SUSPECT}, /* suspect(i) over alive(i) */
	    {0x77, 0, SWIM_ALIVE, SWIM_SUSPECT},   /* alive(i) does not clear it */
	    {0x77, 1, SWIM_ALIVE, SWIM_ALIVE},     /* alive(i + 1) does */
	    {0x77, 0, SWIM_SUSPECT, SWIM_ALIVE},   /* stale suspicion */
	    {0x77, 0, SWIM_DEAD, SWIM_ALIVE},      /* stale death */
	    {0x77, 1, SWIM_DEAD, SWIM_DEAD},       /* dead(i) over alive(i) */
	    {0x77, 1, SWIM_ALIVE, SWIM_DEAD},      /* stale gossip cannot resurrect */
	    {0x77, 1, SWIM_SUSPECT, SWIM_DEAD},
	    {0x77, 9, SWIM_LEFT, SWIM_DEAD},   /* dead and left are final */
	    {0x77, 2, SWIM_ALIVE, SWIM_ALIVE}, /* a higher incarnation can */
	    {0x77, 2, SWIM_LEFT, SWIM_LEFT},
	    {0x88, 0, SWIM_SUSPECT, -2},      /* unknown suspect: ignored */
	    {0x99, 3, SWIM_DEAD, SWIM_DEAD},  /* unknown dead: remembered */
	    {0x99, 3, SWIM_ALIVE, SWIM_DEAD}, /* so stale gossip cannot add it */
	};
	struct swim *s = solo(0);

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct ovl_node g = nd(steps[i].id, steps[i].inc, steps[i].state, 3);

		gossip(s, 0, &g, 1);
		cr_assert_eq(state_of(s, steps[i].id), steps[i].expect, "step %zu", i);
	}
	cr_assert_eq(count_ev(0, 0x77, ANY, ANY), 6, "one event per transition");
	cr_assert_eq(count_ev(0, 0x99, ANY, ANY), 0, "a tombstone for a stranger is silent");
	check_chains();
	swim_tick(s, SWIM_DEF_FORGET_MS + 1); /* tombstones are forgotten */
	cr_assert_eq(state_of(s, 0x99), -2);
	cr_assert_eq(state_of(s, 0x77), -2);
	cr_assert_eq(state_of(s, 0xF), SWIM_ALIVE);
	swim_destroy(s);
}

Test(swim, suspicion_times_out)
{
	struct swim *s = solo(0);
	struct ovl_node g = nd(0x77, 0, SWIM_ALIVE, 3);

	gossip(s, 1000, &g, 1);
	g.state = SWIM_SUSPECT;
	gossip(s, 1000, &g, 1);
	/* n = 3 (A, F, 0x77): 4 x log2(4) = 8 periods */
	cr_assert_leq(swim_tick(s, 1000), 1000 + PERIOD);
	swim_tick(s, 1000 + 8 * PERIOD - 1);
	cr_assert_eq(state_of(s, 0x77), SWIM_SUSPECT);
	swim_tick(s, 1000 + 8 * PERIOD);
	cr_assert_eq(state_of(s, 0x77), SWIM_DEAD);
	swim_destroy(s);
}

Test(swim, refutes_claims_about_itself)
{
	static const struct {
		uint32_t inc;
		uint8_t state;
		int where;
		uint32_t after; /* our incarnation then */
	} claims[] = {
	    {0, SWIM_SUSPECT, 0, 1},                       /* suspected at 0: alive at 1 */
	    {5, SWIM_DEAD, 0, 6},    {3, SWIM_LEFT, 0, 6}, /* stale */
	    {6, SWIM_ALIVE, 0, 6},                         /* the truth */
	    {6, SWIM_ALIVE, 8, 7},                         /* our id at another address */
	    {9, SWIM_ALIVE, 0, 10},                        /* alive, but higher than ours */
	};
	struct swim *s = solo(0);
	struct swim_stats st;
	struct ovl_node me, g, x;
	struct ovl_msg m;
	bool found = false;

	for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++) {
		g = nd(A_ID, claims[i].inc, claims[i].state, claims[i].where);
		gossip(s, 0, &g, 1);
		/* the ACK carries our NODE first, at the new incarnation */
		cr_assert_eq(ovl_parse(LAST(OVL_SWIM_ACK)->buf, LAST(OVL_SWIM_ACK)->len, &m), 0);
		cr_assert_eq(ovl_get_node(LAST(OVL_SWIM_ACK)->buf, &m, 0, &me), 0);
		cr_assert_eq(me.id, A_ID);
		cr_assert_eq(me.state, SWIM_ALIVE);
		cr_assert_eq(me.incarnation, claims[i].after, "claim %zu", i);
	}
	swim_stats(s, &st);
	cr_assert_eq(st.refutations, 4);
	/* another id alive at our own address: our previous life, dead, and
	 * gossiped as such (no event: it was never our member) */
	g = nd(0x5151, 4, SWIM_ALIVE, 0);
	gossip(s, 0, &g, 1);
	cr_assert_eq(state_of(s, 0x5151), SWIM_DEAD);
	cr_assert_eq(count_ev(0, 0x5151, ANY, ANY), 0);
	cr_assert_eq(ovl_parse(LAST(OVL_SWIM_ACK)->buf, LAST(OVL_SWIM_ACK)->len, &m), 0);
	for (unsigned i = 1; i < m.n_nodes; i++) {
		cr_assert_eq(ovl_get_node(LAST(OVL_SWIM_ACK)->buf, &m, i, &x), 0);
		found |= x.id == 0x5151 && x.state == SWIM_DEAD && x.incarnation == 4;
	}
	cr_assert(found);
	swim_leave(s, 0); /* a leaving node refutes nothing, but still answers */
	g = nd(A_ID, 20, SWIM_DEAD, 0);
	gossip(s, 0, &g, 1);
	swim_self(s, &me);
	cr_assert_eq(me.incarnation, 10);
	cr_assert_eq(me.state, SWIM_LEFT);
	cr_assert_eq(cap.by_type[1], 8);
	swim_destroy(s);
}

Test(swim, ping_req_relay)
{
	struct swim *s = solo(0);
	struct ovl_node f = nd(0xF, 0, SWIM_ALIVE, 9), t = nd(0x7, 0, SWIM_ALIVE, 7);
	struct ovl_node u = nd(0x8, 0, SWIM_ALIVE, 8), x;
	uint8_t buf[SWIM_MSG_MAX];
	struct ovl_msg m;
	uint32_t seq2;
	size_t len;

	gossip(s, 0, &t, 1); /* A knows F and T */
	cap.n = 0;
	len = craft(buf, OVL_SWIM_PING_REQ, 77, &f, &u, NULL, 0);
	swim_receive(s, 0, &f.addr, buf, len);
	cr_assert_eq(cap.n, 0, "no probing for a target A does not know");
	len = craft(buf, OVL_SWIM_PING_REQ, 77, &u, &t, NULL, 0);
	swim_receive(s, 0, &u.addr, buf, len);
	cr_assert_eq(cap.n, 0, "nor for a stranger");
	len = craft(buf, OVL_SWIM_PING_REQ, 77, &f, &t, NULL, 0);
	swim_receive(s, 0, &f.addr, buf, len);
	cr_assert_eq(cap.n, 1);
	cr_assert(addr_equal(&LAST(OVL_SWIM_PING)->to, &t.addr));
	seq2 = wire_get32(LAST(OVL_SWIM_PING)->buf + 4);
	len = craft(buf, OVL_SWIM_ACK, seq2, &u, NULL, NULL, 0); /* the wrong node */
	swim_receive(s, 0, &u.addr, buf, len);
	cr_assert_eq(cap.n, 1);
	len = craft(buf, OVL_SWIM_ACK, seq2, &t, NULL, NULL, 0);
	swim_receive(s, 0, &t.addr, buf, len);
	swim_receive(s, 0, &t.addr, buf, len);
	cr_assert_eq(cap.n, 2, "relayed, once");
	cr_assert(addr_equal(&LAST(OVL_SWIM_ACK)->to, &f.addr));
	cr_assert_eq(ovl_parse(LAST(OVL_SWIM_ACK)->buf, LAST(OVL_SWIM_ACK)->len, &m), 0);
	cr_assert_eq(wire_get32(LAST(OVL_SWIM_ACK)->buf + m.off[OVL_A_SEQ]), 77);
	cr_assert(ovl_has(&m, OVL_A_TARGET));
	cr_assert_eq(ovl_node_decode(LAST(OVL_SWIM_ACK)->buf + m.off[OVL_A_TARGET],
	                             m.alen[OVL_A_TARGET], &x),
	             0);
	cr_assert_eq(x.id, 0x7);
	swim_destroy(s);
}

Test(swim, table_full)
{
	struct swim *s = solo(4);
	struct ovl_node g[4] = {nd(1, 0, 0, 1), nd(2, 0, 0, 2), nd(3, 0, 0, 3), nd(4, 0, 0, 4)};
	struct swim_stats st;

	gossip(s, 0, g, 3); /* F + 3 */
	gossip(s, 0, &g[3], 1);
	swim_stats(s, &st);
	cr_assert_eq(st.alive, 4);
	cr_assert_eq(st.table_full, 1);
	cr_assert_eq(state_of(s, 4), -2);
	g[0].state = SWIM_DEAD;
	gossip(s, 0, g, 1);
	gossip(s, 0, &g[3], 1); /* takes the tombstone's slot */
	cr_assert_eq(state_of(s, 4), SWIM_ALIVE);
	cr_assert_eq(state_of(s, 1), -2);
	cr_assert_eq(swim_members(s, NULL, 0), 4);
	swim_destroy(s);
}

Test(swim, join_retries_silent_seeds)
{
	struct swim *s = solo(0);
	uint64_t now, wake = 0;

	cap.watch = node_addr(5, false);
	cr_assert_eq(swim_join(s, &S.n[0].addr, 0), 0); /* ourselves: skipped */
	cr_assert_eq(cap.n, 0);
	cr_assert_eq(swim_join(s, &cap.watch, 0), 0);
	for (now = 0; now < 10 * PERIOD; now += STEP)
		if (now >= wake)
			wake = swim_tick(s, now);
	cr_assert_eq(cap.watched, 3, "pinged at 0, 4 and 8 periods");
	gossip(s, now, NULL, 0); /* F: a member now */
	for (; now < 13 * PERIOD; now += STEP)
		swim_tick(s, now);
	cr_assert_eq(cap.watched, 3, "no retry while a member is known");
	swim_destroy(s);
}

/* ---- hostile input ------------------------------------------------------ */

Test(swim, malformed_input_counted)
{
	struct swim *s = solo(0);
	const struct ovl_node f = nd(0xF, 0, SWIM_ALIVE, 9), t = nd(0x7, 0, SWIM_ALIVE, 7);
	const struct ovl_node z = nd(0, 0, SWIM_ALIVE, 6), me = nd(A_ID, 0, SWIM_ALIVE, 9);
	const struct ovl_node g[2] = {nd(0, 0, SWIM_ALIVE, 5), t}; /* a gossip NODE with id 0 */
	uint8_t buf[SWIM_MSG_MAX], good[SWIM_MSG_MAX];
	struct swim_stats st;
	size_t len, glen = craft(good, OVL_SWIM_PING, 5, &f, NULL, g, 2);
	uint64_t bad;

	S.rng = 1234;
	for (int i = 0; i < 20000; i++) { /* random bytes, half with our magic */
		len = rnd() % sizeof(buf);
		for (size_t j = 0; j < len; j++)
			buf[j] = (uint8_t)rnd();
		if (i & 1 && len > 0)
			buf[0] = OVL_MAGIC;
		swim_receive(s, 0, &f.addr, buf, len);
	}
	swim_stats(s, &st);
	cr_assert_eq(st.malformed + st.foreign, 20000);
	bad = st.malformed;
	for (size_t l = 0; l < glen; l++) /* every truncation */
		swim_receive(s, 0, &f.addr, good, l);
#define FEED(...) (len = craft(buf, __VA_ARGS__), swim_receive(s, 0, &f.addr, buf, len))
	FEED(OVL_SWIM_PING, 5, &z, NULL, NULL, 0);     /* sender id 0 */
	FEED(OVL_SWIM_PING_REQ, 5, NULL, &t, NULL, 0); /* TARGET without NODE */
	FEED(OVL_SWIM_PING_REQ, 5, &f, NULL, NULL, 0); /* PING_REQ without TARGET */
	FEED(OVL_SWIM_PING, 0, &f, NULL, NULL, 0);     /* no SEQ */
	FEED(OVL_SWIM_PING_REQ, 5, &f, &z, NULL, 0);   /* TARGET id 0 */
	FEED(OVL_SWIM_PING, 5, &me, NULL, NULL, 0);    /* our own id as sender */
	swim_stats(s, &st);
	cr_assert_eq(st.malformed, bad + glen + 6);
	cr_assert_eq(st.alive, 0, "nothing learnt from all that");
	cr_assert_eq(cap.n, 0, "nothing answered");
	FEED(OVL_BOOTSTRAP_GET, 5, NULL, NULL, NULL, 0); /* another overlay message */
#undef FEED
	swim_stats(s, &st);
	cr_assert_eq(st.malformed + st.foreign, 20000 + glen + 6 + 1);
	/* a good message with a bad gossip NODE: the rest still counts */
	swim_receive(s, 0, &f.addr, good, glen);
	swim_stats(s, &st);
	cr_assert_eq(st.bad_nodes, 1);
	cr_assert_eq(st.alive, 2, "F and T");
	cr_assert_eq(cap.by_type[1], 1, "answered");
	for (int i = 0; i < 20000; i++) { /* a good message with bits flipped: no crash */
		memcpy(buf, good, glen);
		for (int k = 0; k < 3; k++)
			buf[8 + rnd() % (glen - 8)] ^= (uint8_t)(1u << (rnd() % 8));
		swim_receive(s, 0, &f.addr, buf, glen);
	}
	cr_assert_eq(state_of(s, A_ID), SWIM_ALIVE);
	swim_destroy(s);
}

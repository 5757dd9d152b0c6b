/* swim: see swim.h for the protocol and its rules.
 *
 * Layout. Members live in one array of max_members slots; a chained hash
 * index (buckets of slot numbers, twice the capacity, keyed by the id
 * mixed with a random key so that chosen ids cannot pile into one chain)
 * finds them by id. The probe order is a second array of slot numbers.
 * Nothing is allocated after swim_create: every table is sized there, and
 * the one message buffer is part of struct swim. Scans over the whole
 * table (timers, sampling, gossip choice) cost max_members steps a few
 * times per period: microseconds at the default 1024. */
#include "src/sn/swim.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "proto/wire.h"

#define NONE   UINT32_MAX
#define RELAYS 16 /* PING_REQs we can be probing for at once */

/* State masks for sample(). */
#define M_ALIVE (1u << SWIM_ALIVE)
#define M_LIVE  (1u << SWIM_ALIVE | 1u << SWIM_SUSPECT)
#define M_DEAD  (1u << SWIM_DEAD)

struct member {
	struct ovl_node node; /* id, incarnation, state and address as we know them */
	uint64_t deadline;    /* suspect: when it turns dead; dead/left: when forgotten */
	uint64_t upd;         /* serial of its last update: newer ones are gossiped first */
	uint32_t next;        /* next slot in its hash chain, or NONE */
	uint32_t tx;          /* times its current update was sent */
	bool used;            /* slot holds a member */
	bool pending;         /* its update is still being gossiped */
};

/* A PING we send for another node's PING_REQ. */
struct relay {
	bool used;
	uint32_t seq;       /* of our PING */
	uint32_t req_seq;   /* of their PING_REQ, for the relayed ACK */
	uint64_t target;    /* id we are probing */
	uint64_t requester; /* id of the asking node */
	uint64_t expires;   /* relayed ACKs after this are useless */
	union addr to;      /* where the PING_REQ came from */
};

struct swim {
	struct swim_config cfg; /* defaults filled in */
	struct ovl_node self;
	bool left;        /* swim_leave was called */
	struct member *m; /* cfg.max_members slots */
	uint32_t *bucket; /* hash heads, bmask + 1 of them */
	uint32_t bmask;
	uint32_t *order; /* probe order: slots, this round */
	uint32_t order_n, order_pos;
	uint32_t count[4]; /* members by state */
	uint64_t rng, hkey;
	uint32_t seq; /* last sequence number used */
	uint64_t upd_serial;
	uint32_t fill_cursor; /* next slot for anti-entropy filling */
	struct {
		bool active, acked, indirect;
		uint32_t seq, slot;
		uint64_t id, timeout_at;
	} probe;
	struct relay relay[RELAYS];
	unsigned relay_next;
	union addr seeds[SWIM_MAX_SEEDS];
	unsigned n_seeds, seed_next;
	uint64_t periods; /* periods started */
	uint64_t next_period, next_join;
	struct swim_stats st;
	uint8_t buf[SWIM_MSG_MAX]; /* the message being built: lent to cfg.send */
};

/* ---- small helpers ------------------------------------------------------ */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rng_next(struct swim *s) /* splitmix64: any seed, 0 included */
{
	return mix64(s->rng += 0x9e3779b97f4a7c15ull);
}

static uint32_t rng_below(struct swim *s, uint32_t n)
{
	return (uint32_t)(((rng_next(s) >> 32) * n) >> 32);
}

/* log2(x) in 1/256ths, x >= 1: integer part from the top bit, then eight
 * fraction bits by repeated squaring (no libm). */
static uint32_t log2_q8(uint32_t x)
{
	unsigned ip = 31u - (unsigned)__builtin_clz(x);
	uint64_t y = ((uint64_t)x << 16) >> ip; /* x / 2^ip in Q16, in [1, 2) */
	uint32_t frac = 0;

	for (int i = 0; i < 8; i++) {
		y = (y * y) >> 16;
		frac <<= 1;
		if (y >= 2u << 16) {
			y >>= 1;
			frac |= 1;
		}
	}
	return ip << 8 | frac;
}

static bool is_live(const struct member *m)
{
	return m->used && m->node.state <= SWIM_SUSPECT;
}

/* Live members, this node counted. */
static uint32_t n_live(const struct swim *s)
{
	return s->count[SWIM_ALIVE] + s->count[SWIM_SUSPECT] + 1;
}

static uint64_t suspicion_ms(const struct swim *s)
{
	uint64_t p = s->cfg.period_ms;
	uint64_t t = (uint64_t)s->cfg.suspect_mult * log2_q8(n_live(s) + 1) * p / 256;

	return t < 2 * p ? 2 * p : t;
}

static uint32_t tx_limit(const struct swim *s) /* retransmit_mult x ceil(log2(n + 1)) */
{
	return s->cfg.retransmit_mult * (32u - (unsigned)__builtin_clz(n_live(s)));
}

/* A NODE we can use: non-zero id, an address we could send to. */
static bool node_ok(const struct ovl_node *n)
{
	return n->id != 0 && addr_port(&n->addr) != 0 && !addr_is_any(&n->addr);
}

/* ---- member table ------------------------------------------------------- */

static uint32_t bucket_of(const struct swim *s, uint64_t id)
{
	return (uint32_t)mix64(id ^ s->hkey) & s->bmask;
}

static struct member *find(const struct swim *s, uint64_t id)
{
	for (uint32_t i = s->bucket[bucket_of(s, id)]; i != NONE; i = s->m[i].next)
		if (s->m[i].node.id == id)
			return &s->m[i];
	return NULL;
}

/* Up to k random members whose state is in mask, other than skip, by
 * reservoir sampling over the table. Returns how many. */
static unsigned sample(struct swim *s, struct member **pick, unsigned k, unsigned mask,
                       const struct member *skip)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < s->cfg.max_members; i++) {
		struct member *m = &s->m[i];
		uint32_t j;

		if (!m->used || !(mask & 1u << m->node.state) || m == skip)
			continue;
		j = n < k ? n : rng_below(s, n + 1);
		if (j < k)
			pick[j] = m;
		n++;
	}
	return n < k ? n : k;
}

/* Puts slot idx in the probe order at a random place among the members not
 * yet probed this round (SWIM 4.3). Full: it joins the next round. */
static void order_insert(struct swim *s, uint32_t idx)
{
	uint32_t j;

	if (s->order_n == s->cfg.max_members)
		return;
	s->order[s->order_n] = idx;
	j = s->order_pos + rng_below(s, s->order_n - s->order_pos + 1);
	s->order[s->order_n++] = s->order[j];
	s->order[j] = idx;
}

static void forget(struct swim *s, struct member *m)
{
	uint32_t idx = (uint32_t)(m - s->m), *p = &s->bucket[bucket_of(s, m->node.id)];

	while (*p != idx)
		p = &s->m[*p].next;
	*p = m->next;
	s->count[m->node.state]--;
	m->used = false;
}

/* A fresh slot for n->id (its state is set by the caller's update()),
 * taking the oldest dead or left member's when the table is full. New
 * members are rare: a scan for a free slot is cheap enough. */
static struct member *member_new(struct swim *s, const struct ovl_node *n)
{
	struct member *m = NULL;
	uint32_t b, idx = 0;

	if (s->count[0] + s->count[1] + s->count[2] + s->count[3] == s->cfg.max_members) {
		for (uint32_t i = 0; i < s->cfg.max_members; i++)
			if (s->m[i].node.state >= SWIM_DEAD &&
			    (!m || s->m[i].deadline < m->deadline))
				m = &s->m[i];
		if (!m) {
			s->st.table_full++;
			return NULL;
		}
		forget(s, m);
	}
	while (s->m[idx].used)
		idx++;
	m = &s->m[idx];
	memset(m, 0, sizeof(*m));
	m->used = true;
	m->node = *n;
	b = bucket_of(s, n->id);
	m->next = s->bucket[b];
	s->bucket[b] = idx;
	return m;
}

/* Records a new state and incarnation (old: the previous state, or
 * SWIM_JOINED for a member just created), schedules its gossip, counts,
 * and reports a change of state. */
static void update(struct swim *s, uint64_t now, struct member *m, int old, uint8_t state,
                   uint32_t inc)
{
	if (old != SWIM_JOINED)
		s->count[old]--;
	s->count[state]++;
	m->node.state = state;
	m->node.incarnation = inc;
	m->deadline = state == SWIM_SUSPECT ? now + suspicion_ms(s)
	              : state >= SWIM_DEAD  ? now + s->cfg.forget_ms
	                                    : 0;
	m->pending = true;
	m->tx = 0;
	m->upd = ++s->upd_serial;
	if (state == SWIM_ALIVE && (old == SWIM_JOINED || old >= SWIM_DEAD))
		order_insert(s, (uint32_t)(m - s->m));
	if (old == state || (old == SWIM_JOINED && state != SWIM_ALIVE))
		return; /* tombstones for strangers are silent */
	if (state == SWIM_SUSPECT && old == SWIM_ALIVE)
		s->st.suspicions++;
	else if (state == SWIM_DEAD && old <= SWIM_SUSPECT)
		s->st.deaths++;
	else if (state == SWIM_LEFT && old <= SWIM_SUSPECT)
		s->st.leaves++;
	if (s->cfg.event)
		s->cfg.event(s->cfg.ctx, &m->node, old, state);
}

/* ---- applying what others say ------------------------------------------- */

/* Does NODE n override what we know in m? (the table in swim.h) */
static bool overrides(const struct member *m, const struct ovl_node *n)
{
	uint8_t cur = m->node.state;
	uint32_t inc = m->node.incarnation;

	switch (n->state) {
	case SWIM_ALIVE:
		return n->incarnation > inc;
	case SWIM_SUSPECT:
		return cur == SWIM_ALIVE ? n->incarnation >= inc
		                         : cur == SWIM_SUSPECT && n->incarnation > inc;
	default: /* dead, left */
		return cur <= SWIM_SUSPECT && n->incarnation >= inc;
	}
}

/* A claim about ourselves: refute what is not our current truth. */
static void self_claim(struct swim *s, const struct ovl_node *n)
{
	if (s->left || n->incarnation < s->self.incarnation)
		return;
	if (n->state == SWIM_ALIVE && n->incarnation == s->self.incarnation &&
	    addr_equal(&n->addr, &s->self.addr))
		return;
	s->self.incarnation = n->incarnation == UINT32_MAX ? UINT32_MAX : n->incarnation + 1;
	s->st.refutations++;
}

/* Applies one NODE. direct: it is the sender's own NODE and the datagram
 * came from the address it gives. */
static void apply(struct swim *s, uint64_t now, const struct ovl_node *in, bool direct)
{
	struct ovl_node n = *in;
	struct member *m;
	bool ours = false, fresh;

	if (!node_ok(&n)) {
		s->st.bad_nodes++;
		return;
	}
	if (n.id == s->self.id) {
		self_claim(s, &n);
		return;
	}
	if (n.state <= SWIM_SUSPECT && addr_equal(&n.addr, &s->self.addr)) {
		n.state = SWIM_DEAD; /* our address, another id: our previous life */
		ours = true;
	}
	m = find(s, n.id);
	if (!m) {
		if (n.state == SWIM_SUSPECT || !(m = member_new(s, &n)))
			return;
		update(s, now, m, SWIM_JOINED, n.state, n.incarnation);
		/* a tombstone for a stranger is not ours to gossip, unless it is
		 * about our own address */
		m->pending = n.state == SWIM_ALIVE || ours;
		fresh = true;
	} else {
		if (!overrides(m, &n))
			return;
		fresh = m->node.state >= SWIM_DEAD || !addr_equal(&m->node.addr, &n.addr);
		if (n.state == SWIM_ALIVE)
			m->node.addr = n.addr;
		update(s, now, m, m->node.state, n.state, n.incarnation);
	}
	if (n.state != SWIM_ALIVE || !direct || !fresh)
		return;
	/* First-hand: this id now owns the address; any other live member
	 * there is a previous life of that node. */
	for (uint32_t i = 0; i < s->cfg.max_members; i++)
		if (&s->m[i] != m && is_live(&s->m[i]) && addr_equal(&s->m[i].node.addr, &n.addr))
			update(s, now, &s->m[i], s->m[i].node.state, SWIM_DEAD,
			       s->m[i].node.incarnation);
}

/* ---- sending ------------------------------------------------------------ */

static bool picked(struct member *const *out, unsigned n, const struct member *m)
{
	for (unsigned i = 0; i < n; i++)
		if (out[i] == m)
			return true;
	return false;
}

/* Chooses the gossip for a message to dest (NULL: no member known there):
 * dest's own entry first when we hold it suspect or dead (so it can
 * refute, even if it is a stranger to us now: one NODE is no
 * amplification); with full, up to gossip_max pending updates, the least
 * sent first and the newest among equals (memberlist's order), then up to
 * gossip_max live members round-robin (anti-entropy). Returns how many,
 * at most SWIM_GOSSIP_LIMIT. */
static unsigned gossip_pick(struct swim *s, struct member *dest, bool full, struct member **out)
{
	unsigned max = s->cfg.gossip_max, n = 0, first;

	if (dest && dest->used &&
	    (dest->node.state == SWIM_SUSPECT || dest->node.state == SWIM_DEAD))
		out[n++] = dest;
	first = n;
	for (uint32_t i = 0; full && i < s->cfg.max_members && max > first; i++) {
		struct member *m = &s->m[i];
		unsigned j;

		if (!m->used || !m->pending || m == dest)
			continue;
		/* insertion into out[first..n), kept best first */
		for (j = n; j > first; j--)
			if (out[j - 1]->tx < m->tx ||
			    (out[j - 1]->tx == m->tx && out[j - 1]->upd > m->upd))
				break;
		if (j == max)
			continue;
		if (n < max)
			n++;
		memmove(&out[j + 1], &out[j], (n - 1 - j) * sizeof(*out));
		out[j] = m;
	}
	for (unsigned i = 0; i < n; i++)
		if (out[i]->pending && ++out[i]->tx >= tx_limit(s))
			out[i]->pending = false;
	max = n + max < SWIM_GOSSIP_LIMIT ? n + max : SWIM_GOSSIP_LIMIT;
	for (uint32_t i = 0; full && i < s->cfg.max_members && n < max; i++) {
		uint32_t idx = (s->fill_cursor + i) % s->cfg.max_members;
		struct member *m = &s->m[idx];

		if (is_live(m) && m != dest && !picked(out, n, m)) {
			out[n++] = m;
			s->fill_cursor = idx + 1;
		}
	}
	return n;
}

/* Builds and sends one message: SEQ, our NODE, TARGET if any, then the
 * gossip (none after leaving). dest: the member it goes to, if any. */
static void send_msg(struct swim *s, enum ovl_type type, uint32_t seq, const union addr *to,
                     struct member *dest, const struct ovl_node *target, bool full)
{
	struct member *g[SWIM_GOSSIP_LIMIT];
	struct ovl_builder b;
	uint8_t x[4];
	unsigned n = 0;
	int len;

	ovl_build(&b, s->buf, sizeof(s->buf), type, seq);
	wire_put32(x, seq);
	ovl_put(&b, OVL_A_SEQ, x, sizeof(x));
	ovl_put_node(&b, OVL_A_NODE, &s->self);
	if (target)
		ovl_put_node(&b, OVL_A_TARGET, target);
	if (!s->left)
		n = gossip_pick(s, dest, full, g);
	/* at most SWIM_GOSSIP_LIMIT NODEs: always within SWIM_MSG_MAX */
	for (unsigned i = 0; i < n; i++)
		ovl_put_node(&b, OVL_A_NODE, &g[i]->node);
	len = ovl_finish(&b);
	if (len < 0)
		return;
	if (type == OVL_SWIM_PING)
		s->st.pings_sent++;
	else if (type == OVL_SWIM_ACK)
		s->st.acks_sent++;
	else
		s->st.ping_reqs_sent++;
	s->cfg.send(s->cfg.ctx, to, s->buf, (size_t)len);
}

/* ---- probing ------------------------------------------------------------ */

/* Asks up to indirect_k alive members to probe the current target. */
static void probe_indirect(struct swim *s)
{
	struct member *pick[SWIM_INDIRECT_MAX], *t = &s->m[s->probe.slot];
	unsigned n = 0;

	if (is_live(t) && t->node.id == s->probe.id) /* not declared dead meanwhile */
		n = sample(s, pick, s->cfg.indirect_k, M_ALIVE, t);
	for (unsigned i = 0; i < n; i++)
		send_msg(s, OVL_SWIM_PING_REQ, s->probe.seq, &pick[i]->node.addr, pick[i], &t->node,
		         true);
	s->probe.indirect = true;
}

/* Starts the next probe in randomized round-robin order. */
static void probe_next(struct swim *s, uint64_t now)
{
	for (int round = 0; round < 2; round++) {
		while (s->order_pos < s->order_n) {
			uint32_t idx = s->order[s->order_pos++];
			struct member *m = &s->m[idx];

			if (!is_live(m))
				continue;
			s->probe.active = true;
			s->probe.acked = false;
			s->probe.indirect = false;
			s->probe.seq = ++s->seq;
			s->probe.slot = idx;
			s->probe.id = m->node.id;
			s->probe.timeout_at = now + s->cfg.ping_timeout_ms;
			send_msg(s, OVL_SWIM_PING, s->probe.seq, &m->node.addr, m, NULL, true);
			return;
		}
		/* a new round: the live members, shuffled (Fisher-Yates) */
		s->order_n = s->order_pos = 0;
		for (uint32_t i = 0; i < s->cfg.max_members; i++)
			if (is_live(&s->m[i]))
				s->order[s->order_n++] = i;
		for (uint32_t i = s->order_n; i > 1; i--) {
			uint32_t j = rng_below(s, i), x = s->order[i - 1];

			s->order[i - 1] = s->order[j];
			s->order[j] = x;
		}
	}
}

/* A PING to a bare address (a seed), carrying what we hold about whoever
 * we last knew there. */
static void ping_addr(struct swim *s, const union addr *a)
{
	struct member *m = NULL;

	for (uint32_t i = 0; i < s->cfg.max_members && !m; i++)
		if (s->m[i].used && addr_equal(&s->m[i].node.addr, a))
			m = &s->m[i];
	send_msg(s, OVL_SWIM_PING, ++s->seq, a, m, NULL, m && is_live(m));
}

/* ---- receiving ---------------------------------------------------------- */

/* An ACK to a PING meant for id `want` came directly from want's address
 * with another id: want was replaced by a restart. */
static void ack_mismatch(struct swim *s, uint64_t now, uint64_t want, const union addr *from)
{
	struct member *m = find(s, want);

	if (m && is_live(m) && addr_equal(&m->node.addr, from))
		update(s, now, m, m->node.state, SWIM_DEAD, m->node.incarnation);
}

static void on_ack(struct swim *s, uint64_t now, uint32_t seq, const struct ovl_node *snd,
                   const struct ovl_node *tgt, bool direct, const union addr *from)
{
	uint64_t who = tgt ? tgt->id : snd->id; /* a relayed ACK vouches for TARGET */

	s->st.acks_received++;
	if (s->probe.active && !s->probe.acked && seq == s->probe.seq) {
		if (who == s->probe.id)
			s->probe.acked = true;
		else if (!tgt && direct)
			ack_mismatch(s, now, s->probe.id, from);
	}
	for (unsigned i = 0; i < RELAYS && !tgt; i++) {
		struct relay *r = &s->relay[i];
		struct member *req;

		if (!r->used || r->seq != seq || now > r->expires)
			continue;
		if (snd->id == r->target) {
			r->used = false;
			req = find(s, r->requester);
			send_msg(s, OVL_SWIM_ACK, r->req_seq, &r->to, req, snd,
			         req && is_live(req));
		} else if (direct) {
			ack_mismatch(s, now, r->target, from);
		}
	}
}

/* Probes tgt for a member that asked (known: a live member, writing from
 * the address we know), if tgt is a member: no reflection to arbitrary
 * addresses, and the PING goes where we know tgt is. */
static void on_ping_req(struct swim *s, uint64_t now, uint32_t seq, const struct ovl_node *snd,
                        const struct ovl_node *tgt, const union addr *from, bool known)
{
	struct member *m = find(s, tgt->id);
	struct relay *r;

	s->st.ping_reqs_received++;
	if (!known || !m || !is_live(m))
		return;
	r = &s->relay[s->relay_next++ % RELAYS];
	*r = (struct relay){.used = true,
	                    .seq = ++s->seq,
	                    .req_seq = seq,
	                    .target = tgt->id,
	                    .requester = snd->id,
	                    .expires = now + s->cfg.period_ms,
	                    .to = *from};
	send_msg(s, OVL_SWIM_PING, r->seq, &m->node.addr, m, NULL, true);
}

void swim_receive(struct swim *s, uint64_t now_ms, const union addr *from, const uint8_t *buf,
                  size_t len)
{
	struct ovl_node snd, tgt, g;
	struct ovl_msg msg;
	struct member *m;
	bool has_tgt, known, direct, alone;
	uint32_t seq;

	if (ovl_parse(buf, len, &msg) < 0) {
		s->st.malformed++;
		return;
	}
	if (msg.type != OVL_SWIM_PING && msg.type != OVL_SWIM_ACK &&
	    msg.type != OVL_SWIM_PING_REQ) {
		s->st.foreign++;
		return;
	}
	has_tgt = ovl_has(&msg, OVL_A_TARGET);
	if (!ovl_has(&msg, OVL_A_SEQ) || ovl_get_node(buf, &msg, 0, &snd) < 0 || !node_ok(&snd) ||
	    snd.id == s->self.id || (msg.type == OVL_SWIM_PING_REQ && !has_tgt) ||
	    (has_tgt &&
	     (ovl_node_decode(buf + msg.off[OVL_A_TARGET], msg.alen[OVL_A_TARGET], &tgt) < 0 ||
	      !node_ok(&tgt)))) {
		s->st.malformed++;
		return;
	}
	seq = wire_get32(buf + msg.off[OVL_A_SEQ]);
	if (msg.type == OVL_SWIM_PING)
		s->st.pings_received++;
	if (s->left) {
		if (msg.type == OVL_SWIM_PING)
			send_msg(s, OVL_SWIM_ACK, seq, from, NULL, NULL, false);
		return;
	}
	/* Full gossip in a reply only to a member we knew, at its address: a
	 * spoofed source gets back about what it sent. */
	m = find(s, snd.id);
	known = m && is_live(m) && addr_equal(&m->node.addr, from);
	direct = addr_equal(from, &snd.addr);
	alone = n_live(s) == 1;
	apply(s, now_ms, &snd, direct);
	for (unsigned i = 1; i < msg.n_nodes; i++) {
		if (ovl_get_node(buf, &msg, i, &g) < 0)
			s->st.bad_nodes++;
		else
			apply(s, now_ms, &g, false);
	}
	if (msg.type == OVL_SWIM_PING)
		send_msg(s, OVL_SWIM_ACK, seq, from, find(s, snd.id), NULL, known);
	else if (msg.type == OVL_SWIM_ACK)
		on_ack(s, now_ms, seq, &snd, has_tgt ? &tgt : NULL, direct, from);
	else
		on_ping_req(s, now_ms, seq, &snd, &tgt, from, known);
	if (alone && n_live(s) > 1 && !s->probe.active) {
		/* Our first member (a seed answered): probe it now, to pull the
		 * membership a period earlier. No one to ask indirectly; the
		 * period restarts so the wake-up only moves later. */
		probe_next(s, now_ms);
		s->probe.indirect = true;
		s->next_period = now_ms + s->cfg.period_ms;
	}
}

/* ---- the protocol period ------------------------------------------------ */

static void period_start(struct swim *s, uint64_t now)
{
	struct member *t = &s->m[s->probe.slot], *d;

	if (s->probe.active && !s->probe.acked) {
		s->st.probes_failed++;
		if (t->used && t->node.id == s->probe.id && t->node.state == SWIM_ALIVE)
			update(s, now, t, SWIM_ALIVE, SWIM_SUSPECT, t->node.incarnation);
	}
	s->probe.active = false;
	if (n_live(s) == 1 && s->n_seeds && now >= s->next_join) {
		for (unsigned i = 0; i < s->n_seeds; i++)
			ping_addr(s, &s->seeds[i]);
		s->next_join = now + (uint64_t)SWIM_JOIN_RETRY_PERIODS * s->cfg.period_ms;
	}
	if (++s->periods % SWIM_REJOIN_PERIODS == 0) {
		/* Partition healing: a dead member we still remember hears that
		 * we hold it dead and refutes if it lives; a seed re-merges sides
		 * that have forgotten each other. */
		if (sample(s, &d, 1, M_DEAD, NULL))
			send_msg(s, OVL_SWIM_PING, ++s->seq, &d->node.addr, d, NULL, true);
		if (s->n_seeds && n_live(s) > 1)
			ping_addr(s, &s->seeds[s->seed_next++ % s->n_seeds]);
	}
	probe_next(s, now);
	/* keep the cadence; after a stall, restart it from now */
	if (s->next_period == 0 || now - s->next_period >= s->cfg.period_ms)
		s->next_period = now + s->cfg.period_ms;
	else
		s->next_period += s->cfg.period_ms;
}

uint64_t swim_tick(struct swim *s, uint64_t now_ms)
{
	uint64_t next;

	if (s->left)
		return UINT64_MAX;
	if (now_ms >= s->next_period)
		period_start(s, now_ms);
	if (s->probe.active && !s->probe.acked && !s->probe.indirect &&
	    now_ms >= s->probe.timeout_at)
		probe_indirect(s);
	next = s->next_period;
	if (s->probe.active && !s->probe.acked && !s->probe.indirect && s->probe.timeout_at < next)
		next = s->probe.timeout_at;
	for (uint32_t i = 0; i < s->cfg.max_members; i++) {
		struct member *m = &s->m[i];

		if (!m->used || m->node.state == SWIM_ALIVE)
			continue;
		if (now_ms >= m->deadline) {
			if (m->node.state == SWIM_SUSPECT)
				update(s, now_ms, m, SWIM_SUSPECT, SWIM_DEAD, m->node.incarnation);
			else
				forget(s, m);
		} else if (m->node.state == SWIM_SUSPECT && m->deadline < next) {
			next = m->deadline;
		}
	}
	return next;
}

/* ---- the rest of the interface ------------------------------------------ */

int swim_create(const struct swim_config *cfg, struct swim **out)
{
	struct swim *s;
	uint32_t nb = 16;

	*out = NULL;
	if (!cfg || !cfg->send || !node_ok(&cfg->self))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
#define DEF(f, v) s->cfg.f = s->cfg.f ? s->cfg.f : (v)
	DEF(period_ms, SWIM_DEF_PERIOD_MS);
	DEF(ping_timeout_ms, SWIM_DEF_PING_TIMEOUT);
	DEF(indirect_k, SWIM_DEF_INDIRECT_K);
	DEF(suspect_mult, SWIM_DEF_SUSPECT_MULT);
	DEF(gossip_max, SWIM_DEF_GOSSIP_MAX);
	DEF(retransmit_mult, SWIM_DEF_RETRANSMIT);
	DEF(max_members, SWIM_DEF_MAX_MEMBERS);
	DEF(forget_ms, SWIM_DEF_FORGET_MS);
#undef DEF
	if (s->cfg.ping_timeout_ms >= s->cfg.period_ms || s->cfg.period_ms > SWIM_PERIOD_MAX ||
	    s->cfg.gossip_max > SWIM_GOSSIP_LIMIT || s->cfg.indirect_k > SWIM_INDIRECT_MAX ||
	    s->cfg.suspect_mult > SWIM_MULT_MAX || s->cfg.retransmit_mult > SWIM_MULT_MAX ||
	    s->cfg.max_members > SWIM_MEMBERS_LIMIT) {
		free(s);
		return -EINVAL;
	}
	while (nb < 2 * s->cfg.max_members)
		nb *= 2;
	s->bmask = nb - 1;
	s->m = calloc(s->cfg.max_members, sizeof(*s->m));
	s->bucket = malloc(nb * sizeof(*s->bucket));
	s->order = malloc(s->cfg.max_members * sizeof(*s->order));
	if (!s->m || !s->bucket || !s->order) {
		swim_destroy(s);
		return -ENOMEM;
	}
	memset(s->bucket, 0xff, nb * sizeof(*s->bucket)); /* all NONE */
	s->self = cfg->self;
	s->self.state = SWIM_ALIVE;
	s->rng = cfg->seed;
	s->hkey = rng_next(s);
	s->seq = (uint32_t)rng_next(s);
	*out = s;
	return 0;
}

void swim_destroy(struct swim *s)
{
	if (!s)
		return;
	free(s->m);
	free(s->bucket);
	free(s->order);
	free(s);
}

int swim_join(struct swim *s, const union addr *seed, uint64_t now_ms)
{
	unsigned i;

	if (s->left || !seed || addr_port(seed) == 0 || addr_is_any(seed))
		return -EINVAL;
	if (addr_equal(seed, &s->self.addr))
		return 0;
	for (i = 0; i < s->n_seeds && !addr_equal(&s->seeds[i], seed); i++)
		;
	if (i == SWIM_MAX_SEEDS)
		return -ENOSPC;
	if (i == s->n_seeds)
		s->seeds[s->n_seeds++] = *seed;
	s->next_join = now_ms + (uint64_t)SWIM_JOIN_RETRY_PERIODS * s->cfg.period_ms;
	ping_addr(s, seed);
	return 0;
}

void swim_leave(struct swim *s, uint64_t now_ms)
{
	struct member *pick[2 * SWIM_INDIRECT_MAX];
	unsigned n;

	(void)now_ms;
	if (s->left)
		return;
	s->left = true;
	s->self.state = SWIM_LEFT;
	n = sample(s, pick, 2 * s->cfg.indirect_k, M_LIVE, NULL);
	for (unsigned i = 0; i < n; i++)
		send_msg(s, OVL_SWIM_PING, ++s->seq, &pick[i]->node.addr, pick[i], NULL, false);
}

size_t swim_members(const struct swim *s, struct ovl_node *out, size_t cap)
{
	size_t n = 0;

	for (uint32_t i = 0; i < s->cfg.max_members; i++) {
		if (!is_live(&s->m[i]))
			continue;
		if (n < cap)
			out[n] = s->m[i].node;
		n++;
	}
	return n;
}

int swim_lookup(const struct swim *s, uint64_t id, struct ovl_node *out)
{
	const struct member *m = find(s, id); /* never self: we are not in the table */

	if (id != s->self.id && !m)
		return -ENOENT;
	*out = m ? m->node : s->self;
	return 0;
}

void swim_self(const struct swim *s, struct ovl_node *out)
{
	*out = s->self;
}

void swim_stats(const struct swim *s, struct swim_stats *st)
{
	*st = s->st;
	st->alive = s->count[SWIM_ALIVE];
	st->suspect = s->count[SWIM_SUSPECT];
	st->dead = s->count[SWIM_DEAD];
	st->left = s->count[SWIM_LEFT];
}

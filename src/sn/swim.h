/* swim: supernode membership and failure detection, SWIM style (Das,
 * Gupta, Motivala, DSN 2002), as a pure state machine: no I/O, no clock
 * reads, no threads, no allocation after swim_create. Its owner (the
 * overlay thread of parley-sn, which holds the UDP socket) feeds it
 * datagrams and the time, and it hands back datagrams through a send
 * callback and membership changes through an event callback.
 *
 * Failure detection. Every period the node probes one member, taken in
 * "randomized round-robin" order (the live members shuffled at the start
 * of each round; one joining mid-round is inserted at a random place in
 * what is left of it, so every live member is probed at least once per
 * round). A PING unanswered after ping_timeout_ms makes it ask indirect_k
 * random alive members to probe the target for it (PING_REQ); they PING
 * it and relay its ACK. No ACK, direct or relayed, by the end of the
 * period: the target becomes suspect. A suspect becomes dead when its
 * suspicion times out (suspect_mult x log2(n + 1) periods, n the live
 * members counting this node, at least 2 periods) unless it refutes by
 * raising its incarnation.
 *
 * Dissemination. Every message carries the sender's own NODE first, then
 * up to gossip_max updates (the members whose state changed), the least
 * transmitted first and the newest among equals (memberlist's order); an
 * update is sent retransmit_mult x ceil(log2(n + 1)) times. After the
 * updates come up to gossip_max more live members taken round-robin from
 * the table (anti-entropy), so a joining node learns the whole membership
 * within a few periods rather than the round it would take every member
 * to probe it; at most SWIM_GOSSIP_LIMIT gossip NODEs in all. A message to
 * a member we hold suspect or dead carries that entry first, so it can
 * refute at once. A reply (ACK, relayed ACK) carries gossip only to a
 * member we knew before, writing from the address we know for it; anyone
 * else gets our NODE and at most that one entry, about the size of what
 * it sent: no amplification towards a spoofed source. A joining node
 * probes its first member as soon as that member answers, rather than at
 * the next period.
 *
 * Partitions. Every SWIM_REJOIN_PERIODS periods a node PINGs one random
 * dead member it still remembers (which hears that it is held dead and
 * refutes if it lives: the two sides of a healed partition shorter than
 * forget_ms find each other again) and, when it has members, one of its
 * seeds (sides that have forgotten each other re-merge through the
 * seeds). While it knows no live member, it PINGs all its seeds every
 * SWIM_JOIN_RETRY_PERIODS periods.
 *
 * Precedence: an incoming NODE (id, incarnation i', state) against what
 * is known of that id (state, incarnation i):
 *   alive(i')   overrides alive, suspect, dead and left  when i' > i
 *   suspect(i') overrides alive when i' >= i, suspect when i' > i
 *   dead(i'), left(i') override alive and suspect        when i' >= i
 * dead and left are final otherwise: stale gossip at the same or a lower
 * incarnation cannot resurrect a member; only an alive with a higher
 * incarnation can (Lifeguard's extensions are not implemented). For an
 * unknown id: alive adds a member; dead and left are remembered without
 * an event (so stale gossip cannot add the node later); suspect is
 * ignored.
 *
 * Claims about this node (the NODE's id is ours): at an incarnation
 * lower than ours they are stale and ignored; an alive at our
 * incarnation and address is no news; anything else (suspect, dead or
 * left, alive at a higher incarnation or another address) is refuted:
 * our incarnation becomes i' + 1 (saturating at UINT32_MAX) and our own
 * NODE, first in every message, spreads it. A message whose sender NODE
 * carries our id is dropped (a loop, or someone using our id).
 *
 * Restarts. Ids are random per start, so a restarted supernode is a new
 * member on an old address. The old id is declared dead (an event
 * alive/suspect -> dead, gossiped) as soon as there is first-hand
 * evidence that its address now belongs to another id: a datagram from
 * that address whose sender NODE carries a new id and that address; an
 * ACK to a PING for the old id coming from its address with another id;
 * or, for this node, any alive or suspect NODE of another id at our own
 * address (we own it now: that is our previous life). Gossip alone never
 * replaces a member; the old id then goes the ordinary way (suspect,
 * dead).
 *
 * Dead and left members stay in the table forget_ms, then are forgotten
 * (no event). When the table is full a new member takes the slot of the
 * oldest dead or left one; with none, it is dropped and counted.
 *
 * Hostile input: every datagram is parsed with ovl_parse and checked
 * (magic, type, SEQ, a valid sender NODE with a non-zero id and a usable
 * address, TARGET in a PING_REQ); a bad one is counted and dropped, a bad
 * gossip NODE inside a good message is counted and skipped. A PING_REQ is
 * honoured only for a target we know as alive or suspect, and the PING
 * goes to the address we know, not the one in the request, and only for
 * a member that asks from its known address: no reflection to arbitrary
 * addresses. The protocol itself is not authenticated; that is the
 * transport's job (DESIGN: everything on the wire is encrypted).
 *
 * Driving it: swim_create, swim_join for each seed, then loop: wait for
 * the UDP socket or the time swim_tick last returned, whichever comes
 * first; hand every datagram to swim_receive; once that time is reached
 * call swim_tick and re-arm the timer with what it returns. To stop:
 * swim_leave, keep receiving for a period or two, swim_destroy. Time is
 * the caller's monotonic clock in milliseconds, never going back.
 *
 * Not thread-safe: one owner thread calls everything. The callbacks run
 * inside swim_join/receive/tick/leave and must not call back into this
 * module, except swim_members, swim_lookup, swim_self and swim_stats. */
#ifndef PARLEY_SN_SWIM_H
#define PARLEY_SN_SWIM_H

#include <stddef.h>
#include <stdint.h>

#include "proto/addr.h"
#include "proto/ovl.h"

/* SWIM_GOSSIP_LIMIT keeps a PING_REQ with IPv6 NODEs (8 + 8 + 36 + 36 +
 * 30 x 36 = 1168 bytes) within SWIM_MSG_MAX, and its NODEs within
 * OVL_MAX_NODES. */
#define SWIM_MSG_MAX            1200  /* longest datagram sent (fits any path MTU we meet) */
#define SWIM_GOSSIP_LIMIT       30    /* largest gossip_max, and most gossip NODEs sent */
#define SWIM_MAX_SEEDS          16    /* seed addresses remembered by swim_join */
#define SWIM_MEMBERS_LIMIT      65536 /* largest max_members */
#define SWIM_INDIRECT_MAX       16    /* largest indirect_k */
#define SWIM_MULT_MAX           100   /* largest suspect_mult and retransmit_mult */
#define SWIM_PERIOD_MAX         60000 /* largest period_ms */
#define SWIM_DEF_PERIOD_MS      500
#define SWIM_DEF_PING_TIMEOUT   200
#define SWIM_DEF_INDIRECT_K     3
#define SWIM_DEF_SUSPECT_MULT   4
#define SWIM_DEF_GOSSIP_MAX     8
#define SWIM_DEF_RETRANSMIT     3
#define SWIM_DEF_MAX_MEMBERS    1024
#define SWIM_DEF_FORGET_MS      30000
#define SWIM_JOIN_RETRY_PERIODS 4  /* all seeds re-pinged this often while we know nobody */
#define SWIM_REJOIN_PERIODS     20 /* a dead member and a seed pinged this often */

/* Member states, as ovl_node.state carries them; SWIM_JOINED is the
 * "old state" of an event for a member seen for the first time. */
enum swim_state {
	SWIM_JOINED = -1,
	SWIM_ALIVE = 0,
	SWIM_SUSPECT = 1,
	SWIM_DEAD = 2,
	SWIM_LEFT = 3,
};

/* A membership instance (opaque). */
struct swim;

/* Zero in a numeric field means its default. */
struct swim_config {
	struct ovl_node self;     /* this node: id random 64-bit non-zero, incarnation
	                             (0 at start), addr = our overlay UDP address as
	                             others reach it (not a wildcard); state ignored */
	uint32_t period_ms;       /* protocol period: one probe each, <= 60000 (500) */
	uint32_t ping_timeout_ms; /* direct PING unanswered this long -> PING_REQ;
	                             must be < period_ms (200) */
	unsigned indirect_k;      /* members asked to probe indirectly, 1..16 (3) */
	unsigned suspect_mult;    /* suspicion timeout = suspect_mult x log2(n + 1)
	                             periods, at least 2 periods; <= 100 (4) */
	unsigned gossip_max;      /* updates piggybacked per message, 1..30 (8) */
	unsigned retransmit_mult; /* an update is sent retransmit_mult x
	                             ceil(log2(n + 1)) times; <= 100 (3) */
	uint32_t max_members;     /* table capacity, dead and left included,
	                             this node excluded; 1..SWIM_MEMBERS_LIMIT (1024) */
	uint32_t forget_ms;       /* dead and left members kept this long (30 s) */
	uint64_t seed;            /* randomness for probe order, sequence numbers and
	                             the id hash: pass random bytes (any value works) */
	/* Sends one datagram. buf is ours and valid only during the call: copy
	 * or send it before returning. Required. */
	void (*send)(void *ctx, const union addr *to, const uint8_t *buf, size_t len);
	/* A member changed state: old_state SWIM_JOINED (-1) for a new member
	 * (new_state SWIM_ALIVE), otherwise alive/suspect/dead/left -> another
	 * one; suspect -> alive is a refutation, dead/left -> alive a
	 * resurrection at a higher incarnation. Once per transition; an
	 * incarnation change within one state is not an event. node->state ==
	 * new_state. Optional. */
	void (*event)(void *ctx, const struct ovl_node *node, int old_state, int new_state);
	void *ctx; /* passed to send and event */
};

/* Counters since create, and the members now by state (this node
 * excluded). */
struct swim_stats {
	uint32_t alive, suspect, dead, left; /* members now, by state */
	uint64_t pings_sent;                 /* probes, join/rejoin/leave pings, PINGs for others */
	uint64_t pings_received;             /* PINGs that passed the checks */
	uint64_t acks_sent;                  /* ours and relayed ones */
	uint64_t acks_received;              /* matching a probe or not */
	uint64_t ping_reqs_sent;             /* indirect probe requests */
	uint64_t ping_reqs_received;         /* honoured or not */
	uint64_t probes_failed;              /* probes with no ACK by the end of their period */
	uint64_t suspicions;                 /* members that went alive -> suspect here */
	uint64_t refutations;                /* times we raised our own incarnation */
	uint64_t deaths;                     /* members that went alive/suspect -> dead here */
	uint64_t leaves;                     /* members that went alive/suspect -> left here */
	uint64_t malformed;                  /* datagrams dropped: not parseable, no SEQ, no valid
	                                        sender NODE, our id as sender, bad TARGET, or a
	                                        PING_REQ without one */
	uint64_t foreign;                    /* well-formed overlay messages of another type */
	uint64_t bad_nodes;                  /* gossip NODEs skipped: id 0, bad state or address */
	uint64_t table_full;                 /* new members dropped for want of a slot */
};

/* Creates an instance from cfg (copied). Allocates everything it will
 * ever need here. Returns 0 and *out, or -EINVAL (no send, id 0, no
 * usable self address, a field beyond its limit, ping_timeout_ms >=
 * period_ms) or -ENOMEM; *out is NULL on error. */
int swim_create(const struct swim_config *cfg, struct swim **out);

/* Frees s. Takes NULL. Sends nothing: call swim_leave first for a
 * graceful stop. */
void swim_destroy(struct swim *s);

/* Contacts a seed (its id unknown yet): sends a PING now and remembers the
 * address; while we know no live member, swim_tick re-pings every seed
 * every SWIM_JOIN_RETRY_PERIODS periods. Our own address is skipped
 * (every supernode may share one seed list). Returns 0, -EINVAL (bad
 * address, or after swim_leave) or -ENOSPC (SWIM_MAX_SEEDS seeds). */
int swim_join(struct swim *s, const union addr *seed, uint64_t now_ms);

/* Handles one datagram of len bytes from `from` (any datagram: foreign
 * and malformed ones are counted and ignored). May send (ACKs, relayed
 * PINGs and ACKs) and fire events. Never moves the time swim_tick last
 * returned earlier. After swim_leave, only answers PINGs (with our left
 * NODE). */
void swim_receive(struct swim *s, uint64_t now_ms, const union addr *from, const uint8_t *buf,
                  size_t len);

/* Runs the protocol up to now_ms (monotonic milliseconds, any origin):
 * period starts (failed probe -> suspect, next probe, seed retries), the
 * PING_REQs of an unanswered probe, suspicion timeouts (-> dead) and
 * forgetting. Returns the time it wants to be called next (> now_ms);
 * calling it earlier or more often is harmless. UINT64_MAX after
 * swim_leave. */
uint64_t swim_tick(struct swim *s, uint64_t now_ms);

/* Graceful stop: marks us left and sends our left NODE at once to up to
 * 2 x indirect_k random live members, who gossip it on. Afterwards we
 * probe no one and answer PINGs with our left NODE, so the owner should
 * keep receiving for a period or two before swim_destroy. Idempotent. */
void swim_leave(struct swim *s, uint64_t now_ms);

/* Copies up to cap live (alive and suspect) members, this node excluded,
 * into out. Returns how many there are (may exceed cap). */
size_t swim_members(const struct swim *s, struct ovl_node *out, size_t cap);

/* What is known of id, any state (this node included, dead and left ones
 * until forgotten). Returns 0 and *out, or -ENOENT. */
int swim_lookup(const struct swim *s, uint64_t id, struct ovl_node *out);

/* This node as it announces itself (incarnation raised by refutations,
 * state left after swim_leave). */
void swim_self(const struct swim *s, struct ovl_node *out);

/* Fills *st with the counters and the member counts. */
void swim_stats(const struct swim *s, struct swim_stats *st);

#endif

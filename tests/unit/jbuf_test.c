/* Unit tests for mixer/jbuf: ordering by sequence number, loss kinds
 * (FEC, PLC, DTX), wrap-around, hostile input, and the target delay's
 * adaptation. Time is simulated: ticks every 20 ms, arrivals where each
 * test puts them. Each payload carries its own sequence number so every
 * frame played can be checked against the packet it should be. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mixer/jbuf.h"

#define T0 100000u /* first tick, ms */

static struct jbuf *jb;

static void setup(void)
{
	cr_assert_eq(jbuf_create(NULL, &jb), 0);
}

static void teardown(void)
{
	jbuf_destroy(jb);
	jb = NULL;
}

TestSuite(jbuf, .init = setup, .fini = teardown);

static uint64_t tick_ms(uint32_t n)
{
	return T0 + 20ull * n;
}

/* Packet seq (timestamp 960 * seq), 3 bytes naming it, arriving at ms. */
static bool put(uint16_t seq, uint64_t ms)
{
	uint8_t p[3] = {(uint8_t)(seq >> 8), (uint8_t)seq, 0xab};

	return jbuf_put(jb, seq, (uint32_t)seq * 960u, p, sizeof(p), (int16_t)(seq & 0xff), ms);
}

static struct jbuf_frame get(uint64_t ms)
{
	struct jbuf_frame f;

	jbuf_get(jb, ms, &f);
	return f;
}

/* The frame's data is packet seq's. */
static void is_packet_of(const struct jbuf_frame *f, uint16_t seq)
{
	cr_assert_not_null(f->data);
	cr_assert_eq(f->len, 3);
	cr_assert_eq((uint16_t)(f->data[0] << 8 | f->data[1]), seq, "data of %u, want %u",
	             (unsigned)(f->data[0] << 8 | f->data[1]), seq);
	cr_assert_eq(f->tag, seq & 0xff);
}

static struct jbuf_stats stats(void)
{
	struct jbuf_stats st;

	jbuf_stats(jb, &st);
	return st;
}

/* Sends base + k at tick k + 5 ms for k in [0, n) except those in skip,
 * and plays a tick after each until n frames played; returns the number of ticks before the
 * first frame played. kinds/seqs receive every played frame's kind and
 * seq (NULL: not wanted). */
static int stream(uint16_t base, uint32_t n, const int *skip, size_t n_skip, enum jbuf_kind *kinds,
                  uint16_t *seqs)
{
	int waited = -1;
	uint32_t played = 0;

	for (uint32_t k = 0; played < n && k < n + 10; k++) {
		bool drop = k >= n;

		for (size_t s = 0; s < n_skip; s++)
			drop |= skip[s] == (int)k;
		if (!drop)
			put((uint16_t)(base + k), tick_ms(k) + 5);

		struct jbuf_frame f = get(tick_ms(k + 1));

		if (f.kind == JBUF_NOT_STARTED)
			continue;
		if (waited < 0)
			waited = (int)k;
		if (kinds && played < n)
			kinds[played] = f.kind;
		if (seqs && played < n)
			seqs[played] = f.seq;
		played++;
	}
	return waited;
}

Test(jbuf, in_order)
{
	enum jbuf_kind kinds[50];
	uint16_t seqs[50];
	int waited = stream(1000, 50, NULL, 0, kinds, seqs);

	/* Default target 20 ms: the first packet (arrived at +5) waits one
	 * tick. */
	cr_assert_eq(waited, 1);
	for (int i = 0; i < 50; i++) {
		cr_assert_eq(kinds[i], JBUF_PACKET, "frame %d", i);
		cr_assert_eq(seqs[i], 1000 + i);
	}
	struct jbuf_stats st = stats();

	cr_assert_eq(st.received, 50);
	cr_assert_eq(st.played, 50);
	cr_assert_eq(st.lost + st.late + st.duplicate + st.concealed, 0);
	cr_assert_eq(st.target_ms, 20);
	cr_assert_eq(st.resyncs, 1);
}

Test(jbuf, data_and_prev)
{
	struct jbuf_frame f, prev;

	put(7, tick_ms(0));
	put(8, tick_ms(1));
	cr_assert_eq(get(tick_ms(0)).kind, JBUF_NOT_STARTED);
	cr_assert_not(jbuf_prev(jb, &prev));
	f = get(tick_ms(1));
	cr_assert_eq(f.kind, JBUF_PACKET);
	is_packet_of(&f, 7);
	cr_assert_eq(f.ts, 7 * 960);
	f = get(tick_ms(2));
	is_packet_of(&f, 8);
	cr_assert(jbuf_prev(jb, &prev), "the packet played before is still held");
	is_packet_of(&prev, 7);
	cr_assert_eq(prev.seq, 7);
}

Test(jbuf, reordering_within_window)
{
	/* Arrival order 0 2 1 4 3 6 5 ... each swapped pair within 20 ms, the
	 * very first packet preceded by its successor. */
	static const uint16_t order[] = {1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10};
	uint16_t base = 500;

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		cr_assert(put((uint16_t)(base + order[i]), tick_ms((uint32_t)i) + 5));
	/* Play from the start: the buffer started at 500 although 501 came
	 * first. */
	for (uint16_t s = 0; s < 12; s++) {
		struct jbuf_frame f = get(tick_ms(12 + s));

		cr_assert_eq(f.kind, JBUF_PACKET, "frame %u", s);
		cr_assert_eq(f.seq, base + s);
		is_packet_of(&f, (uint16_t)(base + s));
	}
	cr_assert_eq(stats().lost, 0);
	cr_assert_eq(stats().late, 0);
}

Test(jbuf, duplicates_and_late)
{
	cr_assert(put(10, tick_ms(0)));
	cr_assert_not(put(10, tick_ms(0) + 1), "duplicate");
	cr_assert(put(11, tick_ms(1)));
	cr_assert_eq(get(tick_ms(1)).seq, 10);
	cr_assert_not(put(10, tick_ms(1) + 2), "duplicate of a played packet");
	cr_assert_eq(get(tick_ms(2)).seq, 11);
	/* 12 lost: concealed and passed when 13 and 14 are here... */
	put(13, tick_ms(3));
	put(14, tick_ms(3) + 1);
	struct jbuf_frame f = get(tick_ms(3));

	cr_assert_eq(f.kind, JBUF_LOST_FEC);
	cr_assert_eq(f.seq, 12);
	/* ...so when 12 turns up now it is late. */
	cr_assert_not(put(12, tick_ms(3) + 5));

	struct jbuf_stats st = stats();

	cr_assert_eq(st.duplicate, 2);
	cr_assert_eq(st.late, 1);
	cr_assert_eq(st.received, 4);
}

Test(jbuf, single_loss_uses_fec_of_next)
{
	static const int skip[] = {10};
	enum jbuf_kind kinds[30];
	uint16_t seqs[30];

	stream(2000, 30, skip, 1, kinds, seqs);
	for (int i = 0; i < 30; i++) {
		cr_assert_eq(seqs[i], 2000 + i, "one frame per sequence number");
		cr_assert_eq(kinds[i], i == 10 ? JBUF_LOST_FEC : JBUF_PACKET, "frame %d", i);
	}
	struct jbuf_stats st = stats();

	cr_assert_eq(st.lost, 1);
	cr_assert_eq(st.fec_recovered, 1);
	cr_assert_eq(st.concealed, 0);
}

Test(jbuf, fec_frame_carries_next_packet)
{
	put(40, tick_ms(0));
	put(42, tick_ms(1));
	cr_assert_eq(get(tick_ms(1)).seq, 40);

	struct jbuf_frame f = get(tick_ms(2));

	cr_assert_eq(f.kind, JBUF_LOST_FEC);
	cr_assert_eq(f.seq, 41);
	is_packet_of(&f, 42);
	cr_assert_eq(f.ts, 42 * 960);
	f = get(tick_ms(3));
	cr_assert_eq(f.kind, JBUF_PACKET, "the next packet still plays on its own tick");
	is_packet_of(&f, 42);
}

Test(jbuf, two_losses_conceal_then_fec)
{
	static const int skip[] = {10, 11};
	enum jbuf_kind kinds[30];
	uint16_t seqs[30];

	stream(3000, 30, skip, 2, kinds, seqs);
	for (int i = 0; i < 30; i++) {
		enum jbuf_kind want = i == 10   ? JBUF_LOST_PLC
		                      : i == 11 ? JBUF_LOST_FEC
		                                : JBUF_PACKET;

		cr_assert_eq(seqs[i], 3000 + i);
		cr_assert_eq(kinds[i], want, "frame %d: kind %d, want %d", i, kinds[i], want);
	}
	struct jbuf_stats st = stats();

	cr_assert_eq(st.lost, 2);
	cr_assert_eq(st.concealed, 1);
	cr_assert_eq(st.fec_recovered, 1);
}

Test(jbuf, long_gap_is_dtx_then_resumes)
{
	uint32_t k;

	for (k = 0; k < 10; k++) {
		put((uint16_t)(k + 1), tick_ms(k) + 5);
		get(tick_ms(k + 1));
	}
	/* Sender goes quiet (DTX: its sequence numbers will continue). */
	enum jbuf_kind seen[8];

	for (int i = 0; i < 8; i++)
		seen[i] = get(tick_ms(k + 1 + (uint32_t)i)).kind;
	/* Frame 10 is underrun: three ticks of concealment (dtx_ms = 60)... */
	cr_assert_eq(seen[0], JBUF_PACKET, "frame 10 arrived before the gap");
	cr_assert_eq(seen[1], JBUF_LOST_PLC);
	cr_assert_eq(seen[2], JBUF_LOST_PLC);
	cr_assert_eq(seen[3], JBUF_LOST_PLC);
	/* ...then silence, and an idle buffer. */
	for (int i = 4; i < 8; i++)
		cr_assert_eq(seen[i], JBUF_DTX, "tick %d", i);
	cr_assert(jbuf_idle(jb));
	cr_assert_eq(stats().lost, 0, "an underrun is not a loss");

	/* 400 ms later the next packet, seq 11: a new talkspurt, which waits
	 * out the target delay first, then plays. */
	uint32_t t = k + 30;

	put(11, tick_ms(t) + 5);
	cr_assert_not(jbuf_idle(jb));
	cr_assert_eq(get(tick_ms(t + 1)).kind, JBUF_DTX, "waiting out the target");
	put(12, tick_ms(t + 1) + 5);

	struct jbuf_frame f = get(tick_ms(t + 2));

	cr_assert_eq(f.kind, JBUF_PACKET);
	cr_assert_eq(f.seq, 11);
	cr_assert_eq(get(tick_ms(t + 3)).seq, 12);
	cr_assert_eq(stats().lost, 0);
}

Test(jbuf, not_started_before_first_packet)
{
	cr_assert_eq(get(tick_ms(0)).kind, JBUF_NOT_STARTED);
	cr_assert(jbuf_idle(jb));
	put(1, tick_ms(0) + 3);
	cr_assert_not(jbuf_idle(jb));
	cr_assert_eq(get(tick_ms(1)).kind, JBUF_NOT_STARTED, "3 + 20 > 20: still waiting");
	cr_assert_eq(get(tick_ms(2)).kind, JBUF_PACKET);
}

Test(jbuf, sequence_wraps)
{
	static const int skip[] = {5}; /* seq 65535 */
	enum jbuf_kind kinds[20];
	uint16_t seqs[20];

	stream(65530, 20, skip, 1, kinds, seqs);
	for (int i = 0; i < 20; i++) {
		cr_assert_eq(seqs[i], (uint16_t)(65530 + i));
		cr_assert_eq(kinds[i], i == 5 ? JBUF_LOST_FEC : JBUF_PACKET, "frame %d", i);
	}
	cr_assert_eq(stats().lost, 1);
	cr_assert_eq(stats().late + stats().out_of_window, 0);
}

Test(jbuf, underrun_then_late_packet_still_plays)
{
	put(1, tick_ms(0));
	put(2, tick_ms(1));
	cr_assert_eq(get(tick_ms(1)).seq, 1);
	cr_assert_eq(get(tick_ms(2)).seq, 2);
	/* 3 is 30 ms late: one tick concealed, then it plays, not dropped. */
	struct jbuf_frame f = get(tick_ms(3));

	cr_assert_eq(f.kind, JBUF_LOST_PLC);
	cr_assert_eq(f.seq, 3);
	put(3, tick_ms(3) + 10);
	put(4, tick_ms(3) + 11);
	f = get(tick_ms(4));
	cr_assert_eq(f.kind, JBUF_PACKET);
	cr_assert_eq(f.seq, 3);
	cr_assert_eq(stats().late, 0);
	cr_assert_eq(stats().lost, 0);
}

Test(jbuf, outage_does_not_leave_its_length_as_delay)
{
	/* Steady stream (frame k - 1 plays at tick k + 1), then 10, 11 and 12
	 * are lost: two underrun ticks and the FEC of 13 stand in for them,
	 * so playback resumes with the delay it had. */
	uint32_t k;
	struct jbuf_frame f;

	for (k = 0; k < 10; k++) {
		put((uint16_t)k, tick_ms(k) + 5);
		get(tick_ms(k + 1));
	}
	cr_assert_eq(get(tick_ms(11)).seq, 9);
	cr_assert_eq(get(tick_ms(12)).kind, JBUF_LOST_PLC);
	cr_assert_eq(get(tick_ms(13)).kind, JBUF_LOST_PLC);
	put(13, tick_ms(13) + 5);
	f = get(tick_ms(14));
	cr_assert_eq(f.kind, JBUF_LOST_FEC);
	cr_assert_eq(f.seq, 12);
	for (k = 14; k < 20; k++) {
		put((uint16_t)k, tick_ms(k) + 5);
		f = get(tick_ms(k + 1));
		cr_assert_eq(f.kind, JBUF_PACKET, "tick %u kind %d", k, f.kind);
		cr_assert_eq(f.seq, k - 1, "the delay it had before the outage");
	}
	cr_assert_eq(stats().lost, 3);
	cr_assert_eq(stats().skipped, 2);
	cr_assert_eq(stats().fec_recovered, 1);
}

Test(jbuf, out_of_window_and_resync)
{
	uint32_t k;

	for (k = 0; k < 10; k++) {
		put((uint16_t)(100 + k), tick_ms(k) + 5);
		get(tick_ms(k + 1));
	}
	/* A stray packet far ahead is dropped... */
	cr_assert_not(put(30000, tick_ms(k)));
	cr_assert_eq(stats().out_of_window, 1);
	/* ...but a sender that restarted its numbering is followed. */
	bool kept = false;

	for (uint16_t i = 0; i < JBUF_RESYNC; i++)
		kept = put((uint16_t)(40000 + i), tick_ms(k) + i);
	cr_assert(kept);
	cr_assert_eq(stats().resyncs, 2);
	/* The new stream waits out the target from its last packet, then
	 * plays it. */
	cr_assert_eq(get(tick_ms(k + 1)).kind, JBUF_DTX);

	struct jbuf_frame f = get(tick_ms(k + 2));

	cr_assert_eq(f.kind, JBUF_PACKET);
	cr_assert_eq(f.seq, 40000 + JBUF_RESYNC - 1);
}

Test(jbuf, hostile_payloads)
{
	static uint8_t big[JBUF_OPUS_MAX + 1];

	cr_assert_not(jbuf_put(jb, 1, 0, big, sizeof(big), -1, T0));
	cr_assert_not(jbuf_put(jb, 1, 0, big, 0, -1, T0));
	cr_assert_not(jbuf_put(jb, 1, 0, NULL, 10, -1, T0));
	cr_assert_eq(stats().oversize, 3);
	cr_assert(jbuf_put(jb, 1, 0, big, JBUF_OPUS_MAX, -1, T0));
}

Test(jbuf, bad_config)
{
	struct jbuf_config c;
	struct jbuf *x;

	jbuf_config_default(&c);
	c.slots = 12;
	cr_assert_eq(jbuf_create(&c, &x), -EINVAL);
	jbuf_config_default(&c);
	c.max_delay_ms = c.slots * JBUF_FRAME_MS;
	cr_assert_eq(jbuf_create(&c, &x), -EINVAL);
	cr_assert_null(x);
	jbuf_destroy(NULL);
}

/* Arrivals of a 20 ms stream with each packet delayed by a uniform random
 * 0..spread ms (so reordered when spread > 20); ticks every 20 ms. Returns
 * frames played as LOST_* (concealed or rebuilt). */
static uint64_t jittery(uint32_t *k, uint32_t n, uint32_t spread, uint64_t *late)
{
	/* Arrival times in order of sending, delivered in time order. */
	uint64_t lost0 = stats().lost + stats().concealed;
	uint64_t late0 = stats().late;
	static uint64_t due[4096];
	uint32_t first = *k;

	cr_assert_lt(n, 4096);
	for (uint32_t i = 0; i < n; i++)
		due[i] = tick_ms(first + i) + (spread ? (uint64_t)(rand() % (int)(spread + 1)) : 0);
	for (uint32_t t = first; t < first + n; t++) {
		/* Deliver everything due before this tick. */
		for (uint32_t i = 0; i < n; i++)
			if (due[i] && due[i] < tick_ms(t + 1)) {
				put((uint16_t)(first + i), due[i]);
				due[i] = 0;
			}
		get(tick_ms(t + 1));
	}
	*k = first + n;
	*late = stats().late - late0;
	return stats().lost + stats().concealed - lost0;
}

Test(jbuf, target_adapts_up_and_down)
{
	uint32_t k = 0;
	uint64_t late;

	srand(7);
	jittery(&k, 200, 0, &late);
	cr_assert_eq(stats().target_ms, 20);

	/* 0..100 ms of jitter: J settles near 33 ms, the target near 100. */
	jittery(&k, 500, 100, &late);

	uint32_t high = stats().target_ms;

	cr_assert_geq(high, 70, "target %u ms after heavy jitter", high);
	cr_assert_leq(high, 200);
	/* Once adapted, the same jitter plays with little loss. */
	uint64_t bad = jittery(&k, 500, 100, &late);

	cr_assert_lt(bad, 15, "%llu of 500 frames concealed at the adapted target",
	             (unsigned long long)bad);
	cr_assert_gt(stats().stretched, 0, "the delay was raised towards the target");

	/* Calm again: the target comes back down, slowly, and the queue with
	 * it (frames dropped). */
	jittery(&k, 100, 0, &late);
	cr_assert_gt(stats().target_ms, 40, "no sudden drop: %u", stats().target_ms);
	jittery(&k, 1500, 0, &late);
	cr_assert_leq(stats().target_ms, 30, "target %u ms after 30 s of calm", stats().target_ms);
	cr_assert_gt(stats().dropped, 0);
	cr_assert_leq(stats().depth, 3, "queue back near the target: %u", stats().depth);
	cr_assert_eq(jittery(&k, 100, 0, &late), 0, "calm stream plays clean");
}

Test(jbuf, random_input_keeps_invariants)
{
	/* Hostile senders: any sequence number, timestamp, length, arrival
	 * order. Every frame out must still be well formed. */
	static uint8_t junk[JBUF_OPUS_MAX + 8];
	uint64_t now = T0;

	srand(99);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rand();
	for (int i = 0; i < 200000; i++) {
		uint16_t seq = (uint16_t)(rand() % 4 ? 1000 + i / 3 + rand() % 40 - 20 : rand());
		size_t len = (size_t)(rand() % (int)sizeof(junk));

		jbuf_put(jb, seq, (uint32_t)rand(), junk, len, (int16_t)(rand() % 300 - 1),
		         now + (uint64_t)(rand() % 100));
		if (i % 3 == 0) {
			struct jbuf_frame f = get(now);

			now += 20;
			if (f.kind == JBUF_PACKET || f.kind == JBUF_LOST_FEC) {
				cr_assert_not_null(f.data);
				cr_assert(f.len >= 1 && f.len <= JBUF_OPUS_MAX);
			} else {
				cr_assert_null(f.data);
			}
		}
	}
	struct jbuf_stats st = stats();

	cr_assert_gt(st.played, 0);
	cr_assert_leq(st.target_ms, 200);
	cr_assert_leq(st.depth, 16);
}

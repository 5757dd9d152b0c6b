/* Unit tests for mixer/room (and the codec layer under it). A small
 * simulation drives a room on simulated time: each client encodes its
 * signal with a real encoder (Opus, or L16 where a test needs sample
 * exactness), hands the packet to room_receive with its RFC 6464 level
 * (or none), and the room's output is decoded per listener, checked for
 * RTP continuity packet by packet and kept for analysis (Goertzel tone
 * powers, exact N-1 sums, peaks).
 *
 * "No allocation per tick" is checked with a counting malloc that wraps
 * glibc's (every allocation in the process, libopus's included); it
 * cannot coexist with a sanitizer's allocator, so under ASan (or TSan)
 * that test skips. */
#include <criterion/criterion.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mixer/room.h"

#define T0        1000000u /* room epoch, ms */
#define MAXC      10       /* clients */
#define MAX_TICKS 320

/* ---- a counting malloc (not under ASan) ---- */

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define PARLEY_SANITIZER_ALLOC 1
#endif
#endif
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) &&                             \
    !defined(PARLEY_SANITIZER_ALLOC)
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
static __thread bool counting;
static __thread unsigned long allocs;

void *malloc(size_t n)
{
	allocs += counting;
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	allocs += counting;
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
	allocs += counting;
	return __libc_realloc(p, n);
}
#endif

/* ---- the simulation ---- */

struct client {
	int id;               /* room id */
	struct codec_enc enc; /* its sender */
	struct codec_dec dec; /* decodes what the room sends it */
	uint16_t seq;         /* next sequence number it sends */
	double freq, amp;     /* its tone (amp 0: nothing) */
	double noise;         /* plus uniform noise of this amplitude */
	int level;            /* RFC 6464 byte to send: -1 none, -2 computed
	                         from its frame (V set when >= -45 dBov) */
	bool send;            /* sends a packet each tick */
	bool drop_next;       /* the next packet is lost on the way */
	uint64_t phase;       /* samples generated */
	/* received */
	bool got[MAX_TICKS]; /* a packet arrived at tick n */
	int16_t out[MAX_TICKS][CODEC_FRAME];
	int16_t in[MAX_TICKS][CODEC_FRAME]; /* its frame sent at tick n */
	bool any;
	uint16_t last_seq;
	uint32_t last_ts;
	uint32_t last_tick;
	bool shared_at[MAX_TICKS]; /* the packet at tick n was the shared mix */
	int seq_errors, ts_errors, marker_errors, shared_pkts, own_pkts;
};

static struct room *room;
static struct client cl[MAXC];
static int n_cl;
static uint32_t tick_n; /* next tick index */

static void on_packet(void *ctx, const struct room_packet *pkt)
{
	struct client *c = NULL;

	(void)ctx;
	for (int i = 0; i < n_cl; i++)
		if (cl[i].id == (int)pkt->id)
			c = &cl[i];
	cr_assert_not_null(c);
	cr_assert_eq(pkt->ssrc, 0x1000u + (uint32_t)pkt->id);
	if (c->any) {
		uint32_t gap = tick_n - c->last_tick;

		c->seq_errors += pkt->seq != (uint16_t)(c->last_seq + 1);
		c->ts_errors += pkt->ts - c->last_ts != gap * CODEC_FRAME;
		c->marker_errors += pkt->marker != (gap > 1);
	} else {
		c->marker_errors += !pkt->marker;
	}
	c->any = true;
	c->last_seq = pkt->seq;
	c->last_ts = pkt->ts;
	c->last_tick = tick_n;
	c->shared_pkts += pkt->shared;
	c->own_pkts += !pkt->shared;
	cr_assert_lt(tick_n, MAX_TICKS);
	cr_assert_not(c->got[tick_n], "two packets for one listener in one tick");
	c->got[tick_n] = true;
	c->shared_at[tick_n] = pkt->shared;
	cr_assert_eq(codec_dec_decode(&c->dec, pkt->data, pkt->len, c->out[tick_n]), 0);
}

static enum codec_kind out_kind; /* the room's output format */

static void make_room(const struct room_config *cfg)
{
	out_kind = cfg ? cfg->formats[0].kind : CODEC_OPUS;
	cr_assert_eq(room_create(cfg, T0, &room), 0);
	n_cl = 0;
	tick_n = 0;
	memset(cl, 0, sizeof(cl));
}

static struct client *add_fmt(enum codec_kind kind, double freq, double amp, int level,
                              uint32_t format, enum codec_kind out)
{
	struct client *c = &cl[n_cl++];
	struct codec_enc_config ec;
	/* Sequence numbers and timestamps out start near their wrap. */
	struct room_join j = {.in_kind = kind,
	                      .format = format,
	                      .ssrc = 0x1000u + (uint32_t)(n_cl - 1),
	                      .seq = (uint16_t)(65500 + 7 * n_cl),
	                      .ts = 0xfffff000u + (uint32_t)n_cl};

	codec_enc_config_default(&ec);
	ec.kind = kind;
	c->id = room_join(room, &j, T0 + 20ull * tick_n);
	cr_assert_eq(c->id, n_cl - 1, "a fresh room gives ids in order");
	cr_assert_eq(codec_enc_init(&c->enc, &ec), 0);
	cr_assert_eq(codec_dec_init(&c->dec, out), 0);
	c->freq = freq;
	c->amp = amp;
	c->level = level;
	c->send = true;
	c->seq = (uint16_t)(1000 * n_cl);
	return c;
}

/* A client sending kind and receiving the room's first format. */
static struct client *add(enum codec_kind kind, double freq, double amp, int level)
{
	return add_fmt(kind, freq, amp, level, 0, out_kind);
}

static void teardown(void)
{
	for (int i = 0; i < n_cl; i++) {
		codec_enc_fini(&cl[i].enc);
		codec_dec_fini(&cl[i].dec);
	}
	room_destroy(room);
	room = NULL;
}

static double level_dbov(const int16_t *pcm)
{
	double e = 0;

	for (int i = 0; i < CODEC_FRAME; i++)
		e += (double)pcm[i] * pcm[i];
	return e > 0 ? 10 * log10(e / CODEC_FRAME / (32768.0 * 32768.0)) : -127;
}

/* One tick: every sending client sends its frame (arriving now), then the
 * room runs the tick due now. */
static void step(void)
{
	uint64_t now = T0 + 20ull * tick_n;

	for (int i = 0; i < n_cl; i++) {
		struct client *c = &cl[i];
		int16_t *pcm = c->in[tick_n % MAX_TICKS];
		uint8_t pkt[CODEC_PACKET_MAX];
		int len, level = c->level;

		for (int s = 0; s < CODEC_FRAME; s++, c->phase++) {
			double v = c->amp * sin(2 * M_PI * c->freq * (double)c->phase / CODEC_RATE);

			v += c->noise * ((rand() % 2001) / 1000.0 - 1.0);
			pcm[s] = (int16_t)lrint(fmax(-32767, fmin(32767, v)));
		}
		if (!c->send)
			continue;
		len = codec_enc_encode(&c->enc, pcm, pkt, sizeof(pkt));
		cr_assert_geq(len, 0);
		if (len == 0)
			continue; /* DTX: nothing sent, the sequence number stays */
		if (level == -2) {
			double db = level_dbov(pcm);

			level = room_audio_level(db >= -45, (int)lrint(-db));
		}
		if (c->drop_next)
			c->drop_next = false;
		else
			cr_assert_geq(room_receive(room, (uint32_t)c->id, c->seq, tick_n * 960u,
			                           pkt, (size_t)len, level, now),
			              0);
		c->seq++;
	}
	room_tick(room, now, on_packet, NULL);
	tick_n++;
}

static void run(int ticks)
{
	for (int i = 0; i < ticks; i++)
		step();
}

static struct room_part_info info(const struct client *c)
{
	struct room_part_info in;

	cr_assert_eq(room_part_info(room, (uint32_t)c->id, &in), 0);
	return in;
}

static struct room_stats stats(void)
{
	struct room_stats st;

	room_stats(room, &st);
	return st;
}

static void continuity_ok(void)
{
	for (int i = 0; i < n_cl; i++) {
		cr_assert_eq(cl[i].seq_errors, 0, "client %d: sequence gaps or repeats", i);
		cr_assert_eq(cl[i].ts_errors, 0, "client %d: timestamp steps", i);
		cr_assert_eq(cl[i].marker_errors, 0, "client %d: marker bits", i);
	}
}

/* Amplitude of the tone at freq in ticks [from, to) of c's recording
 * (Hann-windowed Goertzel; a sine of amplitude A reads about A). */
static double tone(const struct client *c, double freq, uint32_t from, uint32_t to)
{
	double w = 2 * M_PI * freq / CODEC_RATE, k = 2 * cos(w), s1 = 0, s2 = 0;
	size_t n = (size_t)(to - from) * CODEC_FRAME, i = 0;

	for (uint32_t t = from; t < to; t++)
		for (int s = 0; s < CODEC_FRAME; s++, i++) {
			double h = 0.5 - 0.5 * cos(2 * M_PI * (double)i / (double)(n - 1));
			double s0 = c->out[t][s] * h + k * s1 - s2;

			s2 = s1;
			s1 = s0;
		}
	return 4 * sqrt(fmax(0, s1 * s1 + s2 * s2 - k * s1 * s2)) / (double)n;
}

TestSuite(room, .fini = teardown);

static const double freqs[] = {350, 620, 1030, 1470, 2050};

/* Defaults with L16 out: what the listeners get is the limited mix,
 * sample for sample. */
static struct room_config *l16_config(struct room_config *cfg)
{
	room_config_default(cfg);
	cfg->formats[0].kind = CODEC_L16;
	return cfg;
}

/* Five participants, each its own tone, all mixed (K = 5): each must hear
 * the four others and not itself. level: the RFC 6464 mode (-2 sent, -1
 * none: the room decodes everyone for levels). */
static void tone_test(enum room_mode mode, int level)
{
	struct room_config cfg;

	room_config_default(&cfg);
	cfg.mode = mode;
	cfg.talkers = 5;
	make_room(&cfg);
	for (int i = 0; i < 5; i++)
		add(CODEC_OPUS, freqs[i], 6000, level);
	run(100);
	continuity_ok();
	for (int i = 0; i < 5; i++) {
		double own = tone(&cl[i], freqs[i], 50, 100), weakest = 1e9;

		for (int j = 0; j < 5; j++)
			if (j != i)
				weakest = fmin(weakest, tone(&cl[i], freqs[j], 50, 100));
		cr_log_info("mode %d level %d listener %d: weakest other %.0f, own %.1f (%.1f dB)",
		            mode, level, i, weakest, own, 20 * log10(own / weakest));
		cr_assert_gt(weakest, 3000, "listener %d hears a tone at only %.0f of 6000", i,
		             weakest);
		cr_assert_lt(20 * log10(own / weakest), -40,
		             "listener %d: own tone %.1f, weakest other %.0f", i, own, weakest);
		cr_assert_eq(cl[i].shared_pkts, 0, "a talker gets its own mix");
	}
}

Test(room, tone_each_hears_the_others_not_itself_levels_sent)
{
	tone_test(ROOM_MODE_SELECT, -2);
}

Test(room, tone_each_hears_the_others_not_itself_levels_decoded)
{
	tone_test(ROOM_MODE_SELECT, ROOM_LEVEL_NONE);
}

Test(room, tone_baseline_per_listener)
{
	tone_test(ROOM_MODE_PER_LISTENER, ROOM_LEVEL_NONE);
}

Test(room, tone_top3_shared_listeners_hear_the_talkers)
{
	/* Five tones, K = 3: the three loudest are mixed; each of them hears
	 * the other two; the other two listeners share one stream of all
	 * three. */
	make_room(NULL);
	for (int i = 0; i < 5; i++)
		add(CODEC_OPUS, freqs[i], i < 3 ? 8000 : 2000, -2);
	run(100);
	continuity_ok();
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(info(&cl[i]).talker, i < 3);
		for (int j = 0; j < 5; j++) {
			double a = tone(&cl[i], freqs[j], 50, 100);

			if (j < 3 && j != i)
				cr_assert_gt(a, 4000, "listener %d misses talker %d (%.0f)", i, j,
				             a);
			else
				cr_assert_lt(a, 300, "listener %d hears %d (%.0f)", i, j, a);
		}
		if (i >= 3)
			cr_assert_eq(cl[i].own_pkts, 0);
	}
	cr_assert_eq(memcmp(cl[3].out[80], cl[4].out[80], sizeof(cl[3].out[80])), 0,
	             "the shared listeners decode the same bytes");
	/* 3 own + 1 shared per tick once running. */
	cr_assert_leq(stats().encodes, 4 * stats().ticks);
}

/* Frame n of c's recording equals the sum of the given clients' frames
 * sent at n - delay, exactly. */
static void exact_sum(const struct client *c, const int *who, int n_who, uint32_t from, uint32_t to,
                      uint32_t delay)
{
	for (uint32_t t = from; t < to; t++) {
		cr_assert(c->got[t], "tick %u missing", t);
		for (int s = 0; s < CODEC_FRAME; s++) {
			int32_t want = 0;

			for (int w = 0; w < n_who; w++)
				want += cl[who[w]].in[t - delay][s];
			cr_assert_eq(c->out[t][s], want, "tick %u sample %d: %d, want %d", t, s,
			             c->out[t][s], want);
		}
	}
}

static void n_minus_1_test(enum room_mode mode)
{
	struct room_config cfg;

	l16_config(&cfg)->mode = mode;
	make_room(&cfg);
	for (int i = 0; i < 5; i++) {
		struct client *c = add(CODEC_L16, freqs[i], i < 3 ? 4000 : 0, -2);

		c->noise = i < 3 ? 3000 : 0; /* full-band content, below full scale */
	}
	run(60);
	continuity_ok();
	/* Sent at tick n, played at n + 1 (20 ms target); after the entry
	 * ramp every mix is exact: each talker gets the other two, everyone
	 * else all three. */
	static const int others[3][2] = {{1, 2}, {0, 2}, {0, 1}};
	static const int all[3] = {0, 1, 2};

	for (int i = 0; i < 3; i++)
		exact_sum(&cl[i], others[i], 2, 5, 60, 1);
	for (int i = 3; i < 5; i++)
		exact_sum(&cl[i], all, 3, 5, 60, 1);
}

Test(room, n_minus_1_exact_through_the_room)
{
	n_minus_1_test(ROOM_MODE_SELECT);
	cr_assert_eq(cl[3].own_pkts, 0);
	cr_assert_gt(cl[0].own_pkts, 50);
}

Test(room, n_minus_1_exact_baseline)
{
	n_minus_1_test(ROOM_MODE_PER_LISTENER);
	cr_assert_eq(cl[3].shared_pkts, 0, "the baseline encodes per listener");
}

Test(room, loud_room_stays_within_full_scale)
{
	struct room_config cfg;
	int peak = 0;

	l16_config(&cfg)->talkers = 5;
	make_room(&cfg);
	for (int i = 0; i < 6; i++)
		add(CODEC_L16, freqs[i % 5] * 1.01, 32000, -2)->noise = 700;
	run(80);
	for (int i = 0; i < 6; i++)
		for (uint32_t t = 0; t < tick_n; t++)
			for (int s = 0; s < CODEC_FRAME; s++) {
				int v = abs(cl[i].out[t][s]);

				cr_assert_leq(v, 32767, "listener %d tick %u: %d", i, t, v);
				peak = v > peak ? v : peak;
			}
	cr_assert_gt(peak, 25000, "the limiter leaves the level up (%d)", peak);
}

/* Sets c's RFC 6464 byte: voiced at -dbov, or unvoiced noise floor. */
static void say(struct client *c, int minus_dbov)
{
	c->level = room_audio_level(minus_dbov < 45, minus_dbov);
}

Test(room, louder_fourth_talker_enters_after_enter_ticks)
{
	struct room_config cfg;

	make_room(l16_config(&cfg));
	for (int i = 0; i < 4; i++)
		say(add(CODEC_L16, freqs[i], 1000, 0), i < 3 ? 30 : 90);
	run(30);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(info(&cl[i]).talker, i < 3);

	struct room_stats before = stats();
	uint32_t onset = tick_n, entered = 0;

	say(&cl[3], 10); /* 20 dB above the talkers */
	for (int t = 0; t < 30 && !entered; t++) {
		step();
		if (info(&cl[3]).talker)
			entered = tick_n - 1 - onset; /* ticks since its first loud frame played */
	}
	/* Its smoothed level passes the weakest talker's (plus the 6 dB
	 * incumbent bonus) on its third loud tick; then enter_ticks (10). */
	cr_assert_geq(entered, 10, "entered after %u ticks: enter_ticks is 10", entered);
	cr_assert_leq(entered, 13, "entered after %u ticks", entered);
	cr_assert_eq(stats().displaced - before.displaced, 1);
	int seated = 0;

	for (int i = 0; i < 4; i++)
		seated += info(&cl[i]).talker;
	cr_assert_eq(seated, 3);
	run(20);
	continuity_ok();
}

Test(room, blips_and_equals_do_not_churn)
{
	struct room_config cfg;

	make_room(l16_config(&cfg));
	for (int i = 0; i < 4; i++)
		say(add(CODEC_L16, freqs[i], 1000, 0), i < 3 ? 30 : 90);
	run(30);

	struct room_stats before = stats();

	/* Loud blips of 60, 80 and 120 ms. */
	for (int len = 3; len <= 6; len += 1 + (len == 4)) {
		say(&cl[3], 5);
		run(len);
		say(&cl[3], 90);
		run(30);
	}
	/* Then all four at about the same level, wobbling by +-3 dB. */
	for (int t = 0; t < 150; t++) {
		for (int i = 0; i < 4; i++)
			say(&cl[i], 28 + rand() % 7);
		step();
	}
	cr_assert_eq(stats().enters, before.enters, "no talker changed");
	cr_assert_eq(stats().displaced, 0);
	cr_assert_not(info(&cl[3]).talker);
	continuity_ok();
}

/* Largest second difference of c's recording in ticks [from, to): a
 * click detector (a 620 Hz tone at 6000 gives about 45). */
static double roughness(const struct client *c, uint32_t from, uint32_t to)
{
	double worst = 0;

	for (uint32_t t = from; t < to; t++)
		for (int s = 0; s < CODEC_FRAME; s++) {
			int a = s >= 2 ? c->out[t][s - 2] : c->out[t - 1][CODEC_FRAME - 2 + s];
			int b = s >= 1 ? c->out[t][s - 1] : c->out[t - 1][CODEC_FRAME - 1];

			worst = fmax(worst, fabs(c->out[t][s] - 2.0 * b + a));
		}
	return worst;
}

Test(room, listener_becomes_talker_and_back_stream_is_continuous)
{
	uint32_t in_at = 0, back_at = 0;

	make_room(NULL);

	add(CODEC_OPUS, freqs[0], 6000, -2);
	add(CODEC_OPUS, freqs[1], 6000, -2);

	struct client *l = add(CODEC_OPUS, freqs[2], 0, -2); /* silent listener */

	run(40);
	cr_assert_gt(l->shared_pkts, 30);
	cr_assert_eq(l->own_pkts, 0);
	l->amp = 6000; /* talks: a seat is free, it enters at once */
	run(40);
	cr_assert(info(l).talker);
	cr_assert_gt(l->own_pkts, 30);
	l->amp = 0; /* silent again: leaves after the 500 ms hangover */
	run(60);
	cr_assert_not(info(l).talker);
	cr_assert_eq(stats().switches_back, 1, "one concealment packet on the way back");
	continuity_ok();

	/* A packet on every tick from the first: nothing skipped, nothing
	 * repeated, through both switches. */
	for (uint32_t t = 1; t < tick_n; t++) {
		cr_assert(l->got[t], "tick %u", t);
		if (t > 1 && !l->shared_at[t] && l->shared_at[t - 1])
			in_at = t;
		if (!l->shared_at[t - 1] && l->shared_at[t])
			back_at = t;
	}
	/* Its own stream starts as a copy of the shared encoder: no click
	 * (a fresh encoder measured about 1200 here). */
	cr_assert_eq(in_at, 41);
	cr_assert_lt(roughness(l, in_at - 1, in_at + 2), 2 * roughness(l, 20, 35) + 10,
	             "click where its own stream starts: %.0f, usual %.0f",
	             roughness(l, in_at - 1, in_at + 2), roughness(l, 20, 35));
	/* The way back: hangover over about 26 ticks after its last voiced
	 * frame played (81); a concealed frame, then the shared stream, with
	 * no click either (without the concealment packet: about 1300). */
	cr_assert(back_at >= 105 && back_at <= 109, "switched back at tick %u", back_at);
	cr_assert_lt(roughness(l, back_at - 1, back_at + 3), 2 * roughness(l, 20, 35) + 10,
	             "click where the shared stream resumes: %.0f, usual %.0f",
	             roughness(l, back_at - 1, back_at + 3), roughness(l, 20, 35));
	/* It hears the others in its own mix and not itself. */
	cr_assert_gt(tone(l, freqs[0], 50, 80), 3000);
	cr_assert_lt(tone(l, freqs[2], 50, 80), 100);
}

Test(room, dtx_sender_pauses_and_resumes)
{
	struct codec_enc_config ec;

	make_room(NULL);

	struct client *a = add(CODEC_OPUS, freqs[0], 6000, -2), *b = add(CODEC_OPUS, 0, 0, -2);

	add(CODEC_OPUS, freqs[1], 3000, -2);
	codec_enc_fini(&a->enc);
	codec_enc_config_default(&ec);
	ec.dtx = true;
	cr_assert_eq(codec_enc_init(&a->enc, &ec), 0);
	run(40);
	a->amp = 0; /* digital silence: the encoder stops sending */
	run(80);

	struct room_part_info in = info(a);
	struct room_stats st = stats();

	cr_assert_gt(in.jbuf.dtx_ticks, 30, "%llu DTX ticks",
	             (unsigned long long)in.jbuf.dtx_ticks);
	/* About 10 frames of hangover, then an update every 400 ms. */
	cr_assert_lt(in.jbuf.received, 40 + 20, "%llu packets: only DTX updates in the pause",
	             (unsigned long long)in.jbuf.received);
	cr_assert_not(in.talker);
	a->amp = 6000;
	run(40);
	cr_assert(info(a).talker);
	cr_assert_gt(tone(b, freqs[0], 140, 160), 3000, "heard again after the pause");
	cr_assert_lt(tone(b, freqs[0], 100, 120), 100, "silent in the pause");
	cr_assert_lt(stats().decodes - st.decodes, 3 * 40, "two talkers' worth of decoding");
	continuity_ok();
}

Test(room, idle_room_costs_nothing)
{
	make_room(NULL);
	for (int i = 0; i < 4; i++)
		add(CODEC_OPUS, freqs[i], 0, -2)->send = false;
	cr_assert_eq(room_next_deadline(room), ROOM_IDLE, "a new room sleeps");
	cr_assert_eq(room_tick(room, T0 + 1000, on_packet, NULL), ROOM_IDLE);
	run(50);
	cr_assert_eq(stats().ticks, 0);

	/* Four participants sending their noise floor (no DTX), levels in
	 * the header: ticked, but nothing decoded, encoded or sent. */
	for (int i = 0; i < 4; i++) {
		cl[i].send = true;
		cl[i].noise = 10;
		cl[i].level = -2;
	}
	run(50);
	cr_assert_gt(stats().ticks, 40);
	cr_assert_eq(stats().decodes, 0);
	cr_assert_eq(stats().encodes, 0);
	cr_assert_eq(stats().packets_out, 0);

	/* One talks, then everyone stops sending: the room goes back to
	 * sleep once the jitter buffers are in DTX and the hangover is
	 * over, and from then on room_tick does nothing. */
	cl[0].amp = 6000;
	run(20);
	cr_assert_gt(stats().packets_out, 0);
	for (int i = 0; i < 4; i++)
		cl[i].send = false;
	run(40);
	cr_assert_eq(room_next_deadline(room), ROOM_IDLE);

	uint64_t ticks = stats().ticks;

	run(50);
	cr_assert_eq(stats().ticks, ticks);
	continuity_ok();
}

Test(room, decodes_only_the_talkers_when_levels_are_sent)
{
	make_room(NULL);
	for (int i = 0; i < 10; i++)
		add(CODEC_OPUS, 200 + 150 * i, i < 2 ? 6000 : 0, -2)->noise = 20;
	run(100);

	struct room_stats st = stats();

	/* Two talkers: about 2 decodes and 3 encodes (2 own, 1 shared) a tick. */
	cr_assert_leq(st.decodes, 2 * st.ticks + 4, "%llu decodes in %llu ticks",
	              (unsigned long long)st.decodes, (unsigned long long)st.ticks);
	cr_assert_leq(st.encodes, 3 * st.ticks);
	cr_assert_geq(st.encodes, 3 * (st.ticks - 2));
	teardown();

	/* Without levels every stream must be decoded to be heard. */
	make_room(NULL);
	for (int i = 0; i < 10; i++)
		add(CODEC_OPUS, 200 + 150 * i, i < 2 ? 6000 : 0, ROOM_LEVEL_NONE)->noise = 20;
	run(100);
	st = stats();
	cr_assert_geq(st.decodes, 10 * (st.ticks - 2));
}

Test(room, lost_packet_is_rebuilt_from_fec)
{
	make_room(NULL);
	add(CODEC_OPUS, 300, 8000, -2)->noise = 500;
	add(CODEC_OPUS, 0, 0, -2);
	run(30);
	cl[0].drop_next = true;
	run(30);

	struct room_part_info in = info(&cl[0]);

	cr_assert_eq(in.jbuf.lost, 1);
	cr_assert_eq(in.jbuf.fec_recovered, 1);
	cr_assert_eq(stats().decode_errors, 0);
	cr_assert_eq(cl[0].own_pkts, 0, "a lone talker is sent nothing");
	for (uint32_t t = 2; t < tick_n; t++)
		cr_assert(cl[1].got[t], "the listener's stream has no hole at tick %u", t);
	continuity_ok();
}

Test(room, no_allocation_per_tick)
{
#ifndef COUNT_ALLOCS
	cr_skip_test("the counting malloc cannot run beside a sanitizer's allocator");
#else
	make_room(NULL);
	for (int i = 0; i < 6; i++)
		add(CODEC_OPUS, freqs[i % 5], i < 3 ? 6000 : 0, i % 2 ? -2 : ROOM_LEVEL_NONE);
	run(20);
	/* 100 ticks with every path: shared and own streams, a listener
	 * entering (encoder copy) and leaving, a displacement with warm-up
	 * decodes, FEC and concealment. */
	cl[5].amp = 24000; /* 12 dB above the talkers: displaces one */
	cl[0].drop_next = true;
	for (int t = 0; t < 100; t++) {
		if (t == 50)
			cl[5].amp = 0;
		if (t == 30)
			cl[1].drop_next = true;
		counting = true;
		step();
		counting = false;
	}
	cr_assert_gt(stats().displaced, 0);
	cr_assert_gt(stats().warmups, 0);
	cr_assert_gt(stats().switches_back, 0);
	cr_assert_eq(allocs, 0, "%lu allocations in 100 ticks", allocs);
	/* The counter counts: a join allocates. */
	counting = true;
	add(CODEC_OPUS, 0, 0, -2);
	counting = false;
	cr_assert_gt(allocs, 0);
#endif
}

Test(room, shared_mix_encoded_once_per_format)
{
	struct room_config cfg;

	room_config_default(&cfg);
	cfg.n_formats = 2;
	cfg.formats[1].kind = CODEC_L16;
	make_room(&cfg);
	add(CODEC_OPUS, freqs[0], 6000, -2);
	add(CODEC_OPUS, freqs[1], 6000, -2);
	for (int i = 0; i < 4; i++)
		add_fmt(CODEC_OPUS, 0, 0, -2, (uint32_t)(i % 2), i % 2 ? CODEC_L16 : CODEC_OPUS);
	run(50);
	continuity_ok();

	struct room_stats st = stats();

	/* Per tick: 2 own + 1 shared Opus + 1 shared L16. */
	cr_assert_leq(st.shared_encodes, 2 * st.ticks);
	cr_assert_geq(st.shared_encodes, 2 * (st.ticks - 2));
	cr_assert_leq(st.encodes, 4 * st.ticks);
	cr_assert_eq(memcmp(cl[3].out[40], cl[5].out[40], sizeof(cl[3].out[40])), 0);
	cr_assert_gt(tone(&cl[3], freqs[0], 20, 50), 4000, "the L16 listeners hear the talkers");
	cr_assert_gt(tone(&cl[2], freqs[1], 20, 50), 4000, "so do the Opus ones");
}

Test(room, deadlines_catch_up_and_skip)
{
	static const uint8_t frame[CODEC_L16_BYTES];
	struct room_config cfg;
	uint64_t next;

	make_room(l16_config(&cfg));
	add(CODEC_L16, 0, 0, -1);
	/* A packet at T0 + 105 wakes the room; its first tick is the next
	 * one on the grid, T0 + 120. */
	cr_assert_eq(room_receive(room, 0, 1, 960, frame, sizeof(frame), -1, T0 + 105), 1);
	cr_assert_eq(room_next_deadline(room), T0 + 120);
	cr_assert_eq(room_tick(room, T0 + 119, on_packet, NULL), T0 + 120, "not due yet");
	cr_assert_eq(stats().ticks, 0);
	cr_assert_eq(room_receive(room, 0, 2, 1920, frame, sizeof(frame), -1, T0 + 110), 0,
	             "awake already");
	/* 200 ms late: 11 ticks due; 4 run, 7 skipped, the next one ahead. */
	tick_n = 6;
	next = room_tick(room, T0 + 320, on_packet, NULL);
	cr_assert_eq(stats().ticks, ROOM_CATCHUP);
	cr_assert_eq(stats().ticks_skipped, 11 - ROOM_CATCHUP);
	cr_assert_eq(next, T0 + 340);
	cr_assert_eq(room_next_deadline(room), next);
}

Test(room, hostile_and_wrong_input)
{
	static const uint8_t frame[CODEC_L16_BYTES];
	/* Opus TOC config 2 (SILK NB 40 ms), code 0: one 40 ms frame. */
	static const uint8_t opus40[] = {2 << 3, 0, 0, 0};
	struct room_join j = {.in_kind = CODEC_OPUS};
	struct room_config cfg;

	make_room(NULL);
	add(CODEC_L16, 0, 0, -1);
	cr_assert_eq(room_join(room, &j, T0), 1);
	cr_assert_eq(room_receive(room, 0, 1, 0, frame, sizeof(frame) - 2, -1, T0), -EBADMSG);
	cr_assert_eq(room_receive(room, 0, 1, 0, frame, sizeof(frame), 256, T0), -EBADMSG);
	cr_assert_eq(room_receive(room, 0, 1, 0, NULL, 0, -1, T0), -EBADMSG);
	cr_assert_eq(room_receive(room, 1, 1, 0, opus40, sizeof(opus40), -1, T0), -EBADMSG);
	cr_assert_eq(room_receive(room, 9, 1, 0, frame, sizeof(frame), -1, T0), -ENOENT);
	cr_assert_eq(room_receive(room, 99999, 1, 0, frame, sizeof(frame), -1, T0), -ENOENT);
	cr_assert_eq(stats().rx_bad, 4);
	cr_assert_eq(room_next_deadline(room), ROOM_IDLE, "nothing bad wakes the room");

	j.format = 1;
	cr_assert_eq(room_join(room, &j, T0), -EINVAL, "no such format");
	cr_assert_eq(room_leave(room, 1), 0);
	cr_assert_eq(room_leave(room, 1), -ENOENT);
	j.format = 0;
	cr_assert_eq(room_join(room, &j, T0), 1, "ids are reused");

	room_config_default(&cfg);
	cfg.max_participants = 2;
	struct room *small;

	cr_assert_eq(room_create(&cfg, T0, &small), 0);
	cr_assert_eq(room_join(small, &j, T0), 0);
	cr_assert_eq(room_join(small, &j, T0), 1);
	cr_assert_eq(room_join(small, &j, T0), -ENOSPC);
	room_destroy(small);
	cfg.talkers = 0;
	cr_assert_eq(room_create(&cfg, T0, &small), -EINVAL);
	cr_assert_null(small);
	room_destroy(NULL);
}

Test(room, garbage_opus_payloads_are_survived)
{
	uint8_t junk[200];

	make_room(NULL);
	add(CODEC_OPUS, 0, 0, ROOM_LEVEL_NONE)->send = false;
	add(CODEC_OPUS, freqs[0], 6000, -2);
	srand(5);
	for (uint32_t t = 0; t < 200; t++) {
		size_t len = 1 + (size_t)(rand() % (int)sizeof(junk));

		for (size_t i = 0; i < len; i++)
			junk[i] = (uint8_t)rand();
		/* Whatever the TOC says; the room refuses or decodes it. */
		room_receive(room, 0, (uint16_t)t, t * 960, junk, len,
		             rand() % 2 ? -1 : rand() % 256, T0 + 20ull * t);
		step();
	}
	cr_assert_gt(stats().rx_bad, 0);
	cr_assert_gt(stats().decodes, 100);
	continuity_ok();
}

Test(room, talker_leaving_the_room_frees_its_seat)
{
	struct room_config cfg;

	make_room(l16_config(&cfg));
	for (int i = 0; i < 4; i++)
		say(add(CODEC_L16, freqs[i], 1000, 0), 30);
	run(20);
	cr_assert_eq(info(&cl[3]).talker, false);
	cr_assert_eq(room_leave(room, 0), 0);
	cl[0].send = false;
	cl[0].id = -1;
	run(3);
	cr_assert(info(&cl[3]).talker, "the free seat is taken at once");
}

Test(room, codec_copy_continues_a_stream)
{
	struct codec_enc_config ec;
	struct codec_enc a, b;
	int16_t pcm[CODEC_FRAME];
	uint8_t pa[CODEC_PACKET_MAX], pb[CODEC_PACKET_MAX];

	codec_enc_config_default(&ec);
	cr_assert_eq(codec_enc_init(&a, &ec), 0);
	cr_assert_eq(codec_enc_init(&b, &ec), 0);
	for (int f = 0; f < 20; f++) {
		for (int s = 0; s < CODEC_FRAME; s++)
			pcm[s] = (int16_t)(8000 * sin(2 * M_PI * 440 * (f * CODEC_FRAME + s) /
			                              CODEC_RATE));
		if (f == 10)
			cr_assert_eq(codec_enc_copy(&b, &a), 0);
		int na = codec_enc_encode(&a, pcm, pa, sizeof(pa));

		if (f >= 10) {
			int nb = codec_enc_encode(&b, pcm, pb, sizeof(pb));

			cr_assert_eq(na, nb);
			cr_assert_eq(memcmp(pa, pb, (size_t)na), 0, "frame %d differs", f);
		}
	}
	/* Different settings cannot be copied into each other. */
	codec_enc_fini(&b);
	ec.bitrate = 64000;
	cr_assert_eq(codec_enc_init(&b, &ec), 0);
	cr_assert_eq(codec_enc_copy(&b, &a), -EINVAL);
	codec_enc_fini(&a);
	codec_enc_fini(&b);
	codec_enc_fini(&b);

	/* L16 is exact, and the packet check knows one frame from others. */
	struct codec_dec d;
	int16_t back[CODEC_FRAME];

	ec.kind = CODEC_L16;
	cr_assert_eq(codec_enc_init(&a, &ec), 0);
	cr_assert_eq(codec_dec_init(&d, CODEC_L16), 0);
	pcm[0] = -32768;
	pcm[1] = 32767;
	cr_assert_eq(codec_enc_encode(&a, pcm, pa, sizeof(pa)), CODEC_L16_BYTES);
	cr_assert_eq(codec_packet_check(CODEC_L16, pa, CODEC_L16_BYTES), 0);
	cr_assert_eq(codec_dec_decode(&d, pa, CODEC_L16_BYTES, back), 0);
	cr_assert_eq(memcmp(pcm, back, sizeof(pcm)), 0);
	cr_assert_eq(codec_enc_encode(&a, pcm, pa, 100), -ENOBUFS);
	codec_enc_fini(&a);
	codec_dec_fini(&d);
}

/* parley-room-bench: conference participants one core can mix, parley's
 * room against a per-listener transcoding baseline and against the codec
 * cost no mixer can avoid, all measured in one run.
 *
 *   parley-room-bench [--seconds TOTAL] [--quick] [--json FILE] [--complexity N]
 *
 * Rooms of M participants (5, 10, 20, 50), of whom a share (10 %, 30 %,
 * 100 %, at least one) talk: a synthetic speech-like signal (a harmonic
 * voice with a wandering pitch, syllables at about 4 Hz and pauses);
 * the others send their noise floor (-65 dBov, no DTX, as most WebRTC
 * senders do). All packets are real Opus (the room's encoder settings),
 * encoded before any timing, with the RFC 6464 level and voice flag a
 * sender computes. Each timed tick hands the room one packet per
 * participant (room_receive) and runs room_tick; packets out go to a
 * callback that only counts them.
 *
 *   parley     ROOM_MODE_SELECT: top K = 3 talkers by the levels in the
 *              headers, decode only those, one shared encode + one N-1
 *              encode per talker.
 *   baseline   ROOM_MODE_PER_LISTENER: decode every stream, and for every
 *              listener its own N-1 mix, limiter and Opus encode.
 *
 * participants/core = M * 20 ms / (CPU time per tick). Times are the
 * thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so other work on a shared
 * machine does not count against the room, and each cell is the best of
 * three runs (two with --quick), interleaved with the codec measurements.
 *
 * The codec-bound limit is what a core could carry if the only work were
 * the Opus calls no design can avoid, priced at the decode and encode
 * costs measured in this run beside each cell (best of its runs, on the same
 * packets and settings, with as many decoder and encoder states in turn
 * as the cell's room needs, each encoder on the mix it would encode; see
 * codec_cost):
 *
 *   Tm      = min(T, K)                    talkers that must be heard
 *   decodes = Tm                           their streams, nothing else
 *   encodes = (Tm >= 2 ? Tm : 0)           each mixed talker's N-1 mix
 *                                          (a lone talker's is silence)
 *           + (M > Tm ? 1 : 0)             one mix shared by the rest
 *   limit   = M * 20 ms / (decodes * t_dec + encodes * t_enc)
 *
 * It leaves out receiving, jitter buffering, level tracking, mixing,
 * limiting, and the extra decodes a real room needs when a new talker's
 * decoder has to be warmed up; parley's ratio to it is how close the rest
 * of the room comes to costing nothing. Prints a Markdown table; asserts
 * nothing. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mixer/room.h"

#define POOL_TALK   8   /* distinct voices */
#define POOL_NOISE  4   /* distinct noise floors */
#define POOL_FRAMES 150 /* 3 s of each, looped */
#define OPUS_MAX    1275
#define EPOCH       1000000u
#define K           3

struct stream {
	uint8_t pkt[POOL_FRAMES][OPUS_MAX];
	uint16_t len[POOL_FRAMES];
	int level[POOL_FRAMES]; /* RFC 6464 byte */
	int16_t pcm[POOL_FRAMES][CODEC_FRAME];
};

static struct stream talk[POOL_TALK], noise[POOL_NOISE];
static struct codec_enc_config enc_cfg;
static int repeats = 3;           /* runs per cell, the best kept (2 with --quick) */
static uint32_t least_ticks = 20; /* timed ticks per run at least (10 with --quick) */
static const uint32_t sizes[] = {5, 10, 20, 50};
static const double shares[] = {0.10, 0.30, 1.00};

#define N_SIZES  (sizeof(sizes) / sizeof(sizes[0]))
#define N_SHARES (sizeof(shares) / sizeof(shares[0]))

struct cell {
	uint32_t m, talkers;
	double share;
	double us[2];          /* CPU µs per tick: [0] parley, [1] baseline */
	double dec[2], enc[2]; /* decodes and encodes per tick */
	double t_dec, t_enc;   /* Opus µs per frame, measured beside this cell */
	double bound;          /* codec-bound participants per core */
};

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "parley-room-bench: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

/* Voice v's sample n: harmonics of a pitch wandering around 100..205 Hz,
 * shaped by a speech-like spectral tilt, in syllables with pauses. */
static double voice(int v, long n)
{
	double t = (double)n / CODEC_RATE, ph = 1.7 * v;
	double f0 = (100 + 15 * v) * (1 + 0.12 * sin(2 * M_PI * 0.45 * t + ph));
	double syl = fmax(0, sin(2 * M_PI * (3.3 + 0.2 * v) * t + ph));
	double gate = sin(2 * M_PI * 0.31 * t + ph) > -0.4 ? 1.0 : 0.05;
	double s = 0;

	for (int h = 1; h <= 20; h++)
		s += sin(2 * M_PI * f0 * h * t + h * ph) / (h * (1 + pow(f0 * h / 900, 2)));
	return 9000 * sqrt(syl) * gate * s;
}

/* Encodes POOL_FRAMES of every stream with the room's settings. */
static void make_streams(void)
{
	struct codec_enc e;

	srand(1);
	for (int s = 0; s < POOL_TALK + POOL_NOISE; s++) {
		struct stream *st = s < POOL_TALK ? &talk[s] : &noise[s - POOL_TALK];
		int err = codec_enc_init(&e, &enc_cfg);

		if (err)
			die("encoder", err);
		for (int f = 0; f < POOL_FRAMES; f++) {
			double energy = 0, db;

			for (int i = 0; i < CODEC_FRAME; i++) {
				double x = (rand() % 61 - 30); /* -65 dBov floor */

				if (s < POOL_TALK)
					x += voice(s, (long)f * CODEC_FRAME + i);
				st->pcm[f][i] = (int16_t)fmax(-32767, fmin(32767, x));
				energy += (double)st->pcm[f][i] * st->pcm[f][i];
			}
			db = 10 * log10(energy / CODEC_FRAME / (32768.0 * 32768.0) + 1e-13);
			st->level[f] = room_audio_level(db >= -45, (int)lrint(-db));
			err = codec_enc_encode(&e, st->pcm[f], st->pkt[f], OPUS_MAX);
			if (err <= 0)
				die("encode", err ? err : EIO);
			st->len[f] = (uint16_t)err;
		}
		codec_enc_fini(&e);
	}
}

static void count_packet(void *ctx, const struct room_packet *pkt)
{
	*(size_t *)ctx += pkt->len;
}

/* One room of m with `talkers` talkers in mode: CPU µs per tick over at
 * least min_ticks and budget seconds; decodes and encodes per tick. */
static double run_room(uint32_t m, uint32_t talkers, enum room_mode mode, double budget,
                       uint32_t min_ticks, double *dec, double *enc)
{
	struct room_config cfg;
	struct room *r;
	struct room_stats a, b;
	size_t bytes = 0;
	uint32_t warm = mode == ROOM_MODE_SELECT ? 50 : 10, n = 0, timed = 0;
	double t0 = 0, used = 0;
	int err;

	room_config_default(&cfg);
	cfg.mode = mode;
	cfg.talkers = K;
	cfg.max_participants = m;
	cfg.formats[0] = enc_cfg;
	err = room_create(&cfg, EPOCH, &r);
	if (err)
		die("room_create", err);
	for (uint32_t i = 0; i < m; i++) {
		struct room_join j = {
		    .in_kind = CODEC_OPUS, .ssrc = i, .seq = (uint16_t)(i * 1000)};

		err = room_join(r, &j, EPOCH);
		if (err < 0)
			die("room_join", err);
	}
	for (;;) {
		if (n == warm) {
			room_stats(r, &a);
			t0 = cpu_s();
		}
		uint64_t now = EPOCH + 20ull * n;

		for (uint32_t i = 0; i < m; i++) {
			const struct stream *s =
			    i < talkers ? &talk[i % POOL_TALK] : &noise[i % POOL_NOISE];
			uint32_t f = (n + i * 37) % POOL_FRAMES;

			room_receive(r, i, (uint16_t)n, n * 960u, s->pkt[f], s->len[f], s->level[f],
			             now);
		}
		room_tick(r, now, count_packet, &bytes);
		n++;
		if (n > warm && ++timed % 5 == 0) {
			used = cpu_s() - t0;
			if (timed >= min_ticks && used >= budget)
				break;
		}
	}
	room_stats(r, &b);
	room_destroy(r);
	*dec = (double)(b.decodes - a.decodes) / timed;
	*enc = (double)(b.encodes - a.encodes) / timed;
	return used * 1e6 / timed;
}

/* CPU µs per frame of the Opus work a room with tm mixed talkers cannot
 * avoid, done the way such a room must do it: tm decoders in turn on tm
 * talkers' packets; encoders in turn, one on the tm-voice mix (the shared
 * one) and, when tm >= 2, one per talker on the mix of the others (each
 * its own state, as each listener's decoder needs); passes of 50 frames,
 * at least the 150 of each voice once. */
static void codec_cost(uint32_t tm, double budget, double *t_dec, double *t_enc)
{
	struct codec_dec d[K];
	struct codec_enc e[K + 1];
	uint32_t n_enc = tm >= 2 ? tm + 1 : 1;
	int16_t pcm[CODEC_FRAME], mix[CODEC_FRAME];
	uint8_t pkt[OPUS_MAX];
	long frames = 0;
	double t0;
	int err = 0;

	for (uint32_t i = 0; i < tm && !err; i++)
		err = codec_dec_init(&d[i], CODEC_OPUS);
	for (uint32_t i = 0; i < n_enc && !err; i++)
		err = codec_enc_init(&e[i], &enc_cfg);
	if (err)
		die("codec", err);
	t0 = cpu_s();
	for (int pass = 0; pass < 3 || cpu_s() - t0 < budget * 0.2; pass++)
		for (int f = 50 * (pass % 3); f < 50 * (pass % 3 + 1); f++)
			for (uint32_t i = 0; i < tm; i++, frames++)
				codec_dec_decode(&d[i], talk[i].pkt[f], talk[i].len[f], pcm);
	*t_dec = (cpu_s() - t0) * 1e6 / (double)frames;
	frames = 0;
	t0 = cpu_s();
	for (int pass = 0; pass < 3 || cpu_s() - t0 < budget * 0.8; pass++)
		for (int f = 50 * (pass % 3); f < 50 * (pass % 3 + 1); f++)
			for (uint32_t i = 0; i < n_enc; i++, frames++) {
				/* i = 0: every mixed voice; i >= 1: all but voice i - 1. */
				for (int n = 0; n < CODEC_FRAME; n++) {
					int x = 0;

					for (uint32_t v = 0; v < tm; v++)
						x += v + 1 == i ? 0 : talk[v].pcm[f][n];
					mix[n] = (int16_t)(x / 2);
				}
				if (codec_enc_encode(&e[i], mix, pkt, sizeof(pkt)) <= 0)
					die("encode", EIO);
			}
	*t_enc = (cpu_s() - t0) * 1e6 / (double)frames;
	for (uint32_t i = 0; i < tm; i++)
		codec_dec_fini(&d[i]);
	for (uint32_t i = 0; i < n_enc; i++)
		codec_enc_fini(&e[i]);
}

static double codec_bound(uint32_t m, uint32_t talkers, double t_dec, double t_enc)
{
	uint32_t tm = talkers < K ? talkers : K;
	double enc = (tm >= 2 ? tm : 0) + (m > tm ? 1 : 0);

	return m * 20000.0 / (tm * t_dec + enc * t_enc);
}

static void cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];

	snprintf(buf, len, "unknown CPU");
	while (f && fgets(line, sizeof(line), f)) {
		char *v = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && v) {
			snprintf(buf, len, "%s", v + 2);
			buf[strcspn(buf, "\n")] = 0;
			break;
		}
	}
	if (f)
		fclose(f);
}

static double per_core(uint32_t m, double us)
{
	return m * 20000.0 / us;
}

static void write_json(const char *path, const char *cpu, const struct cell *c, size_t n,
                       double t_dec, double t_enc)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, "parley-room-bench: cannot write %s: %s\n", path, strerror(errno));
		exit(1);
	}
	fprintf(f,
	        "{\"cpu\":\"%s\",\"mix\":\"%s\",\"talkers_mixed\":%d,\"bitrate\":%d,"
	        "\"complexity\":%d,\"decode_us\":%.2f,\"encode_us\":%.2f,\"results\":[",
	        cpu, mix_ops_best()->name, K, enc_cfg.bitrate, enc_cfg.complexity, t_dec, t_enc);
	for (size_t i = 0; i < n; i++)
		fprintf(
		    f,
		    "%s{\"participants\":%u,\"talkers\":%u,\"share\":%.2f,"
		    "\"parley_us_per_tick\":%.1f,\"parley_per_core\":%.0f,"
		    "\"parley_decodes_per_tick\":%.2f,\"parley_encodes_per_tick\":%.2f,"
		    "\"baseline_us_per_tick\":%.1f,\"baseline_per_core\":%.0f,"
		    "\"decode_us\":%.2f,\"encode_us\":%.2f,"
		    "\"codec_bound_per_core\":%.0f,\"vs_baseline\":%.2f,\"vs_codec_bound\":%.3f}",
		    i ? "," : "", c[i].m, c[i].talkers, c[i].share, c[i].us[0],
		    per_core(c[i].m, c[i].us[0]), c[i].dec[0], c[i].enc[0], c[i].us[1],
		    per_core(c[i].m, c[i].us[1]), c[i].t_dec, c[i].t_enc, c[i].bound,
		    c[i].us[1] / c[i].us[0], per_core(c[i].m, c[i].us[0]) / c[i].bound);
	fprintf(f, "]}\n");
	fclose(f);
}

int main(int argc, char **argv)
{
	const char *json = NULL;
	double seconds = 20;
	int complexity = -1;
	static struct cell cells[N_SIZES * N_SHARES];
	double t_dec = INFINITY, t_enc = INFINITY, slot;
	size_t n = 0;
	char cpu[128];

	for (int i = 1; i < argc; i++) {
		char *end = NULL;

		if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			seconds = strtod(argv[++i], &end);
			if (*end || !(seconds >= 1 && seconds <= 600)) {
				fprintf(stderr,
				        "parley-room-bench: --seconds wants a total between 1 and "
				        "600, not \"%s\"\n",
				        argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--quick")) {
			seconds = 3;
			repeats = 2;
			least_ticks = 10;
		} else if (!strcmp(argv[i], "--complexity") && i + 1 < argc) {
			complexity = (int)strtol(argv[++i], &end, 10);
			if (*end || complexity < 0 || complexity > 10) {
				fprintf(stderr,
				        "parley-room-bench: --complexity wants 0..10, not \"%s\"\n",
				        argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--json") && i + 1 < argc) {
			json = argv[++i];
		} else {
			fprintf(stderr, "usage: parley-room-bench [--seconds TOTAL] [--quick] "
			                "[--json FILE] [--complexity 0..10]\n");
			return 2;
		}
	}
	codec_enc_config_default(&enc_cfg);
	if (complexity >= 0)
		enc_cfg.complexity = complexity;
	make_streams();
	cpu_model(cpu, sizeof(cpu));

	/* Per cell, `repeats` times: the codec costs, parley, the baseline;
	 * each the best of its runs (interference only ever slows a run).
	 * Measuring the codec beside the rooms it prices keeps the ratio
	 * honest on a machine whose speed drifts. */
	slot = seconds / (N_SIZES * N_SHARES * repeats);
	codec_cost(K, 0.3, &t_dec, &t_enc); /* warm up caches and clocks */
	t_dec = t_enc = INFINITY;
	for (size_t si = 0; si < N_SIZES; si++)
		for (size_t hi = 0; hi < N_SHARES; hi++) {
			struct cell *c = &cells[n++];

			c->m = sizes[si];
			c->share = shares[hi];
			c->talkers = (uint32_t)lrint(c->m * c->share);
			c->talkers = c->talkers ? c->talkers : 1;
			c->t_dec = c->t_enc = c->us[0] = c->us[1] = INFINITY;
			for (int rep = 0; rep < repeats; rep++) {
				double td, te;

				codec_cost(c->talkers < K ? c->talkers : K, slot * 0.2, &td, &te);
				c->t_dec = fmin(c->t_dec, td);
				c->t_enc = fmin(c->t_enc, te);
				for (int mode = 0; mode < 2; mode++) {
					double dec, enc,
					    us = run_room(c->m, c->talkers,
					                  mode ? ROOM_MODE_PER_LISTENER
					                       : ROOM_MODE_SELECT,
					                  slot * 0.4, least_ticks, &dec, &enc);

					if (us < c->us[mode]) {
						c->us[mode] = us;
						c->dec[mode] = dec;
						c->enc[mode] = enc;
					}
				}
			}
			c->bound = codec_bound(c->m, c->talkers, c->t_dec, c->t_enc);
			t_dec = fmin(t_dec, c->t_dec);
			t_enc = fmin(t_enc, c->t_enc);
		}

	printf("%s; mix kernels: %s; Opus %d kb/s complexity %d, FEC on; K = %d.\n"
	       "Opus per 20 ms frame (CPU, least measured beside any cell): decode %.1f us, "
	       "encode %.1f us.\nTargets: parley >= 3x baseline, >= 0.8x codec-bound.\n\n",
	       cpu, mix_ops_best()->name, enc_cfg.bitrate / 1000, enc_cfg.complexity, K, t_dec,
	       t_enc);
	printf("| participants | talking | parley us/tick | parley dec+enc/tick | parley "
	       "participants/core | baseline us/tick | baseline participants/core | Opus us "
	       "dec/enc | codec-bound participants/core | parley / baseline | parley / "
	       "codec-bound |\n"
	       "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
	for (size_t i = 0; i < n; i++) {
		const struct cell *c = &cells[i];
		double pc = per_core(c->m, c->us[0]);

		printf(
		    "| %u | %u (%.0f%%) | %.0f | %.1f + %.1f | %.0f | %.0f | %.0f | %.1f / %.0f | "
		    "%.0f | %.2fx | %.2fx |\n",
		    c->m, c->talkers, c->share * 100, c->us[0], c->dec[0], c->enc[0], pc, c->us[1],
		    per_core(c->m, c->us[1]), c->t_dec, c->t_enc, c->bound, c->us[1] / c->us[0],
		    pc / c->bound);
	}
	if (json)
		write_json(json, cpu, cells, n, t_dec, t_enc);
	return 0;
}

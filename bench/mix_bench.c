/* parley-mix-bench: throughput of the mixer's kernels, every instruction
 * set this CPU runs against the scalar table, in one run.
 *
 *   parley-mix-bench [--seconds TOTAL] [--json FILE]
 *
 * Each kernel processes 960-sample frames (20 ms at 48 kHz) from buffers
 * that stay in L1, so this measures compute, not memory. "scalar" is
 * mixer/mix_scalar.c, built with -fno-tree-vectorize: a plain C loop, one
 * sample at a time, not what GCC's auto-vectoriser makes of it. Each cell
 * is the best of three timed runs (the machine may be shared). The room
 * row is one whole tick for 3 talkers: 3 contributions, total, 3 N-1
 * mixes and 4 limiters, counted as 960 samples per tick.
 *
 * Prints a Markdown table of Msamples/s and the ratio to scalar, and with
 * --json FILE the same numbers. Reports; asserts nothing. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mixer/limiter.h"
#include "mixer/mix.h"

#define N        MIX_FRAME
#define TALKERS  3
#define MAX_ISAS 8
#define REPEATS  3  /* timed runs per cell, best kept */
#define BATCH    64 /* calls between clock reads */

enum kernel { K_GAIN, K_RAMP, K_ADD, K_SUB, K_TO_F32, K_TO_S16, K_LIMITER, K_ROOM, N_KERNELS };

static const char *const kernel_names[N_KERNELS] = {
	[K_GAIN] = "contribution: int16 * Q14 -> int32",
	[K_RAMP] = "contribution with gain ramp",
	[K_ADD] = "total: int32 += int32",
	[K_SUB] = "N-1: total - own",
	[K_TO_F32] = "int16 -> float",
	[K_TO_S16] = "float -> int16 (saturating)",
	[K_LIMITER] = "limiter: int32 -> int16, limiting",
	[K_ROOM] = "room tick, 3 talkers (per mix sample)",
};

/* Inputs and outputs, all in L1 together (about 50 KiB). */
static int16_t talk[TALKERS][N], out16[TALKERS + 1][N];
static int32_t contrib[TALKERS][N], total[N], own[N], loud[N];
static float f32[N];

static volatile int64_t sink; /* results are read, so no call is dead */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void room_tick(const struct mix_ops *k, struct limiter *lim)
{
	for (int t = 0; t < TALKERS; t++)
		k->gain_s16(contrib[t], talk[t], MIX_GAIN_ONE + 4000 * t, N);
	memcpy(total, contrib[0], sizeof(total));
	for (int t = 1; t < TALKERS; t++)
		k->add_s32(total, contrib[t], N);
	limiter_process(&lim[TALKERS], out16[TALKERS], total, N);
	for (int t = 0; t < TALKERS; t++) {
		k->sub_s32(own, total, contrib[t], N);
		limiter_process(&lim[t], out16[t], own, N);
	}
}

/* One call of kernel kn on table k: the unit being timed. */
static void call(enum kernel kn, const struct mix_ops *k, struct limiter *lim)
{
	switch (kn) {
	case K_GAIN:
		k->gain_s16(contrib[0], talk[0], 20000, N);
		break;
	case K_RAMP:
		k->ramp_s16(contrib[1], talk[1], 0, MIX_GAIN_ONE, N);
		break;
	case K_ADD:
		k->add_s32(total, contrib[2], N);
		break;
	case K_SUB:
		k->sub_s32(own, total, contrib[2], N);
		break;
	case K_TO_F32:
		k->gain_f32(f32, talk[2], 1.0f, N);
		break;
	case K_TO_S16:
		k->to_s16_f32(out16[0], f32, N);
		break;
	case K_LIMITER:
		/* A 3-talker total well past full scale: the gain is working. */
		limiter_process(&lim[0], out16[1], loud, N);
		break;
	case K_ROOM:
		room_tick(k, lim);
		break;
	case N_KERNELS:
		break;
	}
}

static void fill(void)
{
	for (int i = 0; i < N; i++) {
		for (int t = 0; t < TALKERS; t++)
			talk[t][i] =
			    (int16_t)lrint(30000 * sin(2 * M_PI * (300 + 211 * t) * i / 48000.0) +
			                   (rand() % 2001 - 1000) * (t == 2));
		f32[i] = talk[0][i] / 32768.0f;
	}
	for (int t = 0; t < TALKERS; t++)
		mix_ops_best()->gain_s16(contrib[t], talk[t], MIX_GAIN_ONE, N);
	memcpy(loud, contrib[0], sizeof(loud));
	mix_ops_best()->add_s32(loud, contrib[1], N);
	mix_ops_best()->add_s32(loud, contrib[2], N);
}

/* Samples per second of kernel kn on k, best of REPEATS runs of about
 * seconds / REPEATS each. */
static double measure(enum kernel kn, const struct mix_ops *k, double seconds)
{
	struct limiter lim[TALKERS + 1];
	double best = 0;

	for (int t = 0; t <= TALKERS; t++)
		if (limiter_init(&lim[t], k, 48000, LIMITER_FULL_SCALE, LIMITER_RELEASE_MS)) {
			fprintf(stderr, "parley-mix-bench: limiter_init failed\n");
			exit(1);
		}
	for (int w = 0; w < BATCH; w++) /* warm caches, branch predictors, clocks */
		call(kn, k, lim);
	for (int r = 0; r < REPEATS; r++) {
		double t0 = now_s(), t1;
		uint64_t calls = 0;

		do {
			for (int b = 0; b < BATCH; b++)
				call(kn, k, lim);
			calls += BATCH;
			t1 = now_s();
		} while (t1 - t0 < seconds / REPEATS);
		best = fmax(best, (double)calls * N / (t1 - t0));
	}
	sink += (int64_t)contrib[0][7] + contrib[1][N - 1] + total[3] + own[5] + out16[0][9] +
	        out16[1][1] + out16[TALKERS][N - 2] + (int64_t)f32[11];
	return best;
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

int main(int argc, char **argv)
{
	const char *json = NULL;
	double seconds = 3.0;
	const struct mix_ops *isas[MAX_ISAS];
	static double rate[N_KERNELS][MAX_ISAS];
	char cpu[128];
	size_t n_isas;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			char *end;

			seconds = strtod(argv[++i], &end);
			if (*end || !(seconds >= 0.01 && seconds <= 600)) {
				fprintf(
				    stderr,
				    "parley-mix-bench: --seconds wants a total between 0.01 and "
				    "600, not \"%s\"\n",
				    argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--json") && i + 1 < argc) {
			json = argv[++i];
		} else {
			fprintf(stderr,
			        "usage: parley-mix-bench [--seconds TOTAL] [--json FILE]\n");
			return 2;
		}
	}
	n_isas = mix_ops_list(isas, MAX_ISAS);
	if (n_isas > MAX_ISAS)
		n_isas = MAX_ISAS;
	fill();
	cpu_model(cpu, sizeof(cpu));
	for (int kn = 0; kn < N_KERNELS; kn++)
		for (size_t a = 0; a < n_isas; a++)
			rate[kn][a] = measure(kn, isas[a], seconds / (N_KERNELS * (double)n_isas));

	printf("%s; tables: ", cpu);
	for (size_t a = 0; a < n_isas; a++)
		printf("%s%s", a ? ", " : "", isas[a]->name);
	printf("; best: %s. Msamples/s (x scalar), %d-sample frames.\n\n| kernel |",
	       mix_ops_best()->name, N);
	for (size_t a = 0; a < n_isas; a++)
		printf(" %s |", isas[a]->name);
	printf("\n| --- |");
	for (size_t a = 0; a < n_isas; a++)
		printf(" ---: |");
	printf("\n");
	for (int kn = 0; kn < N_KERNELS; kn++) {
		printf("| %s |", kernel_names[kn]);
		for (size_t a = 0; a < n_isas; a++)
			printf(" %.0f (%.1fx) |", rate[kn][a] / 1e6, rate[kn][a] / rate[kn][0]);
		printf("\n");
	}
	if (json) {
		FILE *f = fopen(json, "w");

		if (!f) {
			fprintf(stderr, "parley-mix-bench: cannot write %s: %s\n", json,
			        strerror(errno));
			return 1;
		}
		fprintf(f, "{\"cpu\":\"%s\",\"frame\":%d,\"best\":\"%s\",\"results\":[", cpu, N,
		        mix_ops_best()->name);
		for (int kn = 0; kn < N_KERNELS; kn++)
			for (size_t a = 0; a < n_isas; a++)
				fprintf(
				    f,
				    "%s{\"kernel\":\"%s\",\"isa\":\"%s\",\"samples_per_s\":%.0f,"
				    "\"vs_scalar\":%.3f}",
				    kn || a ? "," : "", kernel_names[kn], isas[a]->name,
				    rate[kn][a], rate[kn][a] / rate[kn][0]);
		fprintf(f, "]}\n");
		fclose(f);
	}
	return 0;
}

/* Unit tests for mixer/limiter. The limiter takes its kernels as an ops
 * table, so the tests hand it one whose limit_* records every block's
 * gain line (g0, step) and the largest |x * gain| before the kernel
 * saturates: the gain trajectory is checked directly, and "no sample
 * beyond full scale" is checked before saturation could hide a clip. */
#include <criterion/criterion.h>

#include <errno.h>
#include <math.h>
#include <string.h>

#include "mixer/limiter.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define RATE         48000
#define EPS          1e-5f /* float rounding in the gain line, generously */

struct seg {
	float first, last; /* gain of the block's first and last sample */
	float step;        /* per-sample change */
	size_t n;
	bool call_start; /* first block of a limiter_process call */
};

static const struct mix_ops *real;
static struct mix_ops rec;
static struct seg segs[1 << 16];
static size_t n_segs;
static bool call_start;
static double worst; /* max |x * gain| seen, int16 units, before saturation */

static void record(float g0, float step, size_t n)
{
	cr_assert_lt(n_segs, ARRAY_LEN(segs));
	segs[n_segs++] = (struct seg){.first = g0,
	                              .last = g0 + (float)(n - 1) * step,
	                              .step = step,
	                              .n = n,
	                              .call_start = call_start};
	call_start = false;
}

static void rec_limit_s32(int16_t *out, const int32_t *in, float g0, float step, size_t n)
{
	record(g0, step, n);
	for (size_t i = 0; i < n; i++) {
		double v = fabs((double)in[i] * (g0 + (float)i * step));

		worst = v > worst ? v : worst;
	}
	real->limit_s32(out, in, g0, step, n);
}

static void rec_limit_f32(int16_t *out, const float *in, float g0, float step, size_t n)
{
	record(g0 / 32768, step / 32768, n);
	for (size_t i = 0; i < n; i++) {
		double v = fabs((double)in[i] * (g0 + (float)i * step));

		worst = v > worst ? v : worst;
	}
	real->limit_f32(out, in, g0, step, n);
}

static void use(const struct mix_ops *ops)
{
	real = ops;
	rec = *ops;
	rec.limit_s32 = rec_limit_s32;
	rec.limit_f32 = rec_limit_f32;
	n_segs = 0;
	worst = 0;
}

static void run(struct limiter *l, int16_t *out, const int32_t *in, size_t n)
{
	call_start = true;
	limiter_process(l, out, in, n);
}

/* A loud mix: five talkers, full-scale tones and a square wave, at gains
 * up to +6 dB, summed with the kernels, switching on in turn (onsets
 * mid-frame and on frame boundaries) and going quiet for a while. */
static void loud_mix(const struct mix_ops *k, int32_t *total, size_t len)
{
	static const double freq[] = {220, 997, 1500, 3100, 60};
	static int16_t x[MIX_FRAME];
	static int32_t c[MIX_FRAME];

	for (size_t f0 = 0; f0 < len; f0 += MIX_FRAME) {
		memset(total + f0, 0, MIX_FRAME * sizeof(*total));
		for (size_t t = 0; t < ARRAY_LEN(freq); t++) {
			size_t on = t * 7 * MIX_FRAME / 2 + t * 100, off = on + 40 * MIX_FRAME;

			for (size_t i = 0; i < MIX_FRAME; i++) {
				size_t s = f0 + i;
				double ph = 2 * M_PI * freq[t] * (double)s / RATE;

				x[i] = (s < on || s >= off) ? 0
				       : t == 4             ? (sin(ph) >= 0 ? 32767 : -32768)
				                            : (int16_t)lrint(32767 * sin(ph));
			}
			k->gain_s16(c, x, t & 1 ? MIX_GAIN_MAX : MIX_GAIN_ONE, MIX_FRAME);
			k->add_s32(total + f0, c, MIX_FRAME);
		}
	}
}

Test(limiter, init_rejects_nonsense)
{
	struct limiter l;
	const struct mix_ops *k = mix_ops_best();

	cr_assert_eq(limiter_init(&l, k, RATE, LIMITER_FULL_SCALE, LIMITER_RELEASE_MS), 0);
	cr_assert_eq(l.block, 48);
	cr_assert_eq(limiter_gain(&l), 1.0f);
	cr_assert_eq(limiter_init(NULL, k, RATE, 30000, 50), -EINVAL);
	cr_assert_eq(limiter_init(&l, NULL, RATE, 30000, 50), -EINVAL);
	cr_assert_eq(limiter_init(&l, k, 100, 30000, 50), -EINVAL);
	cr_assert_eq(limiter_init(&l, k, RATE, 0, 50), -EINVAL);
	cr_assert_eq(limiter_init(&l, k, RATE, 40000, 50), -EINVAL);
	cr_assert_eq(limiter_init(&l, k, RATE, NAN, 50), -EINVAL);
	cr_assert_eq(limiter_init(&l, k, RATE, 30000, 0), -EINVAL);
	cr_assert_eq(limiter_init(&l, k, RATE, 30000, INFINITY), -EINVAL);
}

/* Never past the threshold, for every table, and every table alike. */
Test(limiter, loud_sum_never_exceeds_full_scale)
{
	enum { LEN = 300 * MIX_FRAME };
	static int32_t total[LEN];
	static int16_t out[LEN], first[LEN];
	static const float thresholds[] = {LIMITER_FULL_SCALE, 30000.0f};
	const struct mix_ops *isas[8];
	size_t n_isas = mix_ops_list(isas, ARRAY_LEN(isas));

	for (size_t a = 0; a < n_isas; a++) {
		loud_mix(isas[a], total, LEN);
		for (size_t t = 0; t < ARRAY_LEN(thresholds); t++) {
			struct limiter l;
			float thr = thresholds[t];
			int32_t peak = 0;

			use(isas[a]);
			cr_assert_eq(limiter_init(&l, &rec, RATE, thr, LIMITER_RELEASE_MS), 0);
			for (size_t f = 0; f < LEN; f += MIX_FRAME)
				run(&l, out + f, total + f, MIX_FRAME);
			for (size_t i = 0; i < LEN; i++)
				peak = abs(out[i]) > peak ? abs(out[i]) : peak;
			cr_assert_leq(worst, thr + 0.5, "%s: %.3f before saturation", isas[a]->name,
			              worst);
			cr_assert_leq(peak, (int32_t)thr, "%s: output peak %d", isas[a]->name,
			              peak);
			cr_assert_geq(peak, (int32_t)thr - 1, "%s: limits too hard", isas[a]->name);
			if (t == 0 && a == 0)
				memcpy(first, out, sizeof(out));
			else if (t == 0)
				cr_assert(!memcmp(first, out, sizeof(out)),
				          "%s differs from scalar", isas[a]->name);
		}
	}
}

/* The gain line: continuous within a call (no step larger than a block's
 * ramp, at most 1/48 per sample), rising no faster than the release, and
 * never dipping lower than the loudest of this and the next block need. */
Test(limiter, gain_change_bounded)
{
	enum { LEN = 300 * MIX_FRAME };
	static int32_t total[LEN];
	static int16_t out[LEN];
	struct limiter l;
	size_t lowest_ok = 0;

	use(mix_ops_best());
	loud_mix(real, total, LEN);
	cr_assert_eq(limiter_init(&l, &rec, RATE, LIMITER_FULL_SCALE, LIMITER_RELEASE_MS), 0);
	for (size_t f = 0; f < LEN; f += MIX_FRAME)
		run(&l, out + f, total + f, MIX_FRAME);
	cr_assert_eq(n_segs, LEN / 48);
	for (size_t b = 0; b < n_segs; b++) {
		const struct seg *s = &segs[b];
		float need = 1, prev = b ? segs[b - 1].last : 1;

		cr_assert_leq(fabsf(s->step), 1.0f / 48 + EPS, "block %zu: %g per sample", b,
		              s->step);
		cr_assert_leq(s->last, 1.0f + EPS);
		if (!s->call_start)
			cr_assert_leq(fabsf(s->first - prev), fabsf(s->step) + EPS,
			              "block %zu: gain jumps %g -> %g", b, prev, s->first);
		/* Rising: at most a * (1 - g) per block. */
		if (s->last > prev)
			cr_assert_leq(s->last - prev, l.release * (1 - prev) + EPS,
			              "block %zu: release %g -> %g", b, prev, s->last);
		/* Falling: only as far as this or the next block needs. */
		for (size_t nb = b; nb <= b + 1 && nb < n_segs && (nb == b || !segs[nb].call_start);
		     nb++) {
			uint32_t p = real->peak_s32(total + nb * 48, 48);

			need = p > 32767 ? fminf(need, 32767.0f / (float)p) : need;
		}
		if (s->last < prev) {
			cr_assert_geq(s->last, need * (1 - EPS), "block %zu: dips to %g, need %g",
			              b, s->last, need);
			lowest_ok++;
		}
	}
	cr_assert_gt(lowest_ok, 100, "the signal was not loud enough to test anything");
}

/* A mix within full scale passes unchanged at gain 1, also once the gain
 * has come back from limiting something loud. */
Test(limiter, quiet_passes_bit_exact)
{
	enum { LEN = 100 * MIX_FRAME };
	static int32_t in[LEN], loud[LEN], silence[LEN];
	static int16_t out[LEN];
	struct limiter l;

	use(mix_ops_best());
	for (size_t i = 0; i < LEN; i++) {
		in[i] = (int32_t)(i * 2654435761u % 65535) - 32767;
		loud[i] = 4 * in[i];
	}
	cr_assert_eq(limiter_init(&l, &rec, RATE, LIMITER_FULL_SCALE, LIMITER_RELEASE_MS), 0);
	for (int round = 0; round < 2; round++) {
		for (size_t f = 0; f < LEN; f += MIX_FRAME)
			run(&l, out + f, in + f, MIX_FRAME);
		for (size_t i = 0; i < LEN; i++)
			cr_assert_eq(out[i], in[i], "round %d sample %zu", round, i);
		cr_assert_eq(limiter_gain(&l), 1.0f);
		/* A loud second, then 2 s (40 time constants) of release. */
		for (size_t f = 0; f < LEN / 2; f += MIX_FRAME)
			run(&l, out, loud + f, MIX_FRAME);
		cr_assert_lt(limiter_gain(&l), 0.3f);
		for (size_t f = 0; f < LEN; f += MIX_FRAME)
			run(&l, out + f, silence + f, MIX_FRAME);
	}
}

/* After a burst the gain rises monotonically along the exponential and the
 * output has no jumps beyond what the tone itself makes. */
Test(limiter, release_smooth_after_burst)
{
	enum { BURST = 10 * MIX_FRAME, LEN = 60 * MIX_FRAME };
	static int32_t in[LEN];
	static int16_t out[LEN];
	const double amp = 8000, f = 440;
	struct limiter l;
	float prev = 0;

	for (size_t i = 0; i < LEN; i++)
		in[i] =
		    (int32_t)lrint((i < BURST ? 4 * 32767 : amp) * sin(2 * M_PI * f * i / RATE));
	use(mix_ops_best());
	cr_assert_eq(limiter_init(&l, &rec, RATE, LIMITER_FULL_SCALE, LIMITER_RELEASE_MS), 0);
	for (size_t p = 0; p < LEN; p += MIX_FRAME)
		run(&l, out + p, in + p, MIX_FRAME);
	for (size_t b = BURST / 48; b < n_segs; b++) {
		cr_assert_geq(segs[b].step, 0.0f, "block %zu falls", b);
		cr_assert_geq(segs[b].first, prev - EPS, "block %zu falls", b);
		prev = segs[b].last;
	}
	/* 50 ms after the burst, one time constant: 1 - (1 - g) / e. */
	float g0 = segs[BURST / 48 - 1].last, g50 = segs[BURST / 48 + 49].last;

	cr_assert_float_eq(g50, 1 - (1 - g0) * expf(-1), 0.01f, "%g -> %g", g0, g50);
	cr_assert_eq(limiter_gain(&l), 1.0f, "back to unity after 20 time constants");
	/* Sample to sample the tone moves at most amp * 2 pi f / rate; the
	 * gain adds amp * (its per-sample step); rounding in and out 2. */
	double tone_step = amp * 2 * M_PI * f / RATE, gain_step = 0;

	for (size_t b = BURST / 48; b < n_segs; b++)
		gain_step = fmax(gain_step, segs[b].step);
	for (size_t i = BURST + 1; i < LEN; i++)
		cr_assert_leq(abs(out[i] - out[i - 1]), tone_step + amp * gain_step + 2.0,
		              "jump at %zu: %d -> %d", i, out[i - 1], out[i]);
}

/* Calls carry the gain across: for a steady loud tone the gain at a call
 * boundary moves no more than one block's release (limiter.h), and the
 * output is no less smooth there than inside a call. Odd call sizes too. */
Test(limiter, no_clicks_across_calls)
{
	enum { LEN = 100 * MIX_FRAME };
	static int32_t in[LEN];
	static int16_t out[LEN];
	static const size_t calls[] = {MIX_FRAME, 480, 961, 37};
	static bool boundary[LEN];

	for (size_t i = 0; i < LEN; i++)
		in[i] = (int32_t)lrint(3 * 32767 * sin(2 * M_PI * 997 * i / RATE));
	for (size_t c = 0; c < ARRAY_LEN(calls); c++) {
		struct limiter l;
		int inside = 0, across = 0;
		size_t settle = 0;

		use(mix_ops_best());
		memset(boundary, 0, sizeof(boundary));
		cr_assert_eq(limiter_init(&l, &rec, RATE, LIMITER_FULL_SCALE, LIMITER_RELEASE_MS),
		             0);
		for (size_t p = 0; p < LEN; p += calls[c]) {
			size_t n = LEN - p < calls[c] ? LEN - p : calls[c];

			run(&l, out + p, in + p, n);
			boundary[p] = true;
			if (p + n <= 4800)
				settle = n_segs; /* the first 100 ms settle the gain */
		}
		for (size_t b = settle + 1; b < n_segs; b++)
			if (segs[b].call_start)
				cr_assert_leq(fabsf(segs[b].first - segs[b - 1].last),
				              l.release + EPS, "calls of %zu: gain %g -> %g",
				              calls[c], segs[b - 1].last, segs[b].first);
		for (size_t i = 4801; i < LEN; i++) {
			int d = abs(out[i] - out[i - 1]);

			if (boundary[i])
				across = d > across ? d : across;
			else
				inside = d > inside ? d : inside;
		}
		cr_assert_leq(across, inside, "calls of %zu", calls[c]);
		cr_assert_leq(worst, 32767.5);
	}
}

/* The float path is the same limiter: on a mix that float represents
 * exactly it gives the same samples as the int path. */
Test(limiter, f32_path_matches_int_path)
{
	enum { LEN = 50 * MIX_FRAME };
	static int32_t total[LEN];
	static float ftotal[LEN];
	static int16_t a[LEN], b[LEN];
	struct limiter li, lf;
	const struct mix_ops *k = mix_ops_best();

	loud_mix(k, total, LEN);
	for (size_t i = 0; i < LEN; i++)
		ftotal[i] = (float)total[i] / 32768;
	cr_assert_eq(limiter_init(&li, k, RATE, 30000, LIMITER_RELEASE_MS), 0);
	cr_assert_eq(limiter_init(&lf, k, RATE, 30000, LIMITER_RELEASE_MS), 0);
	for (size_t p = 0; p < LEN; p += MIX_FRAME) {
		limiter_process(&li, a + p, total + p, MIX_FRAME);
		limiter_process_f32(&lf, b + p, ftotal + p, MIX_FRAME);
	}
	cr_assert(!memcmp(a, b, sizeof(a)));
	cr_assert_eq(limiter_gain(&li), limiter_gain(&lf));
}

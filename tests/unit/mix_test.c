/* Unit tests for mixer/mix: every kernel table the CPU runs against the
 * scalar one (bit-exact, odd lengths, unaligned, extreme values), the
 * scalar one against the formulas in mix.h, N-1 exactness, the gain ramp,
 * int16 <-> float, and SNR against a double-precision mix. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mixer/mix.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CANARY       0x5a
#define PAD          64 /* bytes past n that must stay untouched */

/* Lengths around every vector width (4, 8, 16, 32) and the frame. */
static const size_t lens[] = {0, 1, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 65, 960, 961};

static const struct mix_ops *isas[8];
static size_t n_isas;
static const struct mix_ops *ref; /* scalar */

static void setup(void)
{
	n_isas = mix_ops_list(isas, ARRAY_LEN(isas));
	ref = mix_ops_get("scalar");
	cr_assert_not_null(ref);
}

/* splitmix64: a fixed seed, so a failure reproduces. */
static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* Mostly uniform, one in eight a rail, where the edge cases live. */
static int16_t rnd16(void)
{
	uint64_t r = rnd();

	if ((r & 7) == 0)
		return (r & 8) ? INT16_MAX : INT16_MIN;
	return (int16_t)(r >> 16);
}

static float rndf(float lo, float hi)
{
	return lo + (hi - lo) * (float)(rnd() >> 40) / (float)(1 << 24);
}

/* An input of exactly n elements (ASan sees any over-read), starting one
 * element past malloc's alignment half the time. */
static void *input(size_t n, size_t size, bool misalign)
{
	char *p = malloc((n + 1) * size);

	cr_assert_not_null(p);
	return misalign ? p + size : p;
}

static void *output(size_t n, size_t size)
{
	char *p = malloc(n * size + PAD);

	cr_assert_not_null(p);
	memset(p, CANARY, n * size + PAD);
	return p;
}

static void release(void *p, size_t size, bool misalign)
{
	free((char *)p - (misalign ? size : 0));
}

static void assert_canary(const void *p, size_t bytes, const char *what, size_t n)
{
	for (size_t i = 0; i < PAD; i++)
		cr_assert_eq(((const uint8_t *)p)[bytes + i], CANARY, "%s n=%zu wrote past n", what,
		             n);
}

/* Runs one call on the ISA and on scalar into fresh outputs and compares
 * the bytes; out_size is the element size of the output. */
#define SAME_AS_SCALAR(ops, what, n, out_size, call)                                               \
	do {                                                                                       \
		void *o_ = output(n, out_size), *r_ = output(n, out_size);                         \
		{                                                                                  \
			void *out = o_;                                                            \
			const struct mix_ops *k = ops;                                             \
			call;                                                                      \
			out = r_;                                                                  \
			k = ref;                                                                   \
			call;                                                                      \
		}                                                                                  \
		cr_assert(!memcmp(o_, r_, (n) * (out_size)), "%s: %s differs from scalar, n=%zu",  \
		          (ops)->name, what, (size_t)(n));                                         \
		assert_canary(o_, (n) * (out_size), what, n);                                      \
		free(o_);                                                                          \
		free(r_);                                                                          \
	} while (0)

TestSuite(mix, .init = setup);

Test(mix, tables)
{
	const struct mix_ops *best = mix_ops_best();

	cr_assert_geq(n_isas, 1);
	cr_assert_eq(isas[0], ref, "scalar comes first");
	cr_assert_eq(best, isas[n_isas - 1], "best is the last the CPU runs");
	cr_assert_eq(mix_ops_best(), best, "chosen once");
	cr_assert_null(mix_ops_get("mmx"));
	for (size_t i = 0; i < n_isas; i++) {
		cr_log_info("mix: testing %s", isas[i]->name);
		cr_assert_eq(mix_ops_get(isas[i]->name), isas[i]);
		for (const void *const *f = (const void *const *)&isas[i]->gain_s16;
		     f <= (const void *const *)&isas[i]->limit_f32; f++)
			cr_assert_not_null(*f, "%s has a hole", isas[i]->name);
	}
}

/* The scalar table is the definition; check it against mix.h's formulas. */
Test(mix, scalar_matches_contract)
{
	static int16_t x[65536];
	static int32_t out[65536];
	static float f[65536];
	size_t bad = 0;

	for (size_t i = 0; i < 65536; i++)
		x[i] = (int16_t)(i - 32768);
	/* Per-element cr_assert costs microseconds: count, then assert once. */
	ref->gain_s16(out, x, MIX_GAIN_ONE, 65536);
	for (size_t i = 0; i < 65536; i++)
		bad += out[i] != x[i];
	cr_assert_eq(bad, 0, "unity gain is the plain widen");
	for (int32_t g = 0; g <= MIX_GAIN_MAX; g += 4681) {
		ref->gain_s16(out, x, (int16_t)g, 65536);
		for (size_t i = 0; i < 65536; i++)
			bad += out[i] != (int32_t)(((int64_t)x[i] * g + 8192) >> 14);
		cr_assert_eq(bad, 0, "gain %d", g);
	}
	ref->gain_s16(out, x, MIX_GAIN_MAX, 1);
	cr_assert_eq(out[0], -65534, "-32768 at max gain");
	cr_assert_eq(ref->peak_s32((int32_t[]){5, INT32_MIN, -7}, 3), 0x80000000u);
	cr_assert_eq(ref->peak_s32((int32_t[]){5, INT32_MAX, -7}, 3), (uint32_t)INT32_MAX);
	cr_assert_eq(ref->peak_s32(out, 0), 0);
	ref->gain_f32(f, x, 1.0f, 65536);
	for (size_t i = 0; i < 65536; i++)
		bad += f[i] != (float)x[i] / 32768.0f;
	cr_assert_eq(bad, 0, "int16 -> float is x / 32768");
}

Test(mix, s16_kernels_match_scalar)
{
	static const int16_t gains[] = {0, 1, 8191, MIX_GAIN_ONE, 20000, MIX_GAIN_MAX};
	static const int16_t ramps[][2] = {{0, MIX_GAIN_MAX},
	                                   {MIX_GAIN_MAX, 0},
	                                   {MIX_GAIN_ONE, MIX_GAIN_ONE},
	                                   {0, MIX_GAIN_ONE},
	                                   {12345, 321}};

	for (size_t a = 0; a < n_isas; a++) {
		for (size_t l = 0; l < ARRAY_LEN(lens); l++) {
			size_t n = lens[l];
			bool mis = l & 1;
			int16_t *x = input(n, 2, mis);

			for (size_t i = 0; i < n; i++)
				x[i] = rnd16();
			for (size_t g = 0; g < ARRAY_LEN(gains); g++)
				SAME_AS_SCALAR(isas[a], "gain_s16", n, 4,
				               k->gain_s16(out, x, gains[g], n));
			for (size_t r = 0; r < ARRAY_LEN(ramps); r++)
				SAME_AS_SCALAR(isas[a], "ramp_s16", n, 4,
				               k->ramp_s16(out, x, ramps[r][0], ramps[r][1], n));
			for (float g = 0.25f; g < 2.5f; g *= 1.7f)
				SAME_AS_SCALAR(isas[a], "gain_f32", n, 4,
				               k->gain_f32(out, x, g, n));
			release(x, 2, mis);
		}
	}
}

Test(mix, s32_kernels_match_scalar)
{
	for (size_t a = 0; a < n_isas; a++) {
		for (size_t l = 0; l < ARRAY_LEN(lens); l++) {
			size_t n = lens[l];
			bool mis = l & 1;
			int32_t *x = input(n, 4, mis), *y = input(n, 4, !mis);

			for (size_t i = 0; i < n; i++) {
				/* Wide enough to wrap in add/sub and saturate in limit. */
				x[i] = (int32_t)rnd();
				y[i] = (i % 5 == 0) ? INT32_MIN : (int32_t)rnd() >> 12;
			}
			if (n)
				x[n - 1] = INT32_MIN; /* the peak, in the tail */
			SAME_AS_SCALAR(isas[a], "add_s32", n, 4,
			               (memcpy(out, x, n * 4), k->add_s32(out, y, n)));
			SAME_AS_SCALAR(isas[a], "sub_s32", n, 4, k->sub_s32(out, x, y, n));
			cr_assert_eq(isas[a]->peak_s32(x, n), ref->peak_s32(x, n),
			             "%s peak_s32 n=%zu", isas[a]->name, n);
			cr_assert_eq(isas[a]->peak_s32(y, n), ref->peak_s32(y, n),
			             "%s peak_s32 n=%zu", isas[a]->name, n);
			for (int t = 0; t < 4; t++) {
				float g0 = rndf(0.0f, 1.2f),
				      step = rndf(-1.0f, 1.0f) / (float)(n + 1);

				SAME_AS_SCALAR(isas[a], "limit_s32", n, 2,
				               k->limit_s32(out, y, g0, step, n));
			}
			release(x, 4, mis);
			release(y, 4, !mis);
		}
	}
}

Test(mix, f32_kernels_match_scalar)
{
	for (size_t a = 0; a < n_isas; a++) {
		for (size_t l = 0; l < ARRAY_LEN(lens); l++) {
			size_t n = lens[l];
			bool mis = l & 1;
			float *x = input(n, 4, mis), *y = input(n, 4, !mis);

			for (size_t i = 0; i < n; i++) {
				x[i] = rndf(-1.5f, 1.5f);
				y[i] = rndf(-4.0f, 4.0f);
			}
			SAME_AS_SCALAR(isas[a], "add_f32", n, 4,
			               (memcpy(out, x, n * 4), k->add_f32(out, y, n)));
			SAME_AS_SCALAR(isas[a], "sub_f32", n, 4, k->sub_f32(out, x, y, n));
			for (size_t i = 0; i < n; i += 3) /* specials: only where NaN is defined */
				y[i] = (float[]){
				    NAN,          INFINITY,     -INFINITY,        -0.0f,
				    0.5f / 32768, 1.5f / 32768, 32767.5f / 32768, -1.0f}[i % 8];
			SAME_AS_SCALAR(isas[a], "to_s16_f32", n, 2, k->to_s16_f32(out, x, n));
			SAME_AS_SCALAR(isas[a], "to_s16_f32", n, 2, k->to_s16_f32(out, y, n));
			float p = isas[a]->peak_f32(y, n), q = ref->peak_f32(y, n);

			cr_assert(!memcmp(&p, &q, 4), "%s peak_f32 n=%zu: %g vs %g", isas[a]->name,
			          n, p, q);
			/* NaNs after the peak must not wipe it out (maxps's operand
			 * order), whichever lane or tail they land in. */
			for (size_t i = 0; i < n; i++)
				x[i] = (i % 7 == 3 || i + 1 == n) ? NAN : rndf(-1.0f, 1.0f);
			if (n > 2)
				x[n / 3] = -2.0f;
			p = isas[a]->peak_f32(x, n);
			cr_assert_eq(p, n > 2 ? 2.0f : ref->peak_f32(x, n),
			             "%s peak_f32 NaN n=%zu: %g", isas[a]->name, n, p);
			for (int t = 0; t < 4; t++) {
				float g0 = rndf(0.0f, 40000.0f),
				      step = rndf(-9e4f, 9e4f) / (float)(n + 1);

				SAME_AS_SCALAR(isas[a], "limit_f32", n, 2,
				               k->limit_f32(out, y, g0, step, n));
			}
			release(x, 4, mis);
			release(y, 4, !mis);
		}
	}
}

Test(mix, ramp_endpoints)
{
	static const int16_t ramps[][2] = {{0, MIX_GAIN_ONE},
	                                   {MIX_GAIN_ONE, 0},
	                                   {MIX_GAIN_MAX, 0},
	                                   {0, MIX_GAIN_MAX},
	                                   {1000, 1000}};
	static const int16_t xs[] = {20000, -32768, 32767};
	int16_t x[MIX_FRAME];
	int32_t out[MIX_FRAME], next;

	for (size_t a = 0; a < n_isas; a++)
		for (size_t r = 0; r < ARRAY_LEN(ramps); r++)
			for (size_t v = 0; v < ARRAY_LEN(xs); v++) {
				int16_t g0 = ramps[r][0], g1 = ramps[r][1];

				for (size_t i = 0; i < MIX_FRAME; i++)
					x[i] = xs[v];
				isas[a]->ramp_s16(out, x, g0, g1, MIX_FRAME);
				isas[a]->gain_s16(&next, x, g1, 1);
				/* Sample 0 at g0 exactly; sample i within half a gain step
				 * of the line through (0, g0) and (n, g1): |x| / 2^15 <= 1
				 * plus the product's rounding. */
				cr_assert_eq(out[0], ((int32_t)xs[v] * g0 + 8192) >> 14);
				double worst = 0;
				size_t turns = 0;

				for (size_t i = 0; i < MIX_FRAME; i++) {
					double g = g0 + (double)(g1 - g0) * (double)i / MIX_FRAME;
					double err = fabs(out[i] - xs[v] * g / 16384);

					worst = err > worst ? err : worst;
					if (i && ((g1 >= g0) == (xs[v] > 0) ? out[i] < out[i - 1]
					                                    : out[i] > out[i - 1]))
						turns++;
				}
				cr_assert_leq(worst, 1.5, "%s %d->%d x=%d: off the line by %g",
				              isas[a]->name, g0, g1, xs[v], worst);
				cr_assert_eq(turns, 0, "%s %d->%d x=%d: not monotonic",
				             isas[a]->name, g0, g1, xs[v]);
				/* The next frame at constant g1 continues the line. */
				cr_assert_leq(abs(next - out[MIX_FRAME - 1]),
				              abs(xs[v] * (g1 - g0) / MIX_FRAME / 16384) + 2);
			}
}

/* Each talker's own mix, total - own, equals the sum of the others
 * computed directly, to the bit, for every table and N = 2..8. */
Test(mix, n_minus_one_exact)
{
	enum { MAXN = 8, LEN = MIX_FRAME + 7 };
	static int16_t x[MAXN][LEN];
	static int32_t c[MAXN][LEN], total[LEN], own[LEN], direct[LEN], tmp[LEN];
	int16_t g0[MAXN], g1[MAXN];

	for (size_t a = 0; a < n_isas; a++) {
		const struct mix_ops *k = isas[a];

		for (int n = 2; n <= MAXN; n++) {
			for (int t = 0; t < n; t++) {
				for (size_t i = 0; i < LEN; i++)
					x[t][i] = rnd16();
				g0[t] = (int16_t)(rnd() % (MIX_GAIN_MAX + 1));
				g1[t] = (t & 1) ? (int16_t)(rnd() % (MIX_GAIN_MAX + 1)) : g0[t];
				if (g0[t] == g1[t])
					k->gain_s16(c[t], x[t], g0[t], LEN);
				else
					k->ramp_s16(c[t], x[t], g0[t], g1[t], LEN);
			}
			memcpy(total, c[0], sizeof(total));
			for (int t = 1; t < n; t++)
				k->add_s32(total, c[t], LEN);
			for (int t = 0; t < n; t++) {
				k->sub_s32(own, total, c[t], LEN);
				/* Directly: the others' contributions from scratch, by
				 * the scalar table (a ramp from g to g is gain_s16 at g,
				 * as mix.h promises), summed in 64 bits. */
				memset(direct, 0, sizeof(direct));
				for (int o = 0; o < n; o++) {
					if (o == t)
						continue;
					ref->ramp_s16(tmp, x[o], g0[o], g1[o], LEN);
					for (size_t i = 0; i < LEN; i++)
						direct[i] = (int32_t)((int64_t)direct[i] + tmp[i]);
				}
				cr_assert(!memcmp(own, direct, sizeof(own)), "%s N=%d talker %d",
				          k->name, n, t);
			}
		}
	}
}

Test(mix, f32_round_trip)
{
	static int16_t x[65536], back[65536];
	static float f[65536];
	static const struct {
		float in;
		int16_t out;
	} sat[] = {
	    {1.5f, 32767},     {-1.5f, -32768},     {1.0f, 32767},       {-1.0f, -32768},
	    {INFINITY, 32767}, {-INFINITY, -32768}, {NAN, -32768},       {1e30f, 32767},
	    {0.5f / 32768, 0}, {1.5f / 32768, 2},   {-2.5f / 32768, -2}, {-0.0f, 0},
	};

	for (size_t i = 0; i < 65536; i++)
		x[i] = (int16_t)(i - 32768);
	for (size_t a = 0; a < n_isas; a++) {
		isas[a]->gain_f32(f, x, 1.0f, 65536);
		isas[a]->to_s16_f32(back, f, 65536);
		cr_assert(!memcmp(x, back, sizeof(x)), "%s: int16 -> float -> int16",
		          isas[a]->name);
		for (size_t s = 0; s < ARRAY_LEN(sat); s++) {
			int16_t o;

			isas[a]->to_s16_f32(&o, &sat[s].in, 1);
			cr_assert_eq(o, sat[s].out, "%s: %g -> %d", isas[a]->name, sat[s].in, o);
		}
	}
}

static double snr_db(const double *want, const double *got, size_t n)
{
	double s = 0, e = 0;

	for (size_t i = 0; i < n; i++) {
		s += want[i] * want[i];
		e += (got[i] - want[i]) * (got[i] - want[i]);
	}
	return e == 0 ? INFINITY : 10 * log10(s / e);
}

/* Three talkers (tones at 440, 523.25 and 659.25 Hz, peaks 10000, 12000,
 * 8000 at gains 0.5, 0.7, 0.9: a 20600 peak, rms 8585) against the same
 * mix in double. The floors are worst-case bounds, not measurements:
 *  - int path: each contribution rounds once, |err| <= 1/2 per talker, so
 *    |err| <= 3/2 per sample and SNR >= 20 log10(8585 / 1.5) = 75.1 dB
 *    (an N-1 mix: |err| <= 1, rms >= 6000, >= 75.5 dB);
 *  - float mix before narrowing: at most 5 roundings of 2^-24 relative to
 *    values below 1 (20600 / 32768): |err| < 0.004 int16 steps, >= 126 dB;
 *    the N-1 by subtraction adds one more: >= 110 dB with margin;
 *  - float mix narrowed to int16: 1/2 step of rounding on top: >= 84.6 dB
 *    (an N-1 mix, rms >= 6198: >= 81.8 dB).
 * Each path is measured against the gains it was given: Q14 for the int
 * path (0.7 is not exact in Q14), the nearest float for the float path. */
Test(mix, snr_against_double)
{
	enum { N = 3, LEN = 10 * MIX_FRAME };
	static const double freq[N] = {440, 523.25, 659.25}, amp[N] = {10000, 12000, 8000};
	static const float lin[N] = {0.5f, 0.7f, 0.9f};
	static int16_t x[N][LEN], s16[LEN];
	static int32_t c[N][LEN], total[LEN], own[LEN];
	static float f[N][LEN], ftotal[LEN], fown[LEN];
	/* [t] is the mix without talker t, [N] the mix of all. */
	static double want_q[N + 1][LEN], want_f[N + 1][LEN], got[LEN];
	int16_t q[N];

	for (int t = 0; t < N; t++) {
		q[t] = mix_gain_q14(lin[t]);
		cr_assert_leq(fabs(q[t] / 16384.0 - lin[t]), 1.0 / 32768);
	}
	for (size_t i = 0; i < LEN; i++) {
		for (int t = 0; t < N; t++)
			x[t][i] = (int16_t)lrint(amp[t] * sin(2 * M_PI * freq[t] * i / 48000.0));
		for (int t = 0; t <= N; t++) {
			want_q[t][i] = want_f[t][i] = 0;
			for (int o = 0; o < N; o++) {
				if (o == t)
					continue;
				want_q[t][i] += x[o][i] * (q[o] / 16384.0);
				want_f[t][i] += x[o][i] * (double)lin[o];
			}
		}
	}
	for (size_t a = 0; a < n_isas; a++) {
		const struct mix_ops *k = isas[a];

		for (int t = 0; t < N; t++) {
			k->gain_s16(c[t], x[t], q[t], LEN);
			k->gain_f32(f[t], x[t], lin[t], LEN);
		}
		memcpy(total, c[0], sizeof(total));
		memcpy(ftotal, f[0], sizeof(ftotal));
		for (int t = 1; t < N; t++) {
			k->add_s32(total, c[t], LEN);
			k->add_f32(ftotal, f[t], LEN);
		}
		for (int t = 0; t <= N; t++) {
			double db_int, db_f, db_f16;

			if (t < N) {
				k->sub_s32(own, total, c[t], LEN);
				k->sub_f32(fown, ftotal, f[t], LEN);
			} else {
				memcpy(own, total, sizeof(own));
				memcpy(fown, ftotal, sizeof(fown));
			}
			for (size_t i = 0; i < LEN; i++)
				got[i] = own[i];
			db_int = snr_db(want_q[t], got, LEN);
			for (size_t i = 0; i < LEN; i++)
				got[i] = fown[i] * 32768.0;
			db_f = snr_db(want_f[t], got, LEN);
			k->to_s16_f32(s16, fown, LEN);
			for (size_t i = 0; i < LEN; i++)
				got[i] = s16[i];
			db_f16 = snr_db(want_f[t], got, LEN);
			cr_assert_geq(db_int, 75.0, "%s int mix %d: %.1f dB", k->name, t, db_int);
			cr_assert_geq(db_f, 110.0, "%s float mix %d: %.1f dB", k->name, t, db_f);
			cr_assert_geq(db_f16, t == N ? 84.5 : 81.5,
			              "%s float->int16 mix %d: %.1f dB", k->name, t, db_f16);
			cr_log_info(
			    "snr %s mix %d: int %.1f dB, float %.1f dB, float->int16 %.1f dB",
			    k->name, t, db_int, db_f, db_f16);
		}
	}
}

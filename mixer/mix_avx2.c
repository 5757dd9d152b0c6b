/* mix_avx2: kernels for AVX2, 16 samples a step (two 8-lane vectors, so
 * two independent chains keep both vector ALUs busy). Built with -mavx2
 * only, never -mfma (and -ffp-contract=off anyway): a fused multiply-add
 * would round differently from the scalar table. */
#include <immintrin.h>

#include "mixer/mix_impl.h"

/* 8 int16 sign-extended to int32 lanes, the pairs (x, sign): madd with
 * the pairs (g, 0) is the exact product x*g. */
static inline __m256i load8(const int16_t *p)
{
	return _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)p));
}

static inline __m256i round_q14(__m256i p)
{
	return _mm256_srai_epi32(_mm256_add_epi32(p, _mm256_set1_epi32(MIX_ROUND)), MIX_GAIN_SHIFT);
}

static void gain_s16_avx2(int32_t *out, const int16_t *in, int16_t gain, size_t n)
{
	__m256i g = _mm256_set1_epi32((uint16_t)gain);
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m256i p0 = _mm256_madd_epi16(load8(in + i), g);
		__m256i p1 = _mm256_madd_epi16(load8(in + i + 8), g);

		_mm256_storeu_si256((__m256i *)(out + i), round_q14(p0));
		_mm256_storeu_si256((__m256i *)(out + i + 8), round_q14(p1));
	}
	for (; i < n; i++)
		out[i] = mix_contrib(in[i], gain);
}

static void ramp_s16_avx2(int32_t *out, const int16_t *in, int16_t g0, int16_t g1, size_t n)
{
	if (n == 0)
		return;

	int32_t acc = mix_ramp_start(g0);
	int32_t d = mix_ramp_step(g0, g1, n);
	__m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	/* vpmulld wraps, so lanes past n cost nothing even for tiny n. */
	__m256i a0 = _mm256_add_epi32(_mm256_set1_epi32(acc),
	                              _mm256_mullo_epi32(iota, _mm256_set1_epi32(d)));
	__m256i a1 = _mm256_add_epi32(a0, _mm256_set1_epi32(mix_ramp_at(0, d, 8)));
	__m256i step = _mm256_set1_epi32(mix_ramp_at(0, d, 16));
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		/* The gain is the accumulator's top half: >> 16 makes (g, 0). */
		__m256i p0 = _mm256_madd_epi16(load8(in + i), _mm256_srli_epi32(a0, 16));
		__m256i p1 = _mm256_madd_epi16(load8(in + i + 8), _mm256_srli_epi32(a1, 16));

		_mm256_storeu_si256((__m256i *)(out + i), round_q14(p0));
		_mm256_storeu_si256((__m256i *)(out + i + 8), round_q14(p1));
		a0 = _mm256_add_epi32(a0, step);
		a1 = _mm256_add_epi32(a1, step);
	}
	for (acc = mix_ramp_at(acc, d, i); i < n; i++, acc += d)
		out[i] = mix_contrib(in[i], acc >> 16);
}

static void add_s32_avx2(int32_t *acc, const int32_t *in, size_t n)
{
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m256i a0 = _mm256_loadu_si256((const __m256i *)(acc + i));
		__m256i a1 = _mm256_loadu_si256((const __m256i *)(acc + i + 8));
		__m256i b0 = _mm256_loadu_si256((const __m256i *)(in + i));
		__m256i b1 = _mm256_loadu_si256((const __m256i *)(in + i + 8));

		_mm256_storeu_si256((__m256i *)(acc + i), _mm256_add_epi32(a0, b0));
		_mm256_storeu_si256((__m256i *)(acc + i + 8), _mm256_add_epi32(a1, b1));
	}
	for (; i < n; i++)
		acc[i] = mix_wrap_add(acc[i], in[i]);
}

static void sub_s32_avx2(int32_t *out, const int32_t *total, const int32_t *own, size_t n)
{
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m256i a0 = _mm256_loadu_si256((const __m256i *)(total + i));
		__m256i a1 = _mm256_loadu_si256((const __m256i *)(total + i + 8));
		__m256i b0 = _mm256_loadu_si256((const __m256i *)(own + i));
		__m256i b1 = _mm256_loadu_si256((const __m256i *)(own + i + 8));

		_mm256_storeu_si256((__m256i *)(out + i), _mm256_sub_epi32(a0, b0));
		_mm256_storeu_si256((__m256i *)(out + i + 8), _mm256_sub_epi32(a1, b1));
	}
	for (; i < n; i++)
		out[i] = mix_wrap_sub(total[i], own[i]);
}

static uint32_t peak_s32_avx2(const int32_t *in, size_t n)
{
	/* vpabsd leaves INT32_MIN as 0x80000000, which is 2^31 unsigned. */
	__m256i m0 = _mm256_setzero_si256(), m1 = _mm256_setzero_si256();
	uint32_t t[8], m = 0;
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m256i x0 = _mm256_loadu_si256((const __m256i *)(in + i));
		__m256i x1 = _mm256_loadu_si256((const __m256i *)(in + i + 8));

		m0 = _mm256_max_epu32(m0, _mm256_abs_epi32(x0));
		m1 = _mm256_max_epu32(m1, _mm256_abs_epi32(x1));
	}
	_mm256_storeu_si256((__m256i *)t, _mm256_max_epu32(m0, m1));
	for (int k = 0; k < 8; k++)
		m = t[k] > m ? t[k] : m;
	for (; i < n; i++) {
		uint32_t a = (uint32_t)(in[i] < 0 ? -(int64_t)in[i] : in[i]);

		m = a > m ? a : m;
	}
	return m;
}

/* The limiter's gain stage on 16 samples: x * (g0 + idx * step), clamped
 * as mix_sat16 clamps, rounded by cvtps2dq (nearest even), packed. */
static inline __m256i limit16(__m256 x0, __m256 x1, __m256 g0, __m256 step, __m256 idx)
{
	const __m256 lo = _mm256_set1_ps(-32768.0f), hi = _mm256_set1_ps(32767.0f);
	__m256 ga = _mm256_add_ps(g0, _mm256_mul_ps(idx, step));
	__m256 gb =
	    _mm256_add_ps(g0, _mm256_mul_ps(_mm256_add_ps(idx, _mm256_set1_ps(8.0f)), step));
	__m256 v0 = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(x0, ga), lo), hi);
	__m256 v1 = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(x1, gb), lo), hi);
	__m256i p = _mm256_packs_epi32(_mm256_cvtps_epi32(v0), _mm256_cvtps_epi32(v1));

	/* vpackssdw packs within 128-bit lanes: a0-3 b0-3 a4-7 b4-7. */
	return _mm256_permute4x64_epi64(p, _MM_SHUFFLE(3, 1, 2, 0));
}

static void limit_s32_avx2(int16_t *out, const int32_t *in, float g0, float step, size_t n)
{
	__m256 vg0 = _mm256_set1_ps(g0), vstep = _mm256_set1_ps(step);
	/* Sample indices as floats: exact below 2^24, like (float)i. */
	__m256 idx = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m256 x0 = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(in + i)));
		__m256 x1 = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(in + i + 8)));

		_mm256_storeu_si256((__m256i *)(out + i), limit16(x0, x1, vg0, vstep, idx));
		idx = _mm256_add_ps(idx, _mm256_set1_ps(16.0f));
	}
	for (; i < n; i++)
		out[i] = mix_sat16((float)in[i] * mix_limit_gain(g0, step, i));
}

static void gain_f32_avx2(float *out, const int16_t *in, float gain, size_t n)
{
	float gs = gain * (1.0f / MIX_F32_SCALE);
	__m256 g = _mm256_set1_ps(gs);
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		_mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_cvtepi32_ps(load8(in + i)), g));
		_mm256_storeu_ps(out + i + 8,
		                 _mm256_mul_ps(_mm256_cvtepi32_ps(load8(in + i + 8)), g));
	}
	for (; i < n; i++)
		out[i] = (float)in[i] * gs;
}

static void add_f32_avx2(float *acc, const float *in, size_t n)
{
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m256 a0 = _mm256_add_ps(_mm256_loadu_ps(acc + i), _mm256_loadu_ps(in + i));
		__m256 a1 =
		    _mm256_add_ps(_mm256_loadu_ps(acc + i + 8), _mm256_loadu_ps(in + i + 8));

		_mm256_storeu_ps(acc + i, a0);
		_mm256_storeu_ps(acc + i + 8, a1);
	}
	for (; i < n; i++)
		acc[i] += in[i];
}

static void sub_f32_avx2(float *out, const float *total, const float *own, size_t n)
{
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m256 a0 = _mm256_sub_ps(_mm256_loadu_ps(total + i), _mm256_loadu_ps(own + i));
		__m256 a1 =
		    _mm256_sub_ps(_mm256_loadu_ps(total + i + 8), _mm256_loadu_ps(own + i + 8));

		_mm256_storeu_ps(out + i, a0);
		_mm256_storeu_ps(out + i + 8, a1);
	}
	for (; i < n; i++)
		out[i] = total[i] - own[i];
}

static void to_s16_f32_avx2(int16_t *out, const float *in, size_t n)
{
	/* A limit16 with gain exactly 32768 everywhere: step 0 adds 0. */
	__m256 g = _mm256_set1_ps(MIX_F32_SCALE), zero = _mm256_setzero_ps();
	size_t i = 0;

	for (; i + 16 <= n; i += 16)
		_mm256_storeu_si256(
		    (__m256i *)(out + i),
		    limit16(_mm256_loadu_ps(in + i), _mm256_loadu_ps(in + i + 8), g, zero, zero));
	for (; i < n; i++)
		out[i] = mix_sat16(in[i] * MIX_F32_SCALE);
}

static float peak_f32_avx2(const float *in, size_t n)
{
	const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
	__m256 m0 = _mm256_setzero_ps(), m1 = _mm256_setzero_ps();
	float t[8], m = 0.0f;
	size_t i = 0;

	/* maxps(|x|, m): when |x| is NaN the result is m, as in the scalar. */
	for (; i + 16 <= n; i += 16) {
		m0 = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(in + i), abs), m0);
		m1 = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(in + i + 8), abs), m1);
	}
	_mm256_storeu_ps(t, _mm256_max_ps(m0, m1));
	for (int k = 0; k < 8; k++)
		m = t[k] > m ? t[k] : m;
	for (; i < n; i++) {
		float a = fabsf(in[i]);

		m = a > m ? a : m;
	}
	return m;
}

static void limit_f32_avx2(int16_t *out, const float *in, float g0, float step, size_t n)
{
	__m256 vg0 = _mm256_set1_ps(g0), vstep = _mm256_set1_ps(step);
	__m256 idx = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		_mm256_storeu_si256(
		    (__m256i *)(out + i),
		    limit16(_mm256_loadu_ps(in + i), _mm256_loadu_ps(in + i + 8), vg0, vstep, idx));
		idx = _mm256_add_ps(idx, _mm256_set1_ps(16.0f));
	}
	for (; i < n; i++)
		out[i] = mix_sat16(in[i] * mix_limit_gain(g0, step, i));
}

const struct mix_ops mix_ops_avx2 = {
	.name = "avx2",
	.gain_s16 = gain_s16_avx2,
	.ramp_s16 = ramp_s16_avx2,
	.add_s32 = add_s32_avx2,
	.sub_s32 = sub_s32_avx2,
	.peak_s32 = peak_s32_avx2,
	.limit_s32 = limit_s32_avx2,
	.gain_f32 = gain_f32_avx2,
	.add_f32 = add_f32_avx2,
	.sub_f32 = sub_f32_avx2,
	.to_s16_f32 = to_s16_f32_avx2,
	.peak_f32 = peak_f32_avx2,
	.limit_f32 = limit_f32_avx2,
};

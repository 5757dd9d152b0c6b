/* mix_sse2: kernels for SSE2, the x86-64 baseline; 8 samples a step.
 * Built with -msse2 only (mixer/meson.build). Tails go through the
 * per-sample helpers of mix_impl.h, so they are the scalar arithmetic. */
#include <emmintrin.h>

#include "mixer/mix_impl.h"

/* x * g for 4 samples: madd of the pairs (x, x) and (g, 0) is x*g + x*0,
 * an exact 32-bit product of two int16, with g free per lane. */
static inline __m128i mul_lo(__m128i x, __m128i g)
{
	return _mm_madd_epi16(_mm_unpacklo_epi16(x, x), g);
}

static inline __m128i mul_hi(__m128i x, __m128i g)
{
	return _mm_madd_epi16(_mm_unpackhi_epi16(x, x), g);
}

static inline __m128i round_q14(__m128i p)
{
	return _mm_srai_epi32(_mm_add_epi32(p, _mm_set1_epi32(MIX_ROUND)), MIX_GAIN_SHIFT);
}

static void gain_s16_sse2(int32_t *out, const int16_t *in, int16_t gain, size_t n)
{
	/* (uint16_t) makes each 32-bit lane the int16 pair (gain, 0). */
	__m128i g = _mm_set1_epi32((uint16_t)gain);
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		__m128i x = _mm_loadu_si128((const __m128i *)(in + i));

		_mm_storeu_si128((__m128i *)(out + i), round_q14(mul_lo(x, g)));
		_mm_storeu_si128((__m128i *)(out + i + 4), round_q14(mul_hi(x, g)));
	}
	for (; i < n; i++)
		out[i] = mix_contrib(in[i], gain);
}

void mix_ramp_s16_sse2(int32_t *out, const int16_t *in, int16_t g0, int16_t g1, size_t n)
{
	if (n == 0)
		return;

	int32_t acc = mix_ramp_start(g0);
	int32_t d = mix_ramp_step(g0, g1, n);
	/* Accumulators of samples i..i+3 and i+4..i+7; the gain is their top
	 * half, so a logical >> 16 leaves exactly the pair (g, 0) madd wants. */
	__m128i a0 = _mm_setr_epi32(acc, mix_ramp_at(acc, d, 1), mix_ramp_at(acc, d, 2),
	                            mix_ramp_at(acc, d, 3));
	__m128i step = _mm_set1_epi32(mix_ramp_at(0, d, 8));
	__m128i a1 = _mm_add_epi32(a0, _mm_set1_epi32(mix_ramp_at(0, d, 4)));
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		__m128i x = _mm_loadu_si128((const __m128i *)(in + i));

		_mm_storeu_si128((__m128i *)(out + i),
		                 round_q14(mul_lo(x, _mm_srli_epi32(a0, 16))));
		_mm_storeu_si128((__m128i *)(out + i + 4),
		                 round_q14(mul_hi(x, _mm_srli_epi32(a1, 16))));
		a0 = _mm_add_epi32(a0, step);
		a1 = _mm_add_epi32(a1, step);
	}
	for (acc = mix_ramp_at(acc, d, i); i < n; i++, acc += d)
		out[i] = mix_contrib(in[i], acc >> 16);
}

void mix_add_s32_sse2(int32_t *acc, const int32_t *in, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		__m128i a0 = _mm_loadu_si128((const __m128i *)(acc + i));
		__m128i a1 = _mm_loadu_si128((const __m128i *)(acc + i + 4));
		__m128i b0 = _mm_loadu_si128((const __m128i *)(in + i));
		__m128i b1 = _mm_loadu_si128((const __m128i *)(in + i + 4));

		_mm_storeu_si128((__m128i *)(acc + i), _mm_add_epi32(a0, b0));
		_mm_storeu_si128((__m128i *)(acc + i + 4), _mm_add_epi32(a1, b1));
	}
	for (; i < n; i++)
		acc[i] = mix_wrap_add(acc[i], in[i]);
}

void mix_sub_s32_sse2(int32_t *out, const int32_t *total, const int32_t *own, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		__m128i a0 = _mm_loadu_si128((const __m128i *)(total + i));
		__m128i a1 = _mm_loadu_si128((const __m128i *)(total + i + 4));
		__m128i b0 = _mm_loadu_si128((const __m128i *)(own + i));
		__m128i b1 = _mm_loadu_si128((const __m128i *)(own + i + 4));

		_mm_storeu_si128((__m128i *)(out + i), _mm_sub_epi32(a0, b0));
		_mm_storeu_si128((__m128i *)(out + i + 4), _mm_sub_epi32(a1, b1));
	}
	for (; i < n; i++)
		out[i] = mix_wrap_sub(total[i], own[i]);
}

/* SSE2 has neither pmaxsd nor pabsd: select with a compare mask. */
static inline __m128i max_epi32(__m128i a, __m128i b)
{
	__m128i m = _mm_cmpgt_epi32(a, b);

	return _mm_or_si128(_mm_and_si128(m, a), _mm_andnot_si128(m, b));
}

static inline __m128i min_epi32(__m128i a, __m128i b)
{
	__m128i m = _mm_cmplt_epi32(a, b);

	return _mm_or_si128(_mm_and_si128(m, a), _mm_andnot_si128(m, b));
}

static uint32_t peak_s32_sse2(const int32_t *in, size_t n)
{
	__m128i hi = _mm_setzero_si128(), lo = _mm_setzero_si128();
	int32_t h[4], l[4];
	int64_t m = 0;
	size_t i = 0;

	for (; i + 4 <= n; i += 4) {
		__m128i x = _mm_loadu_si128((const __m128i *)(in + i));

		hi = max_epi32(hi, x);
		lo = min_epi32(lo, x);
	}
	_mm_storeu_si128((__m128i *)h, hi);
	_mm_storeu_si128((__m128i *)l, lo);
	for (int k = 0; k < 4; k++) {
		m = h[k] > m ? h[k] : m;
		m = -(int64_t)l[k] > m ? -(int64_t)l[k] : m;
	}
	for (; i < n; i++) {
		m = in[i] > m ? in[i] : m;
		m = -(int64_t)in[i] > m ? -(int64_t)in[i] : m;
	}
	return (uint32_t)m;
}

/* The limiter's gain stage on 8 samples: x * (g0 + idx * step), clamped
 * as mix_sat16 clamps, rounded by cvtps2dq (nearest even) and packed. */
static inline __m128i limit8(__m128 x0, __m128 x1, __m128 g0, __m128 step, __m128 idx)
{
	const __m128 lo = _mm_set1_ps(-32768.0f), hi = _mm_set1_ps(32767.0f);
	__m128 ga = _mm_add_ps(g0, _mm_mul_ps(idx, step));
	__m128 gb = _mm_add_ps(g0, _mm_mul_ps(_mm_add_ps(idx, _mm_set1_ps(4.0f)), step));
	__m128 v0 = _mm_min_ps(_mm_max_ps(_mm_mul_ps(x0, ga), lo), hi);
	__m128 v1 = _mm_min_ps(_mm_max_ps(_mm_mul_ps(x1, gb), lo), hi);

	return _mm_packs_epi32(_mm_cvtps_epi32(v0), _mm_cvtps_epi32(v1));
}

void mix_limit_s32_sse2(int16_t *out, const int32_t *in, float g0, float step, size_t n)
{
	__m128 vg0 = _mm_set1_ps(g0), vstep = _mm_set1_ps(step);
	/* Sample indices as floats: exact below 2^24, like (float)i. */
	__m128 idx = _mm_setr_ps(0.0f, 1.0f, 2.0f, 3.0f);
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		__m128 x0 = _mm_cvtepi32_ps(_mm_loadu_si128((const __m128i *)(in + i)));
		__m128 x1 = _mm_cvtepi32_ps(_mm_loadu_si128((const __m128i *)(in + i + 4)));

		_mm_storeu_si128((__m128i *)(out + i), limit8(x0, x1, vg0, vstep, idx));
		idx = _mm_add_ps(idx, _mm_set1_ps(8.0f));
	}
	for (; i < n; i++)
		out[i] = mix_sat16((float)in[i] * mix_limit_gain(g0, step, i));
}

static void gain_f32_sse2(float *out, const int16_t *in, float gain, size_t n)
{
	float gs = gain * (1.0f / MIX_F32_SCALE);
	__m128 g = _mm_set1_ps(gs);
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		__m128i x = _mm_loadu_si128((const __m128i *)(in + i));
		/* Sign-extend: each int16 into the top half, then shift down. */
		__m128i lo = _mm_srai_epi32(_mm_unpacklo_epi16(x, x), 16);
		__m128i hi = _mm_srai_epi32(_mm_unpackhi_epi16(x, x), 16);

		_mm_storeu_ps(out + i, _mm_mul_ps(_mm_cvtepi32_ps(lo), g));
		_mm_storeu_ps(out + i + 4, _mm_mul_ps(_mm_cvtepi32_ps(hi), g));
	}
	for (; i < n; i++)
		out[i] = (float)in[i] * gs;
}

void mix_add_f32_sse2(float *acc, const float *in, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		__m128 a0 = _mm_add_ps(_mm_loadu_ps(acc + i), _mm_loadu_ps(in + i));
		__m128 a1 = _mm_add_ps(_mm_loadu_ps(acc + i + 4), _mm_loadu_ps(in + i + 4));

		_mm_storeu_ps(acc + i, a0);
		_mm_storeu_ps(acc + i + 4, a1);
	}
	for (; i < n; i++)
		acc[i] += in[i];
}

void mix_sub_f32_sse2(float *out, const float *total, const float *own, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		__m128 a0 = _mm_sub_ps(_mm_loadu_ps(total + i), _mm_loadu_ps(own + i));
		__m128 a1 = _mm_sub_ps(_mm_loadu_ps(total + i + 4), _mm_loadu_ps(own + i + 4));

		_mm_storeu_ps(out + i, a0);
		_mm_storeu_ps(out + i + 4, a1);
	}
	for (; i < n; i++)
		out[i] = total[i] - own[i];
}

void mix_to_s16_f32_sse2(int16_t *out, const float *in, size_t n)
{
	/* A limit8 with gain exactly 32768 everywhere: step 0 adds 0. */
	__m128 g = _mm_set1_ps(MIX_F32_SCALE), zero = _mm_setzero_ps();
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
		_mm_storeu_si128(
		    (__m128i *)(out + i),
		    limit8(_mm_loadu_ps(in + i), _mm_loadu_ps(in + i + 4), g, zero, zero));
	for (; i < n; i++)
		out[i] = mix_sat16(in[i] * MIX_F32_SCALE);
}

float mix_peak_f32_sse2(const float *in, size_t n)
{
	const __m128 abs = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
	__m128 m0 = _mm_setzero_ps(), m1 = _mm_setzero_ps();
	float t[4], m = 0.0f;
	size_t i = 0;

	/* maxps(|x|, m): when |x| is NaN the result is m, as in the scalar. */
	for (; i + 8 <= n; i += 8) {
		m0 = _mm_max_ps(_mm_and_ps(_mm_loadu_ps(in + i), abs), m0);
		m1 = _mm_max_ps(_mm_and_ps(_mm_loadu_ps(in + i + 4), abs), m1);
	}
	_mm_storeu_ps(t, _mm_max_ps(m0, m1));
	for (int k = 0; k < 4; k++)
		m = t[k] > m ? t[k] : m;
	for (; i < n; i++) {
		float a = fabsf(in[i]);

		m = a > m ? a : m;
	}
	return m;
}

void mix_limit_f32_sse2(int16_t *out, const float *in, float g0, float step, size_t n)
{
	__m128 vg0 = _mm_set1_ps(g0), vstep = _mm_set1_ps(step);
	__m128 idx = _mm_setr_ps(0.0f, 1.0f, 2.0f, 3.0f);
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		_mm_storeu_si128(
		    (__m128i *)(out + i),
		    limit8(_mm_loadu_ps(in + i), _mm_loadu_ps(in + i + 4), vg0, vstep, idx));
		idx = _mm_add_ps(idx, _mm_set1_ps(8.0f));
	}
	for (; i < n; i++)
		out[i] = mix_sat16(in[i] * mix_limit_gain(g0, step, i));
}

const struct mix_ops mix_ops_sse2 = {
	.name = "sse2",
	.gain_s16 = gain_s16_sse2,
	.ramp_s16 = mix_ramp_s16_sse2,
	.add_s32 = mix_add_s32_sse2,
	.sub_s32 = mix_sub_s32_sse2,
	.peak_s32 = peak_s32_sse2,
	.limit_s32 = mix_limit_s32_sse2,
	.gain_f32 = gain_f32_sse2,
	.add_f32 = mix_add_f32_sse2,
	.sub_f32 = mix_sub_f32_sse2,
	.to_s16_f32 = mix_to_s16_f32_sse2,
	.peak_f32 = mix_peak_f32_sse2,
	.limit_f32 = mix_limit_f32_sse2,
};

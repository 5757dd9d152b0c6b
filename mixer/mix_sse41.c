/* mix_sse41: what SSE4.1 (and the SSSE3 it implies) improves on SSE2:
 * pmovsxwd widens int16 straight from memory, pabsd + pmaxud give the
 * peak in two instructions instead of eight. The kernels where SSE4.1
 * adds nothing are SSE2's, shared rather than copied; so is the ramp,
 * where two 8-byte pmovsxwd loads measured slower than SSE2's one load
 * and two unpacks (bench/mix_bench.c, AMD Zen). Built with -msse4.1 only
 * (mixer/meson.build). */
#include <smmintrin.h>

#include "mixer/mix_impl.h"

/* 4 int16 sign-extended to int32: the lanes are the int16 pairs
 * (x, sign), and madd with (g, 0) gives x*g + sign*0. */
static inline __m128i load4(const int16_t *p)
{
	return _mm_cvtepi16_epi32(_mm_loadl_epi64((const __m128i *)p));
}

static inline __m128i round_q14(__m128i p)
{
	return _mm_srai_epi32(_mm_add_epi32(p, _mm_set1_epi32(MIX_ROUND)), MIX_GAIN_SHIFT);
}

static void gain_s16_sse41(int32_t *out, const int16_t *in, int16_t gain, size_t n)
{
	__m128i g = _mm_set1_epi32((uint16_t)gain);
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		__m128i p0 = _mm_madd_epi16(load4(in + i), g);
		__m128i p1 = _mm_madd_epi16(load4(in + i + 4), g);

		_mm_storeu_si128((__m128i *)(out + i), round_q14(p0));
		_mm_storeu_si128((__m128i *)(out + i + 4), round_q14(p1));
	}
	for (; i < n; i++)
		out[i] = mix_contrib(in[i], gain);
}

static uint32_t peak_s32_sse41(const int32_t *in, size_t n)
{
	/* pabsd leaves INT32_MIN as 0x80000000, which is 2^31 unsigned. */
	__m128i m0 = _mm_setzero_si128(), m1 = _mm_setzero_si128();
	uint32_t t[4], m = 0;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		__m128i x0 = _mm_loadu_si128((const __m128i *)(in + i));
		__m128i x1 = _mm_loadu_si128((const __m128i *)(in + i + 4));

		m0 = _mm_max_epu32(m0, _mm_abs_epi32(x0));
		m1 = _mm_max_epu32(m1, _mm_abs_epi32(x1));
	}
	_mm_storeu_si128((__m128i *)t, _mm_max_epu32(m0, m1));
	for (int k = 0; k < 4; k++)
		m = t[k] > m ? t[k] : m;
	for (; i < n; i++) {
		uint32_t a = (uint32_t)(in[i] < 0 ? -(int64_t)in[i] : in[i]);

		m = a > m ? a : m;
	}
	return m;
}

static void gain_f32_sse41(float *out, const int16_t *in, float gain, size_t n)
{
	float gs = gain * (1.0f / MIX_F32_SCALE);
	__m128 g = _mm_set1_ps(gs);
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		_mm_storeu_ps(out + i, _mm_mul_ps(_mm_cvtepi32_ps(load4(in + i)), g));
		_mm_storeu_ps(out + i + 4, _mm_mul_ps(_mm_cvtepi32_ps(load4(in + i + 4)), g));
	}
	for (; i < n; i++)
		out[i] = (float)in[i] * gs;
}

const struct mix_ops mix_ops_sse41 = {
	.name = "sse41",
	.gain_s16 = gain_s16_sse41,
	.ramp_s16 = mix_ramp_s16_sse2,
	.add_s32 = mix_add_s32_sse2,
	.sub_s32 = mix_sub_s32_sse2,
	.peak_s32 = peak_s32_sse41,
	.limit_s32 = mix_limit_s32_sse2,
	.gain_f32 = gain_f32_sse41,
	.add_f32 = mix_add_f32_sse2,
	.sub_f32 = mix_sub_f32_sse2,
	.to_s16_f32 = mix_to_s16_f32_sse2,
	.peak_f32 = mix_peak_f32_sse2,
	.limit_f32 = mix_limit_f32_sse2,
};

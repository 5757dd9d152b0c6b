/* mix_avx512: kernels for AVX-512 (F + BW + VL), 32 samples a step, and
 * tails done with masked loads and stores instead of a scalar loop.
 * Built with -mavx512f -mavx512bw -mavx512vl only (mixer/meson.build);
 * mix.c offers this table only when the CPU reports all three. */
#include <immintrin.h>

#include "mixer/mix_impl.h"

/* Lanes r.. of a tail are masked off: loads read zeros there (and never
 * fault past the buffer), stores leave memory alone. */
static inline __mmask16 tail_mask(size_t r)
{
	return (__mmask16)((1u << r) - 1);
}

static inline size_t tail_len(size_t left)
{
	return left < 16 ? left : 16;
}

/* 16 int16 sign-extended to int32 lanes, the pairs (x, sign): madd with
 * the pairs (g, 0) is the exact product x*g. */
static inline __m512i load16(const int16_t *p)
{
	return _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)p));
}

static inline __m512i load16_mask(const int16_t *p, __mmask16 k)
{
	return _mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(k, p));
}

static inline __m512i round_q14(__m512i p)
{
	return _mm512_srai_epi32(_mm512_add_epi32(p, _mm512_set1_epi32(MIX_ROUND)), MIX_GAIN_SHIFT);
}

static void gain_s16_avx512(int32_t *out, const int16_t *in, int16_t gain, size_t n)
{
	__m512i g = _mm512_set1_epi32((uint16_t)gain);
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		__m512i p0 = _mm512_madd_epi16(load16(in + i), g);
		__m512i p1 = _mm512_madd_epi16(load16(in + i + 16), g);

		_mm512_storeu_si512(out + i, round_q14(p0));
		_mm512_storeu_si512(out + i + 16, round_q14(p1));
	}
	for (size_t r; i < n; i += r) {
		__mmask16 k = tail_mask(r = tail_len(n - i));

		_mm512_mask_storeu_epi32(out + i, k,
		                         round_q14(_mm512_madd_epi16(load16_mask(in + i, k), g)));
	}
}

static void ramp_s16_avx512(int32_t *out, const int16_t *in, int16_t g0, int16_t g1, size_t n)
{
	if (n == 0)
		return;

	int32_t d = mix_ramp_step(g0, g1, n);
	__m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	/* vpmulld wraps, so lanes past n cost nothing even for tiny n. */
	__m512i a0 = _mm512_add_epi32(_mm512_set1_epi32(mix_ramp_start(g0)),
	                              _mm512_mullo_epi32(iota, _mm512_set1_epi32(d)));
	__m512i d16 = _mm512_set1_epi32(mix_ramp_at(0, d, 16));
	__m512i d32 = _mm512_set1_epi32(mix_ramp_at(0, d, 32));
	__m512i a1 = _mm512_add_epi32(a0, d16);
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		/* The gain is the accumulator's top half: >> 16 makes (g, 0). */
		__m512i p0 = _mm512_madd_epi16(load16(in + i), _mm512_srli_epi32(a0, 16));
		__m512i p1 = _mm512_madd_epi16(load16(in + i + 16), _mm512_srli_epi32(a1, 16));

		_mm512_storeu_si512(out + i, round_q14(p0));
		_mm512_storeu_si512(out + i + 16, round_q14(p1));
		a0 = _mm512_add_epi32(a0, d32);
		a1 = _mm512_add_epi32(a1, d32);
	}
	for (size_t r; i < n; i += r, a0 = _mm512_add_epi32(a0, d16)) {
		__mmask16 k = tail_mask(r = tail_len(n - i));
		__m512i p = _mm512_madd_epi16(load16_mask(in + i, k), _mm512_srli_epi32(a0, 16));

		_mm512_mask_storeu_epi32(out + i, k, round_q14(p));
	}
}

static void add_s32_avx512(int32_t *acc, const int32_t *in, size_t n)
{
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		__m512i a0 =
		    _mm512_add_epi32(_mm512_loadu_si512(acc + i), _mm512_loadu_si512(in + i));
		__m512i a1 = _mm512_add_epi32(_mm512_loadu_si512(acc + i + 16),
		                              _mm512_loadu_si512(in + i + 16));

		_mm512_storeu_si512(acc + i, a0);
		_mm512_storeu_si512(acc + i + 16, a1);
	}
	for (size_t r; i < n; i += r) {
		__mmask16 k = tail_mask(r = tail_len(n - i));
		__m512i a = _mm512_add_epi32(_mm512_maskz_loadu_epi32(k, acc + i),
		                             _mm512_maskz_loadu_epi32(k, in + i));

		_mm512_mask_storeu_epi32(acc + i, k, a);
	}
}

static void sub_s32_avx512(int32_t *out, const int32_t *total, const int32_t *own, size_t n)
{
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		__m512i a0 =
		    _mm512_sub_epi32(_mm512_loadu_si512(total + i), _mm512_loadu_si512(own + i));
		__m512i a1 = _mm512_sub_epi32(_mm512_loadu_si512(total + i + 16),
		                              _mm512_loadu_si512(own + i + 16));

		_mm512_storeu_si512(out + i, a0);
		_mm512_storeu_si512(out + i + 16, a1);
	}
	for (size_t r; i < n; i += r) {
		__mmask16 k = tail_mask(r = tail_len(n - i));
		__m512i a = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(k, total + i),
		                             _mm512_maskz_loadu_epi32(k, own + i));

		_mm512_mask_storeu_epi32(out + i, k, a);
	}
}

static uint32_t peak_s32_avx512(const int32_t *in, size_t n)
{
	/* vpabsd leaves INT32_MIN as 0x80000000, which is 2^31 unsigned;
	 * masked-off lanes load as 0, which never wins. */
	__m512i m0 = _mm512_setzero_si512(), m1 = _mm512_setzero_si512();
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		m0 = _mm512_max_epu32(m0, _mm512_abs_epi32(_mm512_loadu_si512(in + i)));
		m1 = _mm512_max_epu32(m1, _mm512_abs_epi32(_mm512_loadu_si512(in + i + 16)));
	}
	for (size_t r; i < n; i += r) {
		__mmask16 k = tail_mask(r = tail_len(n - i));

		m0 = _mm512_max_epu32(m0, _mm512_abs_epi32(_mm512_maskz_loadu_epi32(k, in + i)));
	}
	return _mm512_reduce_max_epu32(_mm512_max_epu32(m0, m1));
}

/* Clamp as mix_sat16 clamps, round by cvtps2dq (nearest even). */
static inline __m512i to_s32(__m512 v)
{
	const __m512 lo = _mm512_set1_ps(-32768.0f), hi = _mm512_set1_ps(32767.0f);

	return _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(v, lo), hi));
}

/* 32 int32 (already in range) to 32 int16 in order. vpackssdw packs
 * within 128-bit lanes, vpermq puts them back; measured twice as fast as
 * two vpmovsdw, which are two uops each on current cores. */
static inline void store32(int16_t *out, __m512i a, __m512i b)
{
	const __m512i order = _mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7);

	_mm512_storeu_si512(out, _mm512_permutexvar_epi64(order, _mm512_packs_epi32(a, b)));
}

/* x * (g0 + idx * step): the limiter's gain stage, in int32 lanes. */
static inline __m512i limit16(__m512 x, __m512 g0, __m512 step, __m512 idx)
{
	return to_s32(_mm512_mul_ps(x, _mm512_add_ps(g0, _mm512_mul_ps(idx, step))));
}

/* One body for int32 and float input: load_ps(p, k) gives 16 floats. */
#define LIMIT_BODY(load_ps)                                                                        \
	do {                                                                                       \
		__m512 vg0 = _mm512_set1_ps(g0), vstep = _mm512_set1_ps(step);                     \
		__m512 idx = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); \
		__m512 i16 = _mm512_set1_ps(16.0f);                                                \
		size_t i = 0;                                                                      \
                                                                                                   \
		for (; i + 32 <= n; i += 32) {                                                     \
			__m512 idx1 = _mm512_add_ps(idx, i16);                                     \
                                                                                                   \
			store32(out + i, limit16(load_ps(in + i, 0xffff), vg0, vstep, idx),        \
			        limit16(load_ps(in + i + 16, 0xffff), vg0, vstep, idx1));          \
			idx = _mm512_add_ps(idx1, i16);                                            \
		}                                                                                  \
		for (size_t r; i < n; i += r, idx = _mm512_add_ps(idx, i16)) {                     \
			__mmask16 k = tail_mask(r = tail_len(n - i));                              \
                                                                                                   \
			_mm512_mask_cvtsepi32_storeu_epi16(                                        \
			    out + i, k, limit16(load_ps(in + i, k), vg0, vstep, idx));             \
		}                                                                                  \
	} while (0)

static inline __m512 load_s32_ps(const int32_t *p, __mmask16 k)
{
	return _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(k, p));
}

static inline __m512 load_f32_ps(const float *p, __mmask16 k)
{
	return _mm512_maskz_loadu_ps(k, p);
}

static void limit_s32_avx512(int16_t *out, const int32_t *in, float g0, float step, size_t n)
{
	LIMIT_BODY(load_s32_ps);
}

static void limit_f32_avx512(int16_t *out, const float *in, float g0, float step, size_t n)
{
	LIMIT_BODY(load_f32_ps);
}

static void to_s16_f32_avx512(int16_t *out, const float *in, size_t n)
{
	/* limit_f32 without the gain line: exactly x * 32768. */
	const __m512 scale = _mm512_set1_ps(MIX_F32_SCALE);
	size_t i = 0;

	for (; i + 32 <= n; i += 32)
		store32(out + i, to_s32(_mm512_mul_ps(_mm512_loadu_ps(in + i), scale)),
		        to_s32(_mm512_mul_ps(_mm512_loadu_ps(in + i + 16), scale)));
	for (size_t r; i < n; i += r) {
		__mmask16 k = tail_mask(r = tail_len(n - i));
		__m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, in + i), scale);

		_mm512_mask_cvtsepi32_storeu_epi16(out + i, k, to_s32(v));
	}
}

static void gain_f32_avx512(float *out, const int16_t *in, float gain, size_t n)
{
	__m512 g = _mm512_set1_ps(gain * (1.0f / MIX_F32_SCALE));
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		_mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_cvtepi32_ps(load16(in + i)), g));
		_mm512_storeu_ps(out + i + 16,
		                 _mm512_mul_ps(_mm512_cvtepi32_ps(load16(in + i + 16)), g));
	}
	for (size_t r; i < n; i += r) {
		__mmask16 k = tail_mask(r = tail_len(n - i));

		_mm512_mask_storeu_ps(out + i, k,
		                      _mm512_mul_ps(_mm512_cvtepi32_ps(load16_mask(in + i, k)), g));
	}
}

static void add_f32_avx512(float *acc, const float *in, size_t n)
{
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		__m512 a0 = _mm512_add_ps(_mm512_loadu_ps(acc + i), _mm512_loadu_ps(in + i));
		__m512 a1 =
		    _mm512_add_ps(_mm512_loadu_ps(acc + i + 16), _mm512_loadu_ps(in + i + 16));

		_mm512_storeu_ps(acc + i, a0);
		_mm512_storeu_ps(acc + i + 16, a1);
	}
	for (size_t r; i < n; i += r) {
		__mmask16 k = tail_mask(r = tail_len(n - i));

		_mm512_mask_storeu_ps(acc + i, k,
		                      _mm512_add_ps(_mm512_maskz_loadu_ps(k, acc + i),
		                                    _mm512_maskz_loadu_ps(k, in + i)));
	}
}

static void sub_f32_avx512(float *out, const float *total, const float *own, size_t n)
{
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		__m512 a0 = _mm512_sub_ps(_mm512_loadu_ps(total + i), _mm512_loadu_ps(own + i));
		__m512 a1 =
		    _mm512_sub_ps(_mm512_loadu_ps(total + i + 16), _mm512_loadu_ps(own + i + 16));

		_mm512_storeu_ps(out + i, a0);
		_mm512_storeu_ps(out + i + 16, a1);
	}
	for (size_t r; i < n; i += r) {
		__mmask16 k = tail_mask(r = tail_len(n - i));

		_mm512_mask_storeu_ps(out + i, k,
		                      _mm512_sub_ps(_mm512_maskz_loadu_ps(k, total + i),
		                                    _mm512_maskz_loadu_ps(k, own + i)));
	}
}

static float peak_f32_avx512(const float *in, size_t n)
{
	__m512 m0 = _mm512_setzero_ps(), m1 = _mm512_setzero_ps();
	size_t i = 0;

	/* maxps(|x|, m): when |x| is NaN the result is m, as in the scalar;
	 * masked-off lanes load as 0, which never wins. */
	for (; i + 32 <= n; i += 32) {
		m0 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(in + i)), m0);
		m1 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(in + i + 16)), m1);
	}
	for (size_t r; i < n; i += r) {
		__mmask16 k = tail_mask(r = tail_len(n - i));

		m0 = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(k, in + i)), m0);
	}
	return _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
}

const struct mix_ops mix_ops_avx512 = {
	.name = "avx512",
	.gain_s16 = gain_s16_avx512,
	.ramp_s16 = ramp_s16_avx512,
	.add_s32 = add_s32_avx512,
	.sub_s32 = sub_s32_avx512,
	.peak_s32 = peak_s32_avx512,
	.limit_s32 = limit_s32_avx512,
	.gain_f32 = gain_f32_avx512,
	.add_f32 = add_f32_avx512,
	.sub_f32 = sub_f32_avx512,
	.to_s16_f32 = to_s16_f32_avx512,
	.peak_f32 = peak_f32_avx512,
	.limit_f32 = limit_f32_avx512,
};

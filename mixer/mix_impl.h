/* mix_impl: what the per-ISA kernel files share and mix.c needs. Not part
 * of the mixer's contract (that is mix.h); include only from mixer/.
 *
 * The per-sample helpers below are the one definition of each kernel's
 * arithmetic: the scalar table is built from them and every SIMD file
 * uses them for its tail, so "bit-identical to scalar" is true by
 * construction at the edges and checked by the unit tests in between. */
#ifndef PARLEY_MIXER_MIX_IMPL_H
#define PARLEY_MIXER_MIX_IMPL_H

#include <math.h>
#include <stdint.h>

#include "mixer/mix.h"

/* One table per instruction set; mix.c offers a table only when the build
 * defined MIX_HAVE_<ISA> for it and the CPU runs it. */
extern const struct mix_ops mix_ops_scalar;
extern const struct mix_ops mix_ops_sse2;
extern const struct mix_ops mix_ops_sse41;
extern const struct mix_ops mix_ops_avx2;
extern const struct mix_ops mix_ops_avx512;

/* Rounding constant of the Q14 product: half an output unit. */
#define MIX_ROUND (1 << (MIX_GAIN_SHIFT - 1))

/* A talker's contribution of one sample. >> of a negative int is an
 * arithmetic shift in GCC and Clang (implementation-defined in ISO C),
 * the same as the SIMD psrad. */
static inline int32_t mix_contrib(int16_t x, int32_t gain)
{
	return ((int32_t)x * gain + MIX_ROUND) >> MIX_GAIN_SHIFT;
}

/* The ramp's gain accumulator: gain g in the top 16 bits, plus half a
 * unit so that >> 16 rounds. With gains in [0, 32767] it stays in
 * [2^15, 2^31) for every sample 0..n, which is why gains are limited. */
static inline int32_t mix_ramp_start(int16_t g0)
{
	return (int32_t)g0 * 65536 + 32768;
}

/* Per-sample increment of the accumulator, truncated towards zero so the
 * ramp never overshoots g1. */
static inline int32_t mix_ramp_step(int16_t g0, int16_t g1, size_t n)
{
	return (int32_t)(((int64_t)g1 - g0) * 65536 / (int64_t)n);
}

/* The accumulator at sample k, G + k*d, wrapping instead of overflowing so
 * SIMD set-up code may compute lanes past n (their results are never
 * stored). Equals the scalar loop's accumulator for every k <= n. */
static inline int32_t mix_ramp_at(int32_t acc, int32_t d, size_t k)
{
	return (int32_t)(uint32_t)((int64_t)acc + (int64_t)k * d);
}

/* Wrapping int32 add and subtract, as paddd/psubd, without the undefined
 * behaviour of signed overflow in C. */
static inline int32_t mix_wrap_add(int32_t a, int32_t b)
{
	return (int32_t)((uint32_t)a + (uint32_t)b);
}

static inline int32_t mix_wrap_sub(int32_t a, int32_t b)
{
	return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* Saturating float -> int16, rounding to nearest even (the default
 * rounding mode, as cvtps2dq). The clamps are written as maxps/minps
 * compute them, so a NaN comes out as -32768 on every path, and they run
 * before the conversion because cvtps2dq turns anything beyond int32 into
 * INT32_MIN, a large positive value included. */
static inline int16_t mix_sat16(float v)
{
	v = v > -32768.0f ? v : -32768.0f;
	v = v < 32767.0f ? v : 32767.0f;
	return (int16_t)lrintf(v);
}

/* Gain of sample i of a limit_* call. Kept as multiply then add (the
 * mixer is built with -ffp-contract=off) so no FMA changes a bit. */
static inline float mix_limit_gain(float g0, float step, size_t i)
{
	return g0 + (float)i * step;
}

/* SSE2 kernels that the SSE4.1 table reuses, where SSE4.1 adds nothing
 * (or, for the ramp, measured slower). */
void mix_ramp_s16_sse2(int32_t *out, const int16_t *in, int16_t g0, int16_t g1, size_t n);
void mix_add_s32_sse2(int32_t *acc, const int32_t *in, size_t n);
void mix_sub_s32_sse2(int32_t *out, const int32_t *total, const int32_t *own, size_t n);
void mix_limit_s32_sse2(int16_t *out, const int32_t *in, float g0, float step, size_t n);
void mix_add_f32_sse2(float *acc, const float *in, size_t n);
void mix_sub_f32_sse2(float *out, const float *total, const float *own, size_t n);
void mix_to_s16_f32_sse2(int16_t *out, const float *in, size_t n);
float mix_peak_f32_sse2(const float *in, size_t n);
void mix_limit_f32_sse2(int16_t *out, const float *in, float g0, float step, size_t n);

#endif

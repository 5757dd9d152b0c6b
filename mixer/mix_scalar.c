/* mix_scalar: the reference kernels, plain C loops, one sample at a time.
 *
 * This file is built with -fno-tree-vectorize (mixer/meson.build): it is
 * both the fallback for CPUs without SIMD and the baseline the benchmark
 * compares the SIMD tables against, and "scalar" must mean scalar there,
 * not whatever GCC's auto-vectoriser makes of these loops at -O2. The
 * other flags (-O2, -ffp-contract=off) are the project's. */
#include "mixer/mix_impl.h"

static void gain_s16_scalar(int32_t *out, const int16_t *in, int16_t gain, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = mix_contrib(in[i], gain);
}

static void ramp_s16_scalar(int32_t *out, const int16_t *in, int16_t g0, int16_t g1, size_t n)
{
	if (n == 0)
		return;

	int32_t acc = mix_ramp_start(g0);
	int32_t d = mix_ramp_step(g0, g1, n);

	for (size_t i = 0; i < n; i++, acc += d)
		out[i] = mix_contrib(in[i], acc >> 16);
}

static void add_s32_scalar(int32_t *acc, const int32_t *in, size_t n)
{
	for (size_t i = 0; i < n; i++)
		acc[i] = mix_wrap_add(acc[i], in[i]);
}

static void sub_s32_scalar(int32_t *out, const int32_t *total, const int32_t *own, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = mix_wrap_sub(total[i], own[i]);
}

static uint32_t peak_s32_scalar(const int32_t *in, size_t n)
{
	int32_t hi = 0, lo = 0;

	for (size_t i = 0; i < n; i++) {
		hi = in[i] > hi ? in[i] : hi;
		lo = in[i] < lo ? in[i] : lo;
	}
	/* -(int64_t)lo: INT32_MIN's magnitude does not fit an int32. */
	return (uint32_t)(-(int64_t)lo > hi ? -(int64_t)lo : hi);
}

static void limit_s32_scalar(int16_t *out, const int32_t *in, float g0, float step, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = mix_sat16((float)in[i] * mix_limit_gain(g0, step, i));
}

static void gain_f32_scalar(float *out, const int16_t *in, float gain, size_t n)
{
	float g = gain * (1.0f / MIX_F32_SCALE);

	for (size_t i = 0; i < n; i++)
		out[i] = (float)in[i] * g;
}

static void add_f32_scalar(float *acc, const float *in, size_t n)
{
	for (size_t i = 0; i < n; i++)
		acc[i] += in[i];
}

static void sub_f32_scalar(float *out, const float *total, const float *own, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = total[i] - own[i];
}

static void to_s16_f32_scalar(int16_t *out, const float *in, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = mix_sat16(in[i] * MIX_F32_SCALE);
}

static float peak_f32_scalar(const float *in, size_t n)
{
	float m = 0.0f;

	/* Written as maxps(|x|, m) computes it: a NaN never wins. */
	for (size_t i = 0; i < n; i++) {
		float a = fabsf(in[i]);

		m = a > m ? a : m;
	}
	return m;
}

static void limit_f32_scalar(int16_t *out, const float *in, float g0, float step, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = mix_sat16(in[i] * mix_limit_gain(g0, step, i));
}

const struct mix_ops mix_ops_scalar = {
	.name = "scalar",
	.gain_s16 = gain_s16_scalar,
	.ramp_s16 = ramp_s16_scalar,
	.add_s32 = add_s32_scalar,
	.sub_s32 = sub_s32_scalar,
	.peak_s32 = peak_s32_scalar,
	.limit_s32 = limit_s32_scalar,
	.gain_f32 = gain_f32_scalar,
	.add_f32 = add_f32_scalar,
	.sub_f32 = sub_f32_scalar,
	.to_s16_f32 = to_s16_f32_scalar,
	.peak_f32 = peak_f32_scalar,
	.limit_f32 = limit_f32_scalar,
};

/* mix: the conference mixer's sample kernels, one ops table per instruction
 * set (scalar, SSE2, SSE4.1, AVX2, AVX-512), chosen once by CPU features.
 *
 * How a room uses them each 20 ms tick (48 kHz mono, MIX_FRAME samples):
 *
 *   for each selected talker k:   gain_s16 (or ramp_s16)  -> c[k]  int32
 *   total = c[0] + c[1] + ...     add_s32
 *   shared mix (non-talkers)    = limiter_process(total)
 *   talker k's own mix          = limiter_process(sub_s32(total, c[k]))
 *
 * Contributions are computed once and reused, so total - c[k] is exactly
 * the sum of the other talkers' contributions (integers: no rounding in
 * the sums). The float kernels are the same pipeline in float, kept for
 * comparison and SNR checks.
 *
 * Every table computes bit-identical results to "scalar" for every input
 * (the unit tests hold them to it), so a room's output does not depend on
 * the machine. No kernel allocates, keeps state or assumes alignment: all
 * loads and stores are unaligned, n may be any size including 0, and
 * buffers of one call must not overlap unless a field says they may. */
#ifndef PARLEY_MIXER_MIX_H
#define PARLEY_MIXER_MIX_H

#include <stddef.h>
#include <stdint.h>

/* Samples in one 20 ms frame at 48 kHz, the mixer's tick. */
#define MIX_FRAME 960

/* Talker gains are Q14: MIX_GAIN_ONE is unity (0 dB), MIX_GAIN_MAX about
 * +6 dB. Q14 rather than Q15 so a room can lift a quiet talker; the
 * kernels accept gains in [0, MIX_GAIN_MAX] only (the ramp's fixed-point
 * arithmetic relies on it; the room clamps). */
#define MIX_GAIN_SHIFT 14
#define MIX_GAIN_ONE   (1 << MIX_GAIN_SHIFT)
#define MIX_GAIN_MAX   32767

/* A contribution is at most |(-32768 * 32767 + 2^13) >> 14| = 65534, so
 * an int32 total of up to 32768 contributions cannot overflow. */
#define MIX_CONTRIB_MAX 65534

/* Float path scale: int16 x maps to x / 32768, so [-1, 1). */
#define MIX_F32_SCALE 32768.0f

struct mix_ops {
	/* "scalar", "sse2", "sse41", "avx2" or "avx512"; static storage. */
	const char *name;

	/* ---- integer path ---- */

	/* out[i] = (in[i] * gain + 2^13) >> 14: a talker's contribution
	 * in int16 sample units, rounded half up. gain in [0, MIX_GAIN_MAX];
	 * MIX_GAIN_ONE reproduces in exactly (the plain int16 -> int32 widen). */
	void (*gain_s16)(int32_t *out, const int16_t *in, int16_t gain, size_t n);

	/* As gain_s16 with a gain moving linearly from g0 (sample 0) towards g1,
	 * reached at sample n, i.e. the first sample of the next frame, so a
	 * ramp followed by a constant g1 continues the same straight line.
	 * Gain of sample i is (G0 + i*d) >> 16 with G0 = g0 * 2^16 + 2^15 and
	 * d = (g1 - g0) * 2^16 / n truncated: within 1/2 of the exact line.
	 * g0, g1 in [0, MIX_GAIN_MAX]; g0 == g1 is exactly gain_s16. Used when a talker enters (0
	 * -> g) or leaves (g -> 0) the mix, or its gain changes. */
	void (*ramp_s16)(int32_t *out, const int16_t *in, int16_t g0, int16_t g1, size_t n);

	/* acc[i] += in[i], wrapping modulo 2^32 (which the MIX_CONTRIB_MAX
	 * bound keeps from happening). acc == in is allowed. */
	void (*add_s32)(int32_t *acc, const int32_t *in, size_t n);

	/* out[i] = total[i] - own[i], wrapping as add_s32: the N-1 mix. out may
	 * be total or own. */
	void (*sub_s32)(int32_t *out, const int32_t *total, const int32_t *own, size_t n);

	/* Returns max |in[i]| (INT32_MIN gives 2^31), 0 when n == 0. */
	uint32_t (*peak_s32)(const int32_t *in, size_t n);

	/* out[i] = saturate16(round(in[i] * (g0 + i * step))), in float: the
	 * limiter's gain stage. The gain of sample i is computed as
	 * g0 + (float)i * step (one multiply, one add, never fused) and the
	 * product rounds to nearest, ties to even; values beyond int16 (and
	 * NaN) saturate, NaN to -32768. Exact for |in| < 2^24 and n <= 2^24. */
	void (*limit_s32)(int16_t *out, const int32_t *in, float g0, float step, size_t n);

	/* ---- float path ---- */

	/* out[i] = in[i] * (gain / 32768): int16 -> float with a linear gain,
	 * one rounding (the scale is a power of two). gain 1.0f is the plain
	 * int16 -> float conversion. */
	void (*gain_f32)(float *out, const int16_t *in, float gain, size_t n);

	/* acc[i] += in[i]. acc == in is allowed. */
	void (*add_f32)(float *acc, const float *in, size_t n);

	/* out[i] = total[i] - own[i]. Not exact in float (the integer path
	 * is the exact one). out may be total or own. */
	void (*sub_f32)(float *out, const float *total, const float *own, size_t n);

	/* out[i] = saturate16(round(in[i] * 32768)), ties to even, NaN to
	 * -32768: float -> int16. gain_f32(1.0f) then this is the identity. */
	void (*to_s16_f32)(int16_t *out, const float *in, size_t n);

	/* Returns max |in[i]| ignoring NaNs, 0.0f when n == 0. */
	float (*peak_f32)(const float *in, size_t n);

	/* As limit_s32 on float input: out[i] = saturate16(round(in[i] *
	 * (g0 + i * step))). For normalised input pass gains times 32768. */
	void (*limit_f32)(int16_t *out, const float *in, float g0, float step, size_t n);
};

/* Returns the fastest table this CPU runs, chosen on the first call and
 * cached (thread-safe; later calls are one load). Never NULL. */
const struct mix_ops *mix_ops_best(void);

/* Returns the table called name ("scalar", "sse2", "sse41", "avx2",
 * "avx512"), or NULL when it is unknown, was not built, or this CPU cannot
 * run it. For tests, benchmarks and an operator's override. */
const struct mix_ops *mix_ops_get(const char *name);

/* Stores up to max of the tables this CPU runs into out, slowest first
 * (scalar is always first). Returns how many there are, which may exceed
 * max (as snprintf). */
size_t mix_ops_list(const struct mix_ops **out, size_t max);

/* Converts a linear gain to Q14, clamped to [0, MIX_GAIN_MAX] (NaN to 0). */
static inline int16_t mix_gain_q14(float linear)
{
	float q = linear * (float)MIX_GAIN_ONE + 0.5f;

	if (!(q > 0.0f))
		return 0;
	if (q >= (float)MIX_GAIN_MAX)
		return MIX_GAIN_MAX;
	return (int16_t)q;
}

#endif

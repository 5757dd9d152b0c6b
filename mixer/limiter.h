/* limiter: the mixer's peak limiter, int32 (or float) mix in, int16 out.
 *
 * Sums of several talkers exceed full scale; clipping them distorts and
 * normalising each frame makes the level jump every 20 ms. Instead the
 * limiter follows the peak envelope in sub-frames of about 1 ms
 * (l->block samples, 48 at 48 kHz):
 *
 *   need(b) = min(1, threshold / peak(b))   the most gain block b allows
 *   E(b)    = min(release(E(b-1)), need(b), need(b+1))
 *
 * and gives each sample of block b the gain on the straight line from
 * E(b-1) to E(b). Both ends are at most need(b), so no sample of b is
 * pushed past the threshold (up to float rounding, a few 1e-7 relative):
 * the attack is instant yet continuous, because taking need(b+1) into
 * E(b) starts the descent one block before a loud block, inside the same
 * call. Release is exponential towards 1 with time constant release_ms:
 * release(g) = g + (1 - g) * a, a = 1 - exp(-block / (rate * release_ms / 1000)).
 *
 * Bounds, checked by tests/unit/limiter_test.c:
 *   - the gain rises by at most a * (1 - g) <= a per block (0.0198 per
 *     1 ms block for the 50 ms default), and falls only as far as the
 *     peak of this block or the next requires;
 *   - within a call the gain is continuous: from one sample to the next
 *     it moves by at most |E(b) - E(b-1)| / len(b), so at most 1/48 of
 *     full gain per sample for 48-sample blocks;
 *   - a call cannot look into the next one: if the first block of a call
 *     needs less gain than the previous call ended on, its ramp starts at
 *     that need, a step down no larger than the release the gain made
 *     since the last block that needed that little (a sudden onset
 *     exactly at a call boundary steps as far as it must). Calls of whole
 *     blocks (the mixer's 960 = 20 * 48) keep the block grid uniform.
 *
 * Blocks are laid out from the start of each call; a call whose n is not
 * a multiple of block ends with a short block. No allocation, no locks;
 * one limiter per output stream (a room has one per talker plus one for
 * the shared mix, since their gain histories differ). */
#ifndef PARLEY_MIXER_LIMITER_H
#define PARLEY_MIXER_LIMITER_H

#include <stddef.h>
#include <stdint.h>

#include "mixer/mix.h"

/* Full scale as a threshold: output stays within [-32767, 32767]. */
#define LIMITER_FULL_SCALE 32767.0f

/* Release time constant when the caller has no better idea. */
#define LIMITER_RELEASE_MS 50.0f

/* Longest sub-frame; block = rate / 1000 is capped here. */
#define LIMITER_BLOCK_MAX 192

struct limiter {
	const struct mix_ops *ops; /* peak_* and limit_* kernels; not owned */
	float threshold;           /* largest output magnitude, (0, 32767] */
	/* The envelope is kept in double, once per block: in float,
	 * g + (1 - g) * a stops moving about 1.5e-6 short of 1 (the increment
	 * falls under half an ulp) and a quiet stream would never get back to
	 * exactly unity gain. */
	double gain;        /* gain of the last sample out, (0, 1] */
	double release;     /* a: share of (1 - gain) regained per block */
	double release_log; /* ln(1 - a) per sample, for short blocks */
	uint32_t block;     /* sub-frame length in samples */
};

/* Sets l up for sample_rate (8000..384000), threshold in int16 units
 * ((0, 32767], LIMITER_FULL_SCALE for none below full scale) and
 * release_ms (> 0), gain 1. ops gives the kernels and must outlive l.
 * Returns 0, or -EINVAL for a NULL or out-of-range argument. */
int limiter_init(struct limiter *l, const struct mix_ops *ops, uint32_t sample_rate,
                 float threshold, float release_ms);

/* Writes n limited samples of in (int16 units, e.g. a total or an N-1 mix
 * from mix_ops; |in| < 2^24 for exact arithmetic) to out. Carries the
 * gain over to the next call. in and out must not overlap. */
void limiter_process(struct limiter *l, int16_t *out, const int32_t *in, size_t n);

/* The same for a float mix normalised to [-1, 1) (mix_ops.gain_f32's
 * scale); shares l's state with limiter_process. */
void limiter_process_f32(struct limiter *l, int16_t *out, const float *in, size_t n);

/* The gain the last sample out got; 1 when nothing was limited lately. */
float limiter_gain(const struct limiter *l);

/* Forgets the gain history (gain back to 1), e.g. when a stream restarts. */
void limiter_reset(struct limiter *l);

#endif

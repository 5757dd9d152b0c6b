/* limiter: peak envelope over ~1 ms blocks, instant attack with one block
 * of in-call look-ahead, exponential release (see limiter.h). The block
 * bookkeeping is a handful of scalar operations per block; the
 * per-sample work (peak, gain and narrowing) is the ops table's. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>

#include "mixer/limiter.h"

/* A released gain this close to 1 becomes exactly 1, so a quiet stream
 * passes bit-exact again (float gains round to 1 there anyway; this
 * makes it exact, with step 0). 2^-24 of full scale is 0.002 of an int16
 * step; at the default release it takes 16 time constants from a 0.25
 * gain. */
#define LIMITER_SNAP (1.0 / (1 << 24))

int limiter_init(struct limiter *l, const struct mix_ops *ops, uint32_t sample_rate,
                 float threshold, float release_ms)
{
	if (!l || !ops || sample_rate < 8000 || sample_rate > 384000)
		return -EINVAL;
	if (!(threshold > 0.0f && threshold <= LIMITER_FULL_SCALE))
		return -EINVAL;
	if (!(release_ms > 0.0f) || !isfinite(release_ms))
		return -EINVAL;

	uint32_t block = sample_rate / 1000;
	/* Release time constant in samples. */
	double tau = (double)release_ms / 1000.0 * sample_rate;

	if (block > LIMITER_BLOCK_MAX)
		block = LIMITER_BLOCK_MAX;
	l->ops = ops;
	l->threshold = threshold;
	l->gain = 1.0f;
	l->block = block;
	l->release = -expm1(-(double)block / tau);
	l->release_log = -1.0 / tau;
	return 0;
}

void limiter_reset(struct limiter *l)
{
	l->gain = 1.0f;
}

float limiter_gain(const struct limiter *l)
{
	return (float)l->gain;
}

static double min3(double a, double b, double c)
{
	double m = a < b ? a : b;

	return m < c ? m : c;
}

/* The most gain a block with this peak (int16 units) allows. */
static double need_of(const struct limiter *l, double peak)
{
	return peak > l->threshold ? l->threshold / peak : 1.0;
}

static double block_need(const struct limiter *l, const void *in, size_t off, size_t len, bool f32)
{
	if (f32)
		return need_of(l, (double)l->ops->peak_f32((const float *)in + off, len) *
		                      MIX_F32_SCALE);
	return need_of(l, l->ops->peak_s32((const int32_t *)in + off, len));
}

/* g after len samples of release; the full-block factor is precomputed,
 * a short last block of a call gets its own. */
static double release_to(const struct limiter *l, double g, size_t len)
{
	double a = len == l->block ? l->release : -expm1((double)len * l->release_log);

	g += (1.0 - g) * a;
	return g > 1.0 - LIMITER_SNAP ? 1.0 : g;
}

static void process(struct limiter *l, int16_t *out, const void *in, size_t n, bool f32)
{
	if (n == 0)
		return;

	size_t len = n < l->block ? n : l->block;
	double need = block_need(l, in, 0, len, f32);
	/* The previous call could not see this block coming: if it needs less
	 * than the gain ended on, start there (the instant attack). */
	double s = l->gain < need ? l->gain : need;

	for (size_t pos = 0; pos < n;) {
		size_t next = pos + len;
		size_t next_len = n - next < l->block ? n - next : l->block;
		double need_next = next_len ? block_need(l, in, next, next_len, f32) : 1.0;
		/* Ending at or below need_next lets the next block start there. */
		double e = min3(release_to(l, s, len), need, need_next);
		double step = (e - s) / (double)len;
		/* Sample j gets s + (j + 1) * step: the last one e, none above
		 * max(s, e) <= need beyond float rounding (a few 1e-7 relative,
		 * under 0.01 of an int16 step at full scale). */
		float g0 = (float)(s + step), fstep = (float)step;

		if (f32)
			l->ops->limit_f32(out + pos, (const float *)in + pos, g0 * MIX_F32_SCALE,
			                  fstep * MIX_F32_SCALE, len);
		else
			l->ops->limit_s32(out + pos, (const int32_t *)in + pos, g0, fstep, len);
		s = e;
		need = need_next;
		pos = next;
		len = next_len;
	}
	l->gain = s;
}

void limiter_process(struct limiter *l, int16_t *out, const int32_t *in, size_t n)
{
	process(l, out, in, n, false);
}

void limiter_process_f32(struct limiter *l, int16_t *out, const float *in, size_t n)
{
	process(l, out, in, n, true);
}

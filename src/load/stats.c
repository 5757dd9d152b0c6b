/* stats: see stats.h. */
#include "src/load/stats.h"

#include <stdio.h>
#include <string.h>

#define SUB (1u << STATS_HIST_SUB_BITS)

/* ---- histogram ---------------------------------------------------- */

uint32_t stats_hist_index(uint64_t ns)
{
	unsigned e, shift;

	if (ns < STATS_HIST_LINEAR)
		return (uint32_t)ns;
	if (ns >> STATS_HIST_TOP_BIT)
		return STATS_HIST_BUCKETS - 1;
	/* ns in [2^e, 2^(e+1)), e >= 8: keep its top SUB_BITS + 1 bits. */
	e = 63u - (unsigned)__builtin_clzll(ns);
	shift = e - STATS_HIST_SUB_BITS;
	return STATS_HIST_LINEAR + (e - STATS_HIST_SUB_BITS - 1) * SUB +
	       (uint32_t)((ns >> shift) - SUB);
}

uint64_t stats_hist_bucket_lo(uint32_t idx)
{
	uint32_t k;

	if (idx < STATS_HIST_LINEAR)
		return idx;
	k = (idx - STATS_HIST_LINEAR) / SUB;   /* octave above the linear part */
	return (uint64_t)((idx - STATS_HIST_LINEAR) % SUB + SUB) << (k + 1);
}

uint64_t stats_hist_bucket_width(uint32_t idx)
{
	if (idx < STATS_HIST_LINEAR)
		return 1;
	return (uint64_t)1 << ((idx - STATS_HIST_LINEAR) / SUB + 1);
}

void stats_hist_record(struct stats_hist *h, uint64_t ns)
{
	uint32_t i = stats_hist_index(ns);

	stats_add(&h->count[i], 1);
	stats_add(&h->total, 1);
	stats_add(&h->sum_ns, ns);
	if (ns > h->max_ns)
		__atomic_store_n(&h->max_ns, ns, __ATOMIC_RELAXED);
}

uint64_t stats_hist_percentile(const struct stats_hist *h, double pct)
{
	uint64_t rank, seen = 0;

	if (!h->total)
		return 0;
	if (pct >= 100.0)
		return h->max_ns;
	rank = (uint64_t)(pct / 100.0 * (double)h->total);
	if ((double)rank < pct / 100.0 * (double)h->total)
		rank++;
	if (rank == 0)
		rank = 1;
	for (uint32_t i = 0; i < STATS_HIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen >= rank) {
			uint64_t v = stats_hist_bucket_lo(i) + stats_hist_bucket_width(i) / 2;

			return h->max_ns && v > h->max_ns ? h->max_ns : v;
		}
	}
	return h->max_ns;
}

double stats_hist_mean(const struct stats_hist *h)
{
	return h->total ? (double)h->sum_ns / (double)h->total : 0.0;
}

void stats_hist_merge(struct stats_hist *dst, const struct stats_hist *src)
{
	for (uint32_t i = 0; i < STATS_HIST_BUCKETS; i++)
		dst->count[i] += src->count[i];
	dst->total += src->total;
	dst->sum_ns += src->sum_ns;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
}

void stats_hist_diff(struct stats_hist *dst, const struct stats_hist *now,
		     const struct stats_hist *before)
{
	for (uint32_t i = 0; i < STATS_HIST_BUCKETS; i++)
		dst->count[i] = now->count[i] - before->count[i];
	dst->total = now->total - before->total;
	dst->sum_ns = now->sum_ns - before->sum_ns;
	dst->max_ns = now->max_ns;
}

/* ---- streams ------------------------------------------------------ */

static inline bool seen_get(const struct stats_stream *s, uint32_t seq)
{
	uint32_t b = seq % STATS_WINDOW;

	return s->seen[b / 64] >> (b % 64) & 1;
}

static inline void seen_set(struct stats_stream *s, uint32_t seq)
{
	uint32_t b = seq % STATS_WINDOW;

	s->seen[b / 64] |= (uint64_t)1 << (b % 64);
}

static inline void seen_clear(struct stats_stream *s, uint32_t seq)
{
	uint32_t b = seq % STATS_WINDOW;

	s->seen[b / 64] &= ~((uint64_t)1 << (b % 64));
}

/* RFC 3550 §6.4.1: J += (|D| - J) / 16, kept as 16 J in integers (the
 * RFC's own A.8 form). Transit times are in ns of one clock, so D is
 * exact. */
static void jitter_update(struct stats_stream *s, uint64_t send_ns, uint64_t recv_ns, bool first)
{
	int64_t transit = (int64_t)(recv_ns - send_ns);
	int64_t d;

	if (!first) {
		d = transit - s->last_transit_ns;
		if (d < 0)
			d = -d;
		s->jitter16_ns += (uint64_t)d - ((s->jitter16_ns + 8) >> 4);
	}
	s->last_transit_ns = transit;
}

enum stats_rx stats_stream_receive(struct stats_stream *s, uint16_t seq, uint64_t send_ns,
				   uint64_t recv_ns)
{
	uint32_t ext, behind;

	if (!s->started) {
		s->started = true;
		s->max_seq = seq;
		seen_set(s, seq);
		s->received = 1;
		jitter_update(s, send_ns, recv_ns, true);
		return STATS_RX_NEW;
	}
	/* Extend to the 32-bit value nearest the highest seen. */
	ext = (s->max_seq & ~0xffffu) | seq;
	if (ext > s->max_seq && ext - s->max_seq > 0x8000u && ext >= 0x10000u)
		ext -= 0x10000u;
	else if (ext < s->max_seq && s->max_seq - ext > 0x8000u)
		ext += 0x10000u;

	if (ext > s->max_seq) {
		uint32_t gap = ext - s->max_seq;

		if (gap >= STATS_WINDOW) {
			memset(s->seen, 0, sizeof(s->seen));
		} else {
			for (uint32_t q = s->max_seq + 1; q != ext; q++)
				seen_clear(s, q);
		}
		s->max_seq = ext;
		seen_set(s, ext);
		s->received++;
		jitter_update(s, send_ns, recv_ns, false);
		return STATS_RX_NEW;
	}
	behind = s->max_seq - ext;
	if (behind < STATS_WINDOW) {
		if (seen_get(s, ext)) {
			s->duplicates++;
			return STATS_RX_DUPLICATE;
		}
		seen_set(s, ext);
	}
	/* Older than the window: cannot be told from a duplicate, taken as
	 * late (a sender that repeats packets that old is not simulated). */
	s->received++;
	s->reordered++;
	jitter_update(s, send_ns, recv_ns, false);
	return STATS_RX_REORDERED;
}

uint64_t stats_stream_jitter_ns(const struct stats_stream *s)
{
	return s->jitter16_ns >> 4;
}

/* ---- blocks ------------------------------------------------------- */

void stats_block_snapshot(struct stats_block *dst, const struct stats_block *src)
{
	for (int i = 0; i < STATS__COUNT; i++)
		dst->c[i] = stats_read(&src->c[i]);
	for (int i = 0; i < STATS_ERR_SLOTS; i++)
		dst->errors[i] = stats_read(&src->errors[i]);
	dst->jitter_sum_ns = stats_read(&src->jitter_sum_ns);
	dst->jitter_streams = stats_read(&src->jitter_streams);
	for (uint32_t i = 0; i < STATS_HIST_BUCKETS; i++)
		dst->latency.count[i] = stats_read(&src->latency.count[i]);
	dst->latency.total = stats_read(&src->latency.total);
	dst->latency.sum_ns = stats_read(&src->latency.sum_ns);
	dst->latency.max_ns = stats_read(&src->latency.max_ns);
}

void stats_block_merge(struct stats_block *dst, const struct stats_block *src)
{
	for (int i = 0; i < STATS__COUNT; i++)
		dst->c[i] += src->c[i];
	for (int i = 0; i < STATS_ERR_SLOTS; i++)
		dst->errors[i] += src->errors[i];
	dst->jitter_sum_ns += src->jitter_sum_ns;
	dst->jitter_streams += src->jitter_streams;
	stats_hist_merge(&dst->latency, &src->latency);
}

const char *stats_error_name(unsigned idx, char *buf, size_t len)
{
	static const char *const names[] = {
		[STATS_ERR_TIMEOUT] = "timeout",
		[STATS_ERR_CONNECT] = "connect",
		[STATS_ERR_CLOSED] = "closed",
		[STATS_ERR_REFUSED] = "refused",
		[STATS_ERR_BAD_RESPONSE] = "bad_response",
		[STATS_ERR_SETUP_TIMEOUT] = "setup_timeout",
		[STATS_ERR_SOCKET] = "socket",
	};

	if (idx < sizeof(names) / sizeof(names[0]) && names[idx])
		return names[idx];
	snprintf(buf, len, "%u", idx);
	return buf;
}

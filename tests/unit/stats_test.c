/* stats: the latency histogram (bucket layout, percentiles against a
 * sorted reference within the 1% bound, mean and max), RFC 3550 jitter on
 * synthetic streams with known answers, loss/reorder/duplicate
 * accounting (sequence wrap included), and merging workers' blocks. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "src/load/stats.h"

/* Deterministic randomness (splitmix64): a failure reproduces. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Log-uniform in [lo, hi]: every decade of latency equally represented. */
static uint64_t rng_log_uniform(double lo, double hi)
{
	double u = (double)(rng_next() >> 11) / (double)(1ull << 53);

	return (uint64_t)exp(log(lo) + u * (log(hi) - log(lo)));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static struct stats_hist *hist_new(void)
{
	struct stats_hist *h = calloc(1, sizeof(*h));

	cr_assert_not_null(h);
	return h;
}

static struct stats_block *block_new(void)
{
	struct stats_block *b = aligned_alloc(64, sizeof(*b));

	cr_assert_not_null(b);
	memset(b, 0, sizeof(*b));
	return b;
}

/* The nearest-rank percentile of sorted values. */
static uint64_t ref_percentile(const uint64_t *sorted, size_t n, double pct)
{
	size_t rank = (size_t)ceil(pct / 100.0 * (double)n);

	if (rank < 1)
		rank = 1;
	return sorted[rank - 1];
}

/* ---- histogram layout ----------------------------------------------- */

Test(stats, bucket_layout_covers_and_bounds_error)
{
	uint32_t prev = 0;

	/* Exact below 256 ns. */
	for (uint64_t v = 0; v < 256; v++) {
		cr_assert_eq(stats_hist_index(v), v);
		cr_assert_eq(stats_hist_bucket_width((uint32_t)v), 1);
	}
	/* Every value lands in a bucket that contains it, indexes never go
	 * backwards, and a bucket is at most 1/128 of its lower bound wide. */
	for (uint64_t v = 1; v < 20000000000ull; v += 1 + v / 97) {
		uint32_t i = stats_hist_index(v);
		uint64_t lo = stats_hist_bucket_lo(i), w = stats_hist_bucket_width(i);

		cr_assert_lt(i, STATS_HIST_BUCKETS);
		cr_assert_geq(i, prev, "index went backwards at %llu", (unsigned long long)v);
		prev = i;
		if (v < (1ull << STATS_HIST_TOP_BIT)) {
			cr_assert(lo <= v && v < lo + w, "%llu not in [%llu, +%llu)",
				  (unsigned long long)v, (unsigned long long)lo,
				  (unsigned long long)w);
			if (v >= 256)
				cr_assert_leq(w * 128, lo);
		}
	}
	/* 10 s is inside the range; beyond 2^34 ns everything shares the top. */
	cr_assert_lt(stats_hist_index(10000000000ull), STATS_HIST_BUCKETS - 1);
	cr_assert_eq(stats_hist_index(UINT64_MAX), STATS_HIST_BUCKETS - 1);
	/* Adjacent buckets tile the line without gaps. */
	for (uint32_t i = 0; i + 1 < STATS_HIST_BUCKETS; i++)
		cr_assert_eq(stats_hist_bucket_lo(i) + stats_hist_bucket_width(i),
			     stats_hist_bucket_lo(i + 1), "gap after bucket %u", i);
}

/* ---- percentiles ---------------------------------------------------- */

Test(stats, percentiles_within_one_percent_of_sorted_reference)
{
	static const double pcts[] = { 0.1, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100 };
	const size_t n = 200000;
	uint64_t *v = malloc(n * sizeof(*v));
	struct stats_hist *h = hist_new();
	uint64_t sum = 0, max = 0;

	cr_assert_not_null(v);
	rng_state = 42;
	for (size_t i = 0; i < n; i++) {
		v[i] = rng_log_uniform(1e3, 1e10); /* 1 us .. 10 s */
		stats_hist_record(h, v[i]);
		sum += v[i];
		if (v[i] > max)
			max = v[i];
	}
	qsort(v, n, sizeof(*v), cmp_u64);
	cr_assert_eq(h->total, n);
	cr_assert_eq(h->max_ns, max, "max is exact");
	cr_assert_float_eq(stats_hist_mean(h), (double)sum / (double)n, 1e-6 * (double)sum / n,
			   "mean is exact");
	for (size_t k = 0; k < sizeof(pcts) / sizeof(pcts[0]); k++) {
		uint64_t want = ref_percentile(v, n, pcts[k]);
		uint64_t got = stats_hist_percentile(h, pcts[k]);
		double err = fabs((double)got - (double)want) / (double)want;

		cr_assert_leq(err, 0.01, "p%g: got %llu, sorted reference %llu (%.3f%%)", pcts[k],
			      (unsigned long long)got, (unsigned long long)want, err * 100);
	}
	free(v);
	free(h);
}

Test(stats, percentiles_of_a_narrow_distribution)
{
	/* Loopback latencies: tens of microseconds, tightly packed. */
	const size_t n = 50000;
	uint64_t *v = malloc(n * sizeof(*v));
	struct stats_hist *h = hist_new();

	cr_assert_not_null(v);
	rng_state = 7;
	for (size_t i = 0; i < n; i++) {
		v[i] = 30000 + rng_next() % 20000;
		stats_hist_record(h, v[i]);
	}
	qsort(v, n, sizeof(*v), cmp_u64);
	for (double p = 1; p <= 100; p += 0.5) {
		uint64_t want = ref_percentile(v, n, p), got = stats_hist_percentile(h, p);

		cr_assert_leq(fabs((double)got - (double)want) / (double)want, 0.01, "p%g", p);
	}
	free(v);
	free(h);
}

Test(stats, empty_and_single_value)
{
	struct stats_hist *h = hist_new();

	cr_assert_eq(stats_hist_percentile(h, 50), 0);
	cr_assert_eq(stats_hist_mean(h), 0.0);
	stats_hist_record(h, 123456);
	for (double p = 0.1; p <= 100; p += 9.9) {
		uint64_t got = stats_hist_percentile(h, p);

		cr_assert_leq(fabs((double)got - 123456.0) / 123456.0, 0.01);
		cr_assert_leq(got, 123456, "never above the maximum");
	}
	free(h);
}

/* ---- jitter --------------------------------------------------------- */

Test(stats, jitter_zero_for_constant_transit)
{
	struct stats_stream s;

	memset(&s, 0, sizeof(s));
	for (uint32_t i = 0; i < 500; i++)
		stats_stream_receive(&s, (uint16_t)i, i * 20000000ull, i * 20000000ull + 150000);
	cr_assert_eq(stats_stream_jitter_ns(&s), 0);
}

Test(stats, jitter_known_answer)
{
	struct stats_stream s;
	double ref = 0;

	/* Transit alternates 1 ms and 3 ms: |D| is 2 ms for every packet but
	 * the first, so J follows J += (2 ms - J) / 16 and tends to 2 ms. */
	memset(&s, 0, sizeof(s));
	for (uint32_t i = 0; i < 400; i++) {
		uint64_t send = 1000000000ull + i * 20000000ull;
		uint64_t transit = i % 2 ? 3000000 : 1000000;

		stats_stream_receive(&s, (uint16_t)i, send, send + transit);
		if (i)
			ref += (2000000.0 - ref) / 16.0;
		if (i == 16) {
			/* After 16 steps: 2 ms * (1 - (15/16)^16) = 1.2808 ms. */
			cr_assert_float_eq((double)stats_stream_jitter_ns(&s), ref, 2000.0);
			cr_assert_float_eq(ref, 2e6 * (1 - pow(15.0 / 16.0, 16)), 1.0);
		}
	}
	cr_assert_float_eq((double)stats_stream_jitter_ns(&s), 2000000.0, 2000.0,
			   "jitter %llu ns, expected 2 ms",
			   (unsigned long long)stats_stream_jitter_ns(&s));
}

Test(stats, jitter_matches_the_rfc_formula_on_random_transit)
{
	struct stats_stream s;
	double ref = 0;
	int64_t prev = 0;

	memset(&s, 0, sizeof(s));
	rng_state = 99;
	for (uint32_t i = 0; i < 3000; i++) {
		uint64_t send = i * 20000000ull;
		int64_t transit = 50000 + (int64_t)(rng_next() % 400000);

		stats_stream_receive(&s, (uint16_t)i, send, send + (uint64_t)transit);
		if (i)
			ref += (fabs((double)(transit - prev)) - ref) / 16.0;
		prev = transit;
	}
	/* The integer form (RFC 3550 A.8) rounds; it stays within 0.1%. */
	cr_assert_float_eq((double)stats_stream_jitter_ns(&s), ref, ref * 0.001);
}

/* ---- loss, reordering, duplicates -------------------------------------- */

static enum stats_rx rx(struct stats_stream *s, uint16_t seq)
{
	return stats_stream_receive(s, seq, 1000, 2000);
}

Test(stats, reorder_duplicate_and_loss)
{
	struct stats_stream s;

	memset(&s, 0, sizeof(s));
	/* Sent 0..7; 6 is lost, 3 comes after 4, 5 arrives twice. */
	cr_assert_eq(rx(&s, 0), STATS_RX_NEW);
	cr_assert_eq(rx(&s, 1), STATS_RX_NEW);
	cr_assert_eq(rx(&s, 2), STATS_RX_NEW);
	cr_assert_eq(rx(&s, 4), STATS_RX_NEW);
	cr_assert_eq(rx(&s, 3), STATS_RX_REORDERED);
	cr_assert_eq(rx(&s, 5), STATS_RX_NEW);
	cr_assert_eq(rx(&s, 5), STATS_RX_DUPLICATE);
	cr_assert_eq(rx(&s, 7), STATS_RX_NEW);
	cr_assert_eq(rx(&s, 3), STATS_RX_DUPLICATE, "a late packet seen twice is a duplicate");
	cr_assert_eq(s.received, 7);
	cr_assert_eq(s.reordered, 1);
	cr_assert_eq(s.duplicates, 2);
	cr_assert_eq(8 - s.received, 1, "one lost");
	cr_assert_eq(s.max_seq, 7);
	/* The lost packet turning up late is new, and reordered. */
	cr_assert_eq(rx(&s, 6), STATS_RX_REORDERED);
	cr_assert_eq(s.received, 8);
}

Test(stats, sequence_wrap)
{
	struct stats_stream s;

	memset(&s, 0, sizeof(s));
	cr_assert_eq(rx(&s, 65533), STATS_RX_NEW);
	cr_assert_eq(rx(&s, 65534), STATS_RX_NEW);
	cr_assert_eq(rx(&s, 0), STATS_RX_NEW, "65535 skipped: 0 is after the wrap");
	cr_assert_eq(rx(&s, 65535), STATS_RX_REORDERED, "late, from before the wrap");
	cr_assert_eq(rx(&s, 1), STATS_RX_NEW);
	cr_assert_eq(rx(&s, 65534), STATS_RX_DUPLICATE);
	cr_assert_eq(rx(&s, 1), STATS_RX_DUPLICATE);
	cr_assert_eq(s.max_seq, 65536u + 1);
	cr_assert_eq(s.received, 5);
	cr_assert_eq(s.reordered, 1);
	cr_assert_eq(s.duplicates, 2);
	/* Many full wraps in order: no false duplicates or reorders. */
	for (uint32_t i = 2; i < 5 * 65536; i++)
		cr_assert_eq(rx(&s, (uint16_t)i), STATS_RX_NEW, "seq %u", i);
	cr_assert_eq(s.duplicates, 2);
	cr_assert_eq(s.reordered, 1);
}

Test(stats, gaps_clear_the_window)
{
	struct stats_stream s;

	memset(&s, 0, sizeof(s));
	for (uint16_t i = 0; i < 10; i++)
		rx(&s, i);
	/* A burst of 2000 losses (longer than the window), then 10 old
	 * sequence numbers reused modulo the window must not look seen. */
	cr_assert_eq(rx(&s, 2010), STATS_RX_NEW);
	cr_assert_eq(rx(&s, 2010 - 1), STATS_RX_REORDERED);
	cr_assert_eq(rx(&s, 2010 - STATS_WINDOW + 1), STATS_RX_REORDERED);
	/* Older than the window: late, not provably a duplicate. */
	cr_assert_eq(rx(&s, 5), STATS_RX_REORDERED);
	cr_assert_eq(s.duplicates, 0);
	/* A short gap clears exactly the skipped numbers. */
	cr_assert_eq(rx(&s, 2015), STATS_RX_NEW);
	for (uint16_t q = 2011; q < 2015; q++)
		cr_assert_eq(rx(&s, q), STATS_RX_REORDERED, "seq %u", q);
	cr_assert_eq(rx(&s, 2013), STATS_RX_DUPLICATE);
}

/* ---- merging -------------------------------------------------------- */

Test(stats, merge_equals_one_histogram_of_everything)
{
	struct stats_block *a = block_new(), *b = block_new(), *sum = block_new();
	struct stats_hist *all = hist_new();

	rng_state = 5;
	for (int i = 0; i < 30000; i++) {
		uint64_t v = rng_log_uniform(1e3, 1e8);

		stats_hist_record(i % 3 ? &a->latency : &b->latency, v);
		stats_hist_record(all, v);
	}
	stats_add(&a->c[STATS_SENT], 100);
	stats_add(&b->c[STATS_SENT], 23);
	stats_add(&a->errors[401], 2);
	stats_add(&b->errors[401], 1);
	stats_add(&b->errors[STATS_ERR_TIMEOUT], 4);
	a->jitter_sum_ns = 3000;
	a->jitter_streams = 2;
	b->jitter_sum_ns = 1000;
	b->jitter_streams = 2;

	stats_block_merge(sum, a);
	stats_block_merge(sum, b);
	cr_assert_eq(sum->c[STATS_SENT], 123);
	cr_assert_eq(sum->errors[401], 3);
	cr_assert_eq(sum->errors[STATS_ERR_TIMEOUT], 4);
	cr_assert_eq(sum->jitter_sum_ns / sum->jitter_streams, 1000, "mean over all streams");
	cr_assert_eq(sum->latency.total, all->total);
	cr_assert_eq(sum->latency.sum_ns, all->sum_ns);
	cr_assert_eq(sum->latency.max_ns, all->max_ns);
	cr_assert_eq(memcmp(sum->latency.count, all->count, sizeof(all->count)), 0);
	for (double p = 1; p <= 100; p += 1)
		cr_assert_eq(stats_hist_percentile(&sum->latency, p),
			     stats_hist_percentile(all, p));
	free(a);
	free(b);
	free(sum);
	free(all);
}

Test(stats, snapshot_and_diff_give_one_interval)
{
	struct stats_block *w = block_new(), *t0 = block_new(), *t1 = block_new();
	struct stats_hist *d = hist_new();

	for (int i = 0; i < 1000; i++)
		stats_hist_record(&w->latency, 10000);
	stats_add(&w->c[STATS_RECEIVED], 1000);
	stats_block_snapshot(t0, w);
	for (int i = 0; i < 1000; i++)
		stats_hist_record(&w->latency, 1000000);
	stats_add(&w->c[STATS_RECEIVED], 1000);
	stats_block_snapshot(t1, w);

	cr_assert_eq(t1->c[STATS_RECEIVED] - t0->c[STATS_RECEIVED], 1000);
	stats_hist_diff(d, &t1->latency, &t0->latency);
	cr_assert_eq(d->total, 1000);
	/* Only the second interval's values: all 1 ms. */
	cr_assert_float_eq((double)stats_hist_percentile(d, 1), 1e6, 1e4);
	cr_assert_float_eq((double)stats_hist_percentile(d, 50), 1e6, 1e4);
	cr_assert_float_eq(stats_hist_mean(d), 1e6, 1.0);
	free(w);
	free(t0);
	free(t1);
	free(d);
}

Test(stats, error_names)
{
	char buf[16];

	cr_assert_str_eq(stats_error_name(STATS_ERR_TIMEOUT, buf, sizeof(buf)), "timeout");
	cr_assert_str_eq(stats_error_name(STATS_ERR_SETUP_TIMEOUT, buf, sizeof(buf)),
			 "setup_timeout");
	cr_assert_str_eq(stats_error_name(486, buf, sizeof(buf)), "486");
	cr_assert_str_eq(stats_error_name(99, buf, sizeof(buf)), "99");
}

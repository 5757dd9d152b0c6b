/* metrics: per-worker counter blocks, their sums and the Prometheus
 * text rendering (totals, per-worker lines, drop reasons, truncation). */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/sn/metrics.h"

#define RENDER_CAP (256 * 1024)

/* Two workers' blocks, zeroed: the aligned struct is too big and too
 * aligned to leave to the stack of every test. */
static struct metrics_block *blocks_new(void)
{
	struct metrics_block *b = aligned_alloc(64, 2 * sizeof(*b));

	cr_assert_not_null(b);
	memset(b, 0, 2 * sizeof(*b));
	return b;
}

/* True when text holds want as a whole line. */
static bool has_line(const char *text, const char *want)
{
	size_t n = strlen(want);

	for (const char *p = text; (p = strstr(p, want)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

Test(metrics, add_inc_set_sum)
{
	struct metrics_block *b = blocks_new();

	metrics_inc(&b[0], M_RX_PACKETS);
	metrics_add(&b[1], M_RX_PACKETS, 2);
	metrics_add(&b[0], M_RX_BYTES, 1000);
	metrics_add(&b[0], M_RX_BYTES, 24);
	metrics_add(&b[1], M_RX_BYTES, 76);
	cr_assert_eq(metrics_get(&b[0], M_RX_PACKETS), 1);
	cr_assert_eq(metrics_get(&b[1], M_RX_PACKETS), 2);
	cr_assert_eq(metrics_sum(b, 2, M_RX_PACKETS), 3);
	cr_assert_eq(metrics_sum(b, 2, M_RX_BYTES), 1100);
	cr_assert_eq(metrics_sum(b, 1, M_RX_BYTES), 1024, "n limits the blocks summed");
	cr_assert_eq(metrics_sum(b, 0, M_RX_BYTES), 0);

	/* A gauge is set, not added. */
	metrics_set(&b[0], M_ALLOCS_ACTIVE, 7);
	metrics_set(&b[0], M_ALLOCS_ACTIVE, 5);
	metrics_set(&b[1], M_ALLOCS_ACTIVE, 1);
	cr_assert_eq(metrics_sum(b, 2, M_ALLOCS_ACTIVE), 6);

	/* Counters are independent of each other. */
	cr_assert_eq(metrics_sum(b, 2, M_TX_PACKETS), 0);
	cr_assert_eq(metrics_sum(b, 2, M_DROP_TRUNCATED), 0);

	/* 64-bit: no wrap at 2^32. */
	metrics_add(&b[0], M_TX_BYTES, 0xffffffffull);
	metrics_add(&b[1], M_TX_BYTES, 2);
	cr_assert_eq(metrics_sum(b, 2, M_TX_BYTES), 0x100000001ull);
	free(b);
}

Test(metrics, render_totals_and_workers)
{
	struct metrics_block *b = blocks_new();
	char *buf = malloc(RENDER_CAP);
	int n;

	cr_assert_not_null(buf);
	metrics_inc(&b[0], M_RX_PACKETS);
	metrics_add(&b[1], M_RX_PACKETS, 2);
	metrics_set(&b[1], M_TCP_ACTIVE, 9);
	metrics_add(&b[0], M_DROP_TRUNCATED, 4);
	metrics_add(&b[1], M_DROP_TRUNCATED, 3);
	metrics_inc(&b[1], M_DROP_TCP_FRAMING);

	n = metrics_render(b, 2, buf, RENDER_CAP);
	cr_assert_gt(n, 0);
	cr_assert_eq((size_t)n, strlen(buf), "the return value is the text's length");
	cr_assert_eq(buf[n - 1], '\n');

	cr_assert(has_line(buf, "# TYPE parley_sn_rx_packets_total counter"));
	cr_assert(has_line(buf, "parley_sn_rx_packets_total 3"), "%s", buf);
	cr_assert(has_line(buf, "parley_sn_rx_packets_total{worker=\"0\"} 1"));
	cr_assert(has_line(buf, "parley_sn_rx_packets_total{worker=\"1\"} 2"));
	cr_assert(has_line(buf, "parley_sn_tx_packets_total 0"));

	cr_assert(has_line(buf, "# TYPE parley_sn_tcp_connections gauge"));
	cr_assert(has_line(buf, "parley_sn_tcp_connections 9"));
	cr_assert(has_line(buf, "parley_sn_tcp_connections{worker=\"0\"} 0"));
	cr_assert(has_line(buf, "parley_sn_tcp_connections{worker=\"1\"} 9"));

	/* Drops are summed over workers, one line per reason. */
	cr_assert(has_line(buf, "# TYPE parley_sn_dropped_total counter"));
	cr_assert(has_line(buf, "parley_sn_dropped_total{reason=\"truncated\"} 7"));
	cr_assert(has_line(buf, "parley_sn_dropped_total{reason=\"tcp_framing\"} 1"));
	cr_assert(has_line(buf, "parley_sn_dropped_total{reason=\"stun_short\"} 0"));
	cr_assert(has_line(buf, "parley_sn_dropped_total{reason=\"send_failed\"} 0"),
		  "the last reason is rendered too");
	free(buf);
	free(b);
}

Test(metrics, every_name_rendered_once)
{
	static const char *const names[] = {
#define X_NAME(id, name, ...) "parley_sn_" name " ",
		METRICS_COUNTERS(X_NAME)
		METRICS_GAUGES(X_NAME)
#undef X_NAME
	};
	struct metrics_block *b = blocks_new();
	char *buf = malloc(RENDER_CAP);
	char line[128];

	cr_assert_not_null(buf);
	cr_assert_gt(metrics_render(b, 2, buf, RENDER_CAP), 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *p;

		/* The unlabelled total "name 0" appears exactly once. */
		snprintf(line, sizeof(line), "\n%s0\n", names[i]);
		p = strstr(buf, line);
		cr_assert_not_null(p, "no total for %s", names[i]);
		cr_assert_null(strstr(p + 1, line), "total for %s twice", names[i]);
	}
	free(buf);
	free(b);
}

Test(metrics, small_cap_truncates_at_a_line_end)
{
	struct metrics_block *b = blocks_new();
	char *full = malloc(RENDER_CAP);
	char small[300];
	int n_full, n;

	cr_assert_not_null(full);
	metrics_add(&b[0], M_RX_PACKETS, 12345);
	n_full = metrics_render(b, 2, full, RENDER_CAP);
	cr_assert_gt(n_full, (int)sizeof(small), "the full text must not fit the small buffer");

	memset(small, 'Z', sizeof(small));
	n = metrics_render(b, 2, small, sizeof(small));
	cr_assert_gt(n, 0);
	cr_assert_lt((size_t)n, sizeof(small), "room is kept for the NUL");
	cr_assert_eq(small[n], '\0');
	cr_assert_eq(small[n - 1], '\n', "cut mid-line: \"%s\"", small);
	cr_assert_eq((size_t)n, strlen(small));
	/* A prefix of the whole text, not something else. */
	cr_assert_eq(memcmp(small, full, (size_t)n), 0);
	/* Whole lines only: the next byte of the full text starts a line. */
	cr_assert_eq(full[n - 1], '\n');

	/* Every cap from tiny to large cuts cleanly and never overruns. */
	for (size_t cap = 1; cap < 2048; cap += 37) {
		char *buf = malloc(cap + 16);

		cr_assert_not_null(buf);
		memset(buf, 'Z', cap + 16);
		n = metrics_render(b, 2, buf, cap);
		if (n == -ENOSPC) {
			/* Only when not even the first HELP/TYPE pair fits. */
			cr_assert_lt(cap, 200, "-ENOSPC with cap %zu", cap);
		} else {
			cr_assert_gt(n, 0);
			cr_assert_lt((size_t)n, cap);
			cr_assert_eq(buf[n - 1], '\n', "cap %zu", cap);
			cr_assert_eq(memcmp(buf, full, (size_t)n), 0, "cap %zu", cap);
		}
		for (size_t i = cap; i < cap + 16; i++)
			cr_assert_eq(buf[i], 'Z', "wrote past cap %zu", cap);
		free(buf);
	}
	free(full);
	free(b);
}

Test(metrics, no_room_is_enospc)
{
	struct metrics_block *b = blocks_new();
	char buf[16] = "untouched";

	cr_assert_eq(metrics_render(b, 2, buf, 0), -ENOSPC);
	cr_assert_str_eq(buf, "untouched", "cap 0 must not write");
	/* The first line ("# HELP parley_sn_rx_packets_total ...") needs more. */
	cr_assert_eq(metrics_render(b, 2, buf, sizeof(buf)), -ENOSPC);
	free(b);
}

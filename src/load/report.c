/* report: see report.h. */
#include "src/load/report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define PROG "parley-load"

int report_init(struct report *r, const struct load_config *cfg, struct engine **eng,
		uint32_t n, const struct load_run *run, bool tty, bool quiet, FILE *csv)
{
	memset(r, 0, sizeof(*r));
	r->cfg = cfg;
	r->eng = eng;
	r->n = n;
	r->run = run;
	r->tty = tty;
	r->quiet = quiet;
	r->csv = csv;
	r->prev_ms = run->start_ms;
	r->prev = aligned_alloc(64, sizeof(struct stats_block));
	r->cur = aligned_alloc(64, sizeof(struct stats_block));
	r->tmp = aligned_alloc(64, sizeof(struct stats_block));
	r->diff = malloc(sizeof(struct stats_hist));
	if (!r->prev || !r->cur || !r->tmp || !r->diff) {
		report_fini(r);
		return -ENOMEM;
	}
	memset(r->prev, 0, sizeof(*r->prev));
	return 0;
}

void report_fini(struct report *r)
{
	free(r->prev);
	free(r->cur);
	free(r->tmp);
	free(r->diff);
	free(r->rows);
	r->prev = r->cur = r->tmp = NULL;
	r->diff = NULL;
	r->rows = NULL;
}

/* ---- once a second ----------------------------------------------------- */

static void merged_snapshot(struct report *r, struct stats_block *out)
{
	memset(out, 0, sizeof(*out));
	for (uint32_t i = 0; i < r->n; i++) {
		stats_block_snapshot(r->tmp, r->eng[i]->stats);
		stats_block_merge(out, r->tmp);
	}
}

static uint64_t calls_up_now(const struct stats_block *b)
{
	return b->c[STATS_CALLS_UP] - b->c[STATS_CALLS_DOWN];
}

void report_tick(struct report *r, uint64_t now_ms)
{
	const struct load_config *cfg = r->cfg;
	double secs = (double)(now_ms - r->prev_ms) / 1000.0;
	uint64_t sent, recv;
	struct report_row row;
	struct stats_block *swap;

	merged_snapshot(r, r->cur);
	sent = r->cur->c[STATS_SENT] - r->prev->c[STATS_SENT];
	recv = r->cur->c[STATS_RECEIVED] - r->prev->c[STATS_RECEIVED];
	stats_hist_diff(r->diff, &r->cur->latency, &r->prev->latency);
	memset(&row, 0, sizeof(row));
	row.t = (uint32_t)((now_ms - r->run->start_ms + 500) / 1000);
	row.calls_up = cfg->mode == LOAD_RELAY ? calls_up_now(r->cur) : cfg->sockets;
	row.pps_out = secs > 0 ? (double)sent / secs : 0;
	row.pps_in = secs > 0 ? (double)recv / secs : 0;
	row.loss_pct = sent > recv ? 100.0 * (double)(sent - recv) / (double)sent : 0.0;
	row.p50_us = (double)stats_hist_percentile(r->diff, 50) / 1000.0;
	row.p99_us = (double)stats_hist_percentile(r->diff, 99) / 1000.0;
	swap = r->prev;
	r->prev = r->cur;
	r->cur = swap;
	r->prev_ms = now_ms;

	if (r->n_rows == r->cap_rows) {
		size_t cap = r->cap_rows ? 2 * r->cap_rows : 64;
		struct report_row *rows = realloc(r->rows, cap * sizeof(*rows));

		if (rows) {
			r->rows = rows;
			r->cap_rows = cap;
		}
	}
	if (r->n_rows < r->cap_rows)
		r->rows[r->n_rows++] = row;
	if (r->csv) {
		fprintf(r->csv, "%u,%llu,%.0f,%.0f,%.3f,%.1f,%.1f\n", row.t,
			(unsigned long long)row.calls_up, row.pps_out, row.pps_in, row.loss_pct,
			row.p50_us, row.p99_us);
		fflush(r->csv);
	}
	if (r->quiet)
		return;
	if (r->tty) {
		r->line_open = true;
		if (cfg->mode == LOAD_RELAY)
			fprintf(stderr,
				"\r%4us  calls %llu/%u  out %.0f pps  in %.0f pps  loss %.2f%%  "
				"p50 %.0f us  p99 %.0f us   ",
				row.t, (unsigned long long)row.calls_up, cfg->calls, row.pps_out,
				row.pps_in, row.loss_pct, row.p50_us, row.p99_us);
		else
			fprintf(stderr, "\r%4us  requests %.0f/s  answers %.0f/s  p50 %.0f us  "
					"p99 %.0f us   ",
				row.t, row.pps_out, row.pps_in, row.p50_us, row.p99_us);
	} else if (cfg->mode == LOAD_RELAY) {
		fprintf(stderr,
			PROG ": t=%us calls_up=%llu pps_out=%.0f pps_in=%.0f loss=%.2f%% "
			     "p50_us=%.0f p99_us=%.0f\n",
			row.t, (unsigned long long)row.calls_up, row.pps_out, row.pps_in,
			row.loss_pct, row.p50_us, row.p99_us);
	} else {
		fprintf(stderr,
			PROG ": t=%us requests_per_s=%.0f answers_per_s=%.0f p50_us=%.0f "
			     "p99_us=%.0f\n",
			row.t, row.pps_out, row.pps_in, row.p50_us, row.p99_us);
	}
}


void report_finish(struct report *r, struct report_result *res, uint64_t setup_end_ms,
		   uint64_t media_end_ms)
{
	struct stats_block *b = res->b;
	uint64_t first_alloc = 0, last_alloc = 0, last_up = 0;
	struct rusage ru;

	memset(b, 0, sizeof(*b));
	for (uint32_t i = 0; i < r->n; i++) {
		struct engine *e = r->eng[i];
		uint64_t fa = atomic_load(&e->first_alloc_ms), la = atomic_load(&e->last_alloc_ms);
		uint64_t lu = atomic_load(&e->last_up_ms);

		stats_block_merge(b, e->stats);
		if (fa && (!first_alloc || fa < first_alloc))
			first_alloc = fa;
		if (la > last_alloc)
			last_alloc = la;
		if (lu > last_up)
			last_up = lu;
	}
	res->sent = b->c[STATS_SENT];
	res->received = b->c[STATS_RECEIVED];
	res->lost = res->sent > res->received ? res->sent - res->received : 0;
	res->loss_pct = res->sent ? 100.0 * (double)res->lost / (double)res->sent : 0;
	res->p50 = (double)stats_hist_percentile(&b->latency, 50) / 1e3;
	res->p90 = (double)stats_hist_percentile(&b->latency, 90) / 1e3;
	res->p99 = (double)stats_hist_percentile(&b->latency, 99) / 1e3;
	res->p999 = (double)stats_hist_percentile(&b->latency, 99.9) / 1e3;
	res->max = (double)b->latency.max_ns / 1e3;
	res->mean = stats_hist_mean(&b->latency) / 1e3;
	res->jitter_ms = b->jitter_streams
				 ? (double)b->jitter_sum_ns / (double)b->jitter_streams / 1e6
				 : 0;
	res->calls_up = b->c[STATS_CALLS_UP];
	if (last_up)
		res->setup_s = (double)(last_up - r->run->start_ms) / 1e3;
	else
		res->setup_s = setup_end_ms ? (double)(setup_end_ms - r->run->start_ms) / 1e3 : 0;
	if (b->c[STATS_ALLOCS] && first_alloc) {
		double span = (double)(last_alloc - first_alloc) / 1e3;

		res->alloc_per_s = (double)b->c[STATS_ALLOCS] / (span > 0.001 ? span : 0.001);
	}
	res->media_s =
	    media_end_ms > setup_end_ms ? (double)(media_end_ms - setup_end_ms) / 1e3 : 0;
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		res->cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
			     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
		res->cpu_us_per_packet = res->sent ? res->cpu_s * 1e6 / (double)res->sent : 0;
	}
}

void report_break_line(struct report *r)
{
	if (r->line_open)
		fputc('\n', stderr);
	r->line_open = false;
}

/* ---- at the end --------------------------------------------------------- */

static void print_errors(FILE *f, const struct stats_block *b, bool json)
{
	bool any = false;
	char buf[16];

	for (unsigned i = 0; i < STATS_ERR_SLOTS; i++) {
		if (!b->errors[i])
			continue;
		if (json)
			fprintf(f, "%s\"%s\": %llu", any ? ", " : "",
				stats_error_name(i, buf, sizeof(buf)),
				(unsigned long long)b->errors[i]);
		else
			fprintf(f, "%s%s %llu", any ? ", " : "",
				stats_error_name(i, buf, sizeof(buf)),
				(unsigned long long)b->errors[i]);
		any = true;
	}
	if (!any && !json)
		fputs("none", f);
}

void report_print(const struct report *r, const struct report_result *res)
{
	const struct load_config *cfg = r->cfg;
	const struct stats_block *b = res->b;
	char a[ADDR_STRLEN];

	addr_format(&cfg->target, a, sizeof(a));
	if (cfg->mode == LOAD_RELAY) {
		printf("parley-load: relay mode, %s to %s, %s, %u worker%s\n",
		       cfg->tcp ? "TCP" : "UDP", a,
		       cfg->tcp_alloc ? "TCP allocations (RFC 6062)"
		       : cfg->send_indications ? "Send indications" : "channels", cfg->workers,
		       cfg->workers == 1 ? "" : "s");
		printf("  %-14s %llu of %u up, set-up %.3f s, %.0f allocations/s\n", "calls",
		       (unsigned long long)res->calls_up, cfg->calls, res->setup_s,
		       res->alloc_per_s);
		printf("  %-14s %.1f s at %u pps per stream, %u-byte packets\n", "media",
		       res->media_s, cfg->pps, cfg->size);
		printf("  %-14s sent %llu, received %llu, lost %llu (%.3f%%)\n", "packets",
		       (unsigned long long)res->sent, (unsigned long long)res->received,
		       (unsigned long long)res->lost, res->loss_pct);
		printf("  %-14s reordered %llu, duplicates %llu\n", "order",
		       (unsigned long long)b->c[STATS_REORDERED],
		       (unsigned long long)b->c[STATS_DUPLICATES]);
		printf("  %-14s p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n",
		       "one-way us", res->p50, res->p90, res->p99, res->p999, res->max, res->mean);
		printf("  %-14s %.4f ms (RFC 3550, mean over %llu streams)\n", "jitter",
		       res->jitter_ms, (unsigned long long)b->jitter_streams);
	} else {
		printf("parley-load: stun mode, %s to %s, %u sockets, %u requests/s, %u worker%s\n",
		       cfg->tcp ? "TCP" : "UDP", a, cfg->sockets, cfg->rate, cfg->workers,
		       cfg->workers == 1 ? "" : "s");
		printf("  %-14s sent %llu, answered %llu (%.0f/s), timeouts %llu\n", "requests",
		       (unsigned long long)res->sent, (unsigned long long)res->received,
		       res->media_s > 0 ? (double)res->received / res->media_s : 0,
		       (unsigned long long)b->c[STATS_TIMEOUTS]);
		printf("  %-14s p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n",
		       "round-trip us", res->p50, res->p90, res->p99, res->p999, res->max,
		       res->mean);
	}
	printf("  %-14s ", "errors");
	print_errors(stdout, b, false);
	printf("\n  %-14s %.3f s CPU, %.2f us per packet sent (each also received)\n",
	       "load itself", res->cpu_s, res->cpu_us_per_packet);
	if (b->c[STATS_SEND_BLOCKED] || b->c[STATS_SEND_ERRORS] || b->c[STATS_NO_BUFFERS] ||
	    b->c[STATS_MALFORMED] || b->c[STATS_RETRANSMITS] || b->c[STATS_STALE_NONCE])
		printf("  %-14s send blocked %llu, send errors %llu, rx no buffers %llu, "
		       "malformed %llu, retransmits %llu, stale nonces %llu\n",
		       "notes", (unsigned long long)b->c[STATS_SEND_BLOCKED],
		       (unsigned long long)b->c[STATS_SEND_ERRORS],
		       (unsigned long long)b->c[STATS_NO_BUFFERS],
		       (unsigned long long)b->c[STATS_MALFORMED],
		       (unsigned long long)b->c[STATS_RETRANSMITS],
		       (unsigned long long)b->c[STATS_STALE_NONCE]);
	fflush(stdout);
}

int report_json(const struct report *r, const struct report_result *res, const char *path)
{
	const struct load_config *cfg = r->cfg;
	const struct stats_block *b = res->b;
	bool stun = cfg->mode == LOAD_STUN;
	FILE *f = fopen(path, "w");
	char a[ADDR_STRLEN];

	if (!f) {
		fprintf(stderr, PROG ": --json %s: %s\n", path, strerror(errno));
		return -errno;
	}
	fprintf(f, "{\n  \"mode\": \"%s\",\n  \"target\": \"%s\",\n  \"transport\": \"%s\",\n",
		stun ? "stun" : "relay", addr_format(&cfg->target, a, sizeof(a)),
		cfg->tcp ? "tcp" : "udp");
	fprintf(f, "  \"workers\": %u,\n  \"send_indications\": %s,\n  \"tcp_allocations\": %s,\n",
		cfg->workers, cfg->send_indications ? "true" : "false",
		cfg->tcp_alloc ? "true" : "false");
	fprintf(f, "  \"calls\": %u,\n  \"calls_up\": %llu,\n", stun ? 0 : cfg->calls,
		(unsigned long long)res->calls_up);
	fprintf(f, "  \"duration_s\": %.3f,\n  \"media_s\": %.3f,\n", cfg->duration_ms / 1e3,
		res->media_s);
	fprintf(f, "  \"pps_per_stream\": %u,\n  \"size\": %u,\n", stun ? 0 : cfg->pps,
		stun ? STUN_HEADER_LEN : cfg->size);
	if (stun)
		fprintf(f, "  \"rate\": %u,\n  \"sockets\": %u,\n  \"answers\": %llu,\n"
			   "  \"timeouts\": %llu,\n  \"answers_per_s\": %.1f,\n",
			cfg->rate, cfg->sockets, (unsigned long long)res->received,
			(unsigned long long)b->c[STATS_TIMEOUTS],
			res->media_s > 0 ? (double)res->received / res->media_s : 0);
	fprintf(f, "  \"sent\": %llu,\n  \"received\": %llu,\n  \"lost\": %llu,\n"
		   "  \"loss_pct\": %.6f,\n",
		(unsigned long long)res->sent, (unsigned long long)res->received,
		(unsigned long long)res->lost, res->loss_pct);
	fprintf(f, "  \"bytes_sent\": %llu,\n  \"bytes_received\": %llu,\n",
		(unsigned long long)b->c[STATS_SENT_BYTES],
		(unsigned long long)b->c[STATS_RECEIVED_BYTES]);
	fprintf(f, "  \"reordered\": %llu,\n  \"duplicates\": %llu,\n",
		(unsigned long long)b->c[STATS_REORDERED],
		(unsigned long long)b->c[STATS_DUPLICATES]);
	fprintf(f, "  \"latency_us\": {\"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, "
		   "\"p999\": %.1f, \"max\": %.1f, \"mean\": %.1f},\n",
		res->p50, res->p90, res->p99, res->p999, res->max, res->mean);
	fprintf(f, "  \"jitter_ms\": %.6f,\n  \"setup_s\": %.3f,\n  \"alloc_per_s\": %.1f,\n",
		res->jitter_ms, res->setup_s, res->alloc_per_s);
	fprintf(f, "  \"requests\": %llu,\n  \"stale_nonces\": %llu,\n",
		(unsigned long long)b->c[STATS_REQUESTS],
		(unsigned long long)b->c[STATS_STALE_NONCE]);
	fprintf(f, "  \"retransmits\": %llu,\n  \"send_blocked\": %llu,\n"
		   "  \"send_errors\": %llu,\n",
		(unsigned long long)b->c[STATS_RETRANSMITS],
		(unsigned long long)b->c[STATS_SEND_BLOCKED],
		(unsigned long long)b->c[STATS_SEND_ERRORS]);
	fprintf(f, "  \"rx_no_buffers\": %llu,\n  \"malformed\": %llu,\n",
		(unsigned long long)b->c[STATS_NO_BUFFERS],
		(unsigned long long)b->c[STATS_MALFORMED]);
	fprintf(f, "  \"cpu_s\": %.3f,\n  \"cpu_us_per_packet\": %.3f,\n", res->cpu_s,
		res->cpu_us_per_packet);
	fputs("  \"errors\": {", f);
	print_errors(f, b, true);
	fputs("},\n  \"per_second\": [", f);
	for (size_t i = 0; i < r->n_rows; i++) {
		const struct report_row *s = &r->rows[i];

		fprintf(f, "%s\n    {\"t\": %u, \"calls_up\": %llu, \"pps_out\": %.0f, "
			   "\"pps_in\": %.0f, \"loss_pct\": %.3f, \"p50_us\": %.1f, "
			   "\"p99_us\": %.1f}",
			i ? "," : "", s->t, (unsigned long long)s->calls_up, s->pps_out, s->pps_in,
			s->loss_pct, s->p50_us, s->p99_us);
	}
	fputs(r->n_rows ? "\n  ]\n}\n" : "]\n}\n", f);
	if (fclose(f)) {
		fprintf(stderr, PROG ": --json %s: %s\n", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

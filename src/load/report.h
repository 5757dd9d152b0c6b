/* report: what parley-load shows and writes. Once a second it merges the
 * workers' stats blocks (racy but untorn reads, stats.h), takes the
 * difference from the previous second and prints a progress line (a
 * refreshed \r line on a terminal, a log line otherwise) and a CSV line;
 * at the end it merges the final blocks into the summary table (stdout)
 * and the --json object. Runs on the main thread only. */
#ifndef PARLEY_LOAD_REPORT_H
#define PARLEY_LOAD_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "src/load/engine.h"
#include "src/load/stats.h"

/* One second of the run. */
struct report_row {
	uint32_t t;                 /* seconds since the start */
	uint64_t calls_up;          /* relay: calls up now; stun: sockets */
	double pps_out, pps_in;     /* packets (stun: requests, answers) per second */
	double loss_pct;            /* of what was sent this second */
	double p50_us, p99_us;      /* latency of what arrived this second */
};

struct report {
	const struct load_config *cfg;
	struct engine **eng;        /* the workers, read racily while they run */
	uint32_t n;
	const struct load_run *run;
	bool tty;                   /* progress as one refreshed line */
	bool quiet;                 /* no progress at all */
	bool line_open;             /* tty: a progress line waits for its newline */
	FILE *csv;                  /* or NULL */
	struct stats_block *prev, *cur, *tmp;
	struct stats_hist *diff;
	uint64_t prev_ms;           /* when prev was taken */
	struct report_row *rows;
	size_t n_rows, cap_rows;
};

/* The final figures. */
struct report_result {
	struct stats_block *b;      /* all workers merged */
	uint64_t sent, received, lost;
	double loss_pct;
	double p50, p90, p99, p999, max, mean; /* latency, us */
	double jitter_ms;           /* mean over streams */
	double setup_s;             /* start to the last call up */
	double alloc_per_s;         /* first Allocate sent to the last granted */
	double media_s;             /* set-up end to media end */
	double cpu_s;               /* this process, user + system */
	double cpu_us_per_packet;   /* cpu_s per packet sent (each also received) */
	uint64_t calls_up;          /* calls that came up */
};

/* Sets up r for n workers; csv (owned by the caller) may be NULL.
 * Returns 0 or -ENOMEM. */
int report_init(struct report *r, const struct load_config *cfg, struct engine **eng,
		uint32_t n, const struct load_run *run, bool tty, bool quiet, FILE *csv);

/* Frees what report_init and report_tick allocated; takes a zeroed r. */
void report_fini(struct report *r);

/* A second is over at now_ms: its row, progress line and CSV line. */
void report_tick(struct report *r, uint64_t now_ms);

/* Ends the terminal's progress line, if one is showing, so that another
 * line can be printed. */
void report_break_line(struct report *r);

/* After the workers are joined: merges their blocks into res (res->b must
 * point to a zeroable block) and derives the figures. */
void report_finish(struct report *r, struct report_result *res, uint64_t setup_end_ms,
		   uint64_t media_end_ms);

/* The summary table, on stdout. */
void report_print(const struct report *r, const struct report_result *res);

/* Writes res and the per-second rows to path as one JSON object. Returns
 * 0 or -errno (message printed). */
int report_json(const struct report *r, const struct report_result *res, const char *path);

#endif

/* gidx-bench: global-index lookups per second on 1 reader thread and on
 * several at once, the way workers read the shards.
 *
 *   Fills N records (one thread, the writer of every shard), then for
 *   1, 2, 4, ... and T reader threads (default: the CPUs online) has each
 *   thread look up random names, most present and some absent, with a
 *   quiescent point every 64 lookups as an event-loop turn would. Each run
 *   is bounded by a lookup count and a time cap. With --churn one more
 *   thread replaces random records all along (new versions, retired and
 *   reclaimed through QSBR), so readers pay for real cache invalidations.
 *
 * Prints a Markdown table and, with --json FILE, the same as JSON.
 * Reports; asserts nothing (but exits 1 if a present name is not found). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/common/clock.h"
#include "src/common/qsbr.h"
#include "src/sn/gidx.h"

#define NAME_LEN    16 /* "u" + 10 digits, padded: fixed stride */
#define N_ABSENT    65536
#define TURN        64            /* lookups between quiescent points */
#define NOW         1700000000ull /* real-time seconds the records are valid at */
#define MAX_ROWS    16
#define MAX_THREADS 256

struct opts {
	uint32_t records;
	unsigned shards;
	unsigned threads;
	uint64_t lookups; /* per thread and run */
	double seconds;   /* cap per run */
	unsigned absent_pct;
	unsigned blob;
	bool churn;
	const char *json;
};

struct row {
	unsigned threads;
	double lps;    /* lookups per second, all threads */
	double writes; /* churn puts per second */
};

static struct opts o = {
    .records = 1000000,
    .shards = 64,
    .lookups = 4000000,
    .seconds = 5.0,
    .absent_pct = 10,
    .blob = 160,
};
static struct qsbr q;
static struct gidx *g;
static char (*names)[NAME_LEN];
static char (*absent)[NAME_LEN];
static pthread_barrier_t start;
static atomic_bool stop_churn;
static _Atomic uint64_t total_lookups, total_misses, churn_puts, sink;

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static size_t name_len(const char *n)
{
	return strnlen(n, NAME_LEN);
}

static void *reader(void *arg)
{
	uint64_t x = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1), n = 0, misses = 0;
	uint64_t deadline, bytes = 0;
	int slot = qsbr_register(&q);
	struct gidx_view v;

	pthread_barrier_wait(&start);
	deadline = clock_mono_ns() + (uint64_t)(o.seconds * 1e9);
	while (n < o.lookups) {
		for (int i = 0; i < TURN; i++) {
			uint64_t r = xorshift(&x);
			bool want = r % 100 >= o.absent_pct;
			const char *nm =
			    want ? names[(r >> 8) % o.records] : absent[(r >> 8) % N_ABSENT];

			if (gidx_lookup(g, nm, name_len(nm), NOW, &v) == 0)
				bytes += v.blob[0] + v.blob_len;
			else
				misses += want;
		}
		n += TURN;
		qsbr_quiescent(&q, slot);
		if (n % (TURN * 256) == 0 && clock_mono_ns() > deadline)
			break;
	}
	qsbr_unregister(&q, slot);
	atomic_fetch_add(&total_lookups, n);
	atomic_fetch_add(&total_misses, misses);
	atomic_fetch_add(&sink, bytes); /* keeps the reads alive */
	return NULL;
}

/* Writer of every shard: replaces random records with a newer version. */
static void *churner(void *arg)
{
	uint64_t x = 88172645463325252ull, puts = 0, version = 2;
	int slot = qsbr_register(&q);
	uint8_t *blob = calloc(1, o.blob);

	(void)arg;
	pthread_barrier_wait(&start);
	while (blob && !atomic_load_explicit(&stop_churn, memory_order_relaxed)) {
		for (int i = 0; i < TURN; i++) {
			const char *nm = names[xorshift(&x) % o.records];
			size_t n = name_len(nm);

			if (gidx_put(g, gidx_shard_of(g, nm, n), nm, n, blob, o.blob, NOW,
			             version++) == 0)
				puts++;
		}
		qsbr_quiescent(&q, slot);
		for (unsigned s = 0; s < o.shards; s++)
			gidx_reclaim(g, s);
	}
	qsbr_unregister(&q, slot);
	free(blob);
	atomic_store(&churn_puts, puts);
	return NULL;
}

static int run(unsigned threads, struct row *r)
{
	pthread_t th[MAX_THREADS + 1];
	unsigned extra = o.churn ? 1 : 0;
	uint64_t t0, t1;

	atomic_store(&total_lookups, 0);
	atomic_store(&stop_churn, false);
	if (pthread_barrier_init(&start, NULL, threads + extra + 1))
		return -1;
	for (unsigned i = 0; i < threads; i++)
		if (pthread_create(&th[i], NULL, reader, (void *)(uintptr_t)i))
			return -1;
	if (extra && pthread_create(&th[threads], NULL, churner, NULL))
		return -1;
	pthread_barrier_wait(&start);
	t0 = clock_mono_ns();
	for (unsigned i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	t1 = clock_mono_ns();
	atomic_store(&stop_churn, true);
	if (extra)
		pthread_join(th[threads], NULL);
	pthread_barrier_destroy(&start);
	r->threads = threads;
	r->lps = (double)atomic_load(&total_lookups) / ((double)(t1 - t0) / 1e9);
	r->writes = extra ? (double)atomic_load(&churn_puts) / ((double)(t1 - t0) / 1e9) : 0;
	return 0;
}

static int fill(void)
{
	struct gidx_config c = {
	    .n_shards = o.shards,
	    .max_records = o.records,
	    .initial_slots = 16,
	};
	uint8_t *blob = calloc(1, o.blob ? o.blob : 1);
	uint64_t t0, bytes = 0;
	int ret;

	names = calloc(o.records, NAME_LEN);
	absent = calloc(N_ABSENT, NAME_LEN);
	if (!blob || !names || !absent)
		return -ENOMEM;
	for (unsigned i = 0; i < 16; i++)
		c.hash_key[i] = (uint8_t)(i * 37 + 11); /* fixed: runs are comparable */
	ret = qsbr_init(&q, o.threads + 2);
	if (!ret)
		ret = gidx_create(&c, &q, &g);
	if (ret)
		return ret;
	for (uint32_t i = 0; i < N_ABSENT; i++)
		snprintf(absent[i], NAME_LEN, "n%010u", i);
	t0 = clock_mono_ns();
	for (uint32_t i = 0; i < o.records; i++) {
		size_t n = (size_t)snprintf(names[i], NAME_LEN, "u%010u", i);

		memcpy(blob, &i, sizeof(i) < o.blob ? sizeof(i) : o.blob);
		ret = gidx_put(g, gidx_shard_of(g, names[i], n), names[i], n, blob, o.blob, NOW, 1);
		if (ret)
			return ret;
	}
	t0 = clock_mono_ns() - t0;
	for (unsigned s = 0; s < o.shards; s++) {
		struct gidx_stats st;

		gidx_reclaim(g, s);
		gidx_stats(g, s, &st);
		bytes += st.bytes + st.slots * 16;
	}
	printf("gidx-bench: %u records in %u shards, %u-byte blobs, %u%% absent names, "
	       "%d lookups per quiescent point%s\n",
	       o.records, o.shards, o.blob, o.absent_pct, TURN,
	       o.churn ? ", one churn writer" : "");
	printf("fill: %.2f M puts/s from one thread, %.0f MiB of records and tables\n\n",
	       o.records / ((double)t0 / 1e9) / 1e6, (double)bytes / (1 << 20));
	free(blob);
	return 0;
}

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: gidx-bench [--records N] [--shards S (power of two)] [--threads T]\n"
	    "                  [--lookups L per thread] [--seconds CAP per run]\n"
	    "                  [--absent PCT] [--blob BYTES] [--churn] [--quick] [--json FILE]\n");
	exit(2);
}

static uint64_t num(const char *s, uint64_t lo, uint64_t hi)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "gidx-bench: '%s' is not a number in %llu..%llu\n", s,
		        (unsigned long long)lo, (unsigned long long)hi);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct row rows[MAX_ROWS];
	int n_rows = 0, ret;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	FILE *f;

	o.threads = cpus > 0 ? (unsigned)cpus : 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--churn")) {
			o.churn = true;
			continue;
		} else if (!strcmp(a, "--quick")) {
			o.records = 100000;
			o.lookups = 400000;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--records"))
			o.records = (uint32_t)num(v, 1, GIDX_SHARD_RECORDS_MAX);
		else if (!strcmp(a, "--shards"))
			o.shards = (unsigned)num(v, 1, GIDX_SHARDS_MAX);
		else if (!strcmp(a, "--threads"))
			o.threads = (unsigned)num(v, 1, MAX_THREADS);
		else if (!strcmp(a, "--lookups"))
			o.lookups = num(v, TURN, UINT64_MAX / 2);
		else if (!strcmp(a, "--seconds"))
			o.seconds = (double)num(v, 1, 3600);
		else if (!strcmp(a, "--absent"))
			o.absent_pct = (unsigned)num(v, 0, 100);
		else if (!strcmp(a, "--blob"))
			o.blob = (unsigned)num(v, 1, GIDX_BLOB_MAX);
		else if (!strcmp(a, "--json"))
			o.json = v;
		else
			usage();
	}
	if (o.shards & (o.shards - 1)) {
		fprintf(stderr, "gidx-bench: --shards %u: expected a power of two\n", o.shards);
		return 2;
	}
	ret = fill();
	if (ret) {
		fprintf(stderr, "gidx-bench: fill: %s\n", strerror(-ret));
		return 1;
	}
	for (unsigned t = 1; n_rows < MAX_ROWS; t = t * 2 < o.threads ? t * 2 : o.threads) {
		if (run(t, &rows[n_rows])) {
			fprintf(stderr, "gidx-bench: cannot start %u threads\n", t);
			return 1;
		}
		n_rows++;
		if (t == o.threads)
			break;
	}
	printf("| threads | lookups/s | per thread | scaling vs 1 |%s\n| ---: | ---: | ---: | ---: "
	       "|%s\n",
	       o.churn ? " churn puts/s |" : "", o.churn ? " ---: |" : "");
	for (int i = 0; i < n_rows; i++) {
		printf("| %u | %.2f M | %.2f M | %.2f |", rows[i].threads, rows[i].lps / 1e6,
		       rows[i].lps / rows[i].threads / 1e6, rows[i].lps / rows[0].lps);
		if (o.churn)
			printf(" %.2f M |", rows[i].writes / 1e6);
		printf("\n");
	}
	if (o.json && (f = fopen(o.json, "w"))) {
		fprintf(f,
		        "{\"records\":%u,\"shards\":%u,\"blob\":%u,\"absent_pct\":%u,\"churn\":%s,"
		        "\"rows\":[",
		        o.records, o.shards, o.blob, o.absent_pct, o.churn ? "true" : "false");
		for (int i = 0; i < n_rows; i++)
			fprintf(f,
			        "%s{\"threads\":%u,\"lookups_per_s\":%.0f,\"per_thread\":%.0f,"
			        "\"scaling\":%.3f,\"churn_puts_per_s\":%.0f}",
			        i ? "," : "", rows[i].threads, rows[i].lps,
			        rows[i].lps / rows[i].threads, rows[i].lps / rows[0].lps,
			        rows[i].writes);
		fprintf(f, "]}\n");
		fclose(f);
	} else if (o.json) {
		fprintf(stderr, "gidx-bench: cannot write %s: %s\n", o.json, strerror(errno));
		return 1;
	}
	if (atomic_load(&total_misses)) {
		fprintf(stderr, "gidx-bench: present names not found\n");
		return 1;
	}
	gidx_destroy(g);
	qsbr_fini(&q);
	return 0;
}

#include "src/sn/metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

struct out {
	char *buf;
	size_t cap, len;
	bool full;
};

__attribute__((format(printf, 2, 3)))
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->full = true;
		o->buf[o->len] = '\0';
		return;
	}
	o->len += (size_t)n;
}

uint64_t metrics_sum(const struct metrics_block *blocks, size_t n, enum metrics_id id)
{
	uint64_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += metrics_get(&blocks[i], id);
	return s;
}

static void one(struct out *o, const struct metrics_block *b, size_t n, enum metrics_id id,
		const char *name, const char *help, const char *type)
{
	put(o, "# HELP parley_sn_%s %s\n# TYPE parley_sn_%s %s\n", name, help, name, type);
	put(o, "parley_sn_%s %llu\n", name, (unsigned long long)metrics_sum(b, n, id));
	for (size_t i = 0; i < n; i++)
		put(o, "parley_sn_%s{worker=\"%zu\"} %llu\n", name, i,
		    (unsigned long long)metrics_get(&b[i], id));
}

int metrics_render(const struct metrics_block *b, size_t n, char *buf, size_t cap)
{
	struct out o = { .buf = buf, .cap = cap };

	if (cap == 0)
		return -ENOSPC;
	buf[0] = '\0';
#define X_COUNTER(id, name, help) one(&o, b, n, M_##id, name, help, "counter");
#define X_GAUGE(id, name, help) one(&o, b, n, M_##id, name, help, "gauge");
	METRICS_COUNTERS(X_COUNTER)
	METRICS_GAUGES(X_GAUGE)
#undef X_COUNTER
#undef X_GAUGE
	put(&o, "# HELP parley_sn_dropped_total Packets dropped, by reason\n"
		"# TYPE parley_sn_dropped_total counter\n");
#define X_DROP(id, reason) \
	put(&o, "parley_sn_dropped_total{reason=\"%s\"} %llu\n", reason, \
	    (unsigned long long)metrics_sum(b, n, M_##id));
	METRICS_DROPS(X_DROP)
#undef X_DROP
	if (o.len == 0)
		return -ENOSPC;
	/* Cut a truncated render at its last complete line. */
	if (o.full)
		while (o.len && buf[o.len - 1] != '\n')
			buf[--o.len] = '\0';
	return (int)o.len;
}

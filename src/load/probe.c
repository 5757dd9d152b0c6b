/* probe: see probe.h. */
#include "src/load/probe.h"
#include "proto/wire.h"

#include <string.h>

#include "src/load/engine.h"

#define BURST_MAX 64   /* requests one timer firing may catch up */

uint32_t probe_ring_size(double per_socket_rate)
{
	uint32_t n = 16;

	while (n < 8192 && (double)n < 2.0 * per_socket_rate)
		n *= 2;
	return n;
}

static void schedule(struct engine *e, struct probe *p)
{
	wheel_set(&e->wheel, p->id, (p->next_send_ns + 999999) / 1000000);
}

void probe_start(struct engine *e, struct probe *p)
{
	p->on = true;
	p->next_send_ns = e->now_ns + engine_rand(e) % e->period_ns;
	schedule(e, p);
}

/* Sends the next request. Returns false when its ring entry's previous
 * send has not completed yet, or the TCP buffer is full. */
static bool send_one(struct engine *e, struct probe *p)
{
	struct probe_req *r = &p->ring[p->seq & e->ring_mask];
	uint8_t *h = r->buf;
	int ret;

	if (r->inflight)
		return false;
	if (r->state == PROBE_PENDING)
		stats_add(&e->stats->c[STATS_TIMEOUTS], 1);
	/* Binding request, no attributes (RFC 8489 §5). */
	h[0] = 0x00;
	h[1] = 0x01;
	h[2] = h[3] = 0;
	wire_put32(h + 4, STUN_MAGIC_COOKIE);
	wire_put32(h + 8, p->gid);
	wire_put32(h + 12, p->seq);
	wire_put32(h + 16, e->run->salt);
	r->seq = p->seq;
	r->sent_ns = e->now_ns;
	r->state = PROBE_PENDING;
	ret = engine_send(e, p->id, h, STUN_HEADER_LEN, p->seq & e->ring_mask);
	if (ret < 0) {
		r->state = PROBE_FREE;
		return false;
	}
	if (ret == ENGINE_COPIED) {
		stats_add(&e->stats->c[STATS_SENT], 1);
		stats_add(&e->stats->c[STATS_SENT_BYTES], STUN_HEADER_LEN);
	} else {
		r->inflight = true;
	}
	p->seq++;
	return true;
}

void probe_on_timer(struct engine *e, struct probe *p)
{
	int burst = 0;

	if (!p->on || !e->sending)
		return;
	while (p->next_send_ns <= e->now_ns && burst < BURST_MAX) {
		if (!send_one(e, p)) {
			stats_add(&e->stats->c[STATS_SEND_BLOCKED], 1);
			wheel_set(&e->wheel, p->id, e->now_ms + 1);
			return;
		}
		p->next_send_ns += e->period_ns;
		burst++;
	}
	if (p->next_send_ns <= e->now_ns)
		p->next_send_ns = e->now_ns + e->period_ns;
	schedule(e, p);
}

void probe_on_connected(struct engine *e, struct probe *p, int res)
{
	if (res < 0) {
		stats_add(&e->stats->errors[STATS_ERR_CONNECT], 1);
		return;
	}
	probe_start(e, p);
}

void probe_on_packet(struct engine *e, struct probe *p, const uint8_t *buf, uint32_t len)
{
	struct probe_req *r;
	struct stun_msg m;
	uint32_t seq;

	if (stun_parse(buf, len, &m) != STUN_OK || m.method != STUN_BINDING ||
	    (m.cls != STUN_SUCCESS && m.cls != STUN_ERROR) || wire_get32(m.txid) != p->gid ||
	    wire_get32(m.txid + 8) != e->run->salt) {
		stats_add(&e->stats->c[STATS_MALFORMED], 1);
		return;
	}
	seq = wire_get32(m.txid + 4);
	r = &p->ring[seq & e->ring_mask];
	if (r->seq != seq || r->state != PROBE_PENDING) {
		stats_add(&e->stats->c[STATS_LATE], 1);
		return;
	}
	r->state = PROBE_ANSWERED;
	if (m.cls == STUN_ERROR) {
		int code = stun_get_error_code(buf, &m);

		stats_add(&e->stats->errors[code >= 300 && code < STATS_ERR_SLOTS
						    ? (unsigned)code
						    : STATS_ERR_BAD_RESPONSE],
			  1);
		return;
	}
	stats_add(&e->stats->c[STATS_RECEIVED], 1);
	stats_add(&e->stats->c[STATS_RECEIVED_BYTES], len);
	stats_hist_record(&e->stats->latency, e->rx_ns > r->sent_ns ? e->rx_ns - r->sent_ns : 0);
}

void probe_on_sent(struct engine *e, struct probe *p, uint32_t tag, int res)
{
	struct probe_req *r = &p->ring[tag & e->ring_mask];

	r->inflight = false;
	if (res >= 0) {
		stats_add(&e->stats->c[STATS_SENT], 1);
		stats_add(&e->stats->c[STATS_SENT_BYTES], STUN_HEADER_LEN);
	} else {
		/* Never left: not a timeout. */
		if (r->state == PROBE_PENDING)
			r->state = PROBE_FREE;
		stats_add(&e->stats->c[STATS_SEND_ERRORS], 1);
	}
}

void probe_on_closed(struct engine *e, struct probe *p, int err)
{
	(void)err;
	if (!p->on || !e->sending)
		return;
	p->on = false;
	stats_add(&e->stats->errors[STATS_ERR_CLOSED], 1);
	wheel_cancel(&e->wheel, p->id);
}

void probe_finish(struct engine *e, struct probe *p)
{
	for (uint32_t i = 0; i <= e->ring_mask; i++) {
		if (p->ring[i].state == PROBE_PENDING) {
			p->ring[i].state = PROBE_FREE;
			stats_add(&e->stats->c[STATS_TIMEOUTS], 1);
		}
	}
}

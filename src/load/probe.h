/* probe: parley-load's stun mode. Each socket sends Binding requests
 * (RFC 8489 §3, a bare 20-byte header) at a fixed rate from a random
 * phase and matches answers by transaction id, which carries the socket's
 * id, a sequence number and a per-run salt:
 *
 *   txid = socket id (32 bits) | sequence number (32) | salt (32)
 *
 * Pending requests live in a ring per socket indexed by sequence number:
 * an answer finds its request in O(1), and a request still unanswered
 * when its entry comes round again (or at the end of the drain) is a
 * timeout. No retransmissions: the mode measures the server's answers. */
#ifndef PARLEY_LOAD_PROBE_H
#define PARLEY_LOAD_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/stun.h"

struct engine;

enum probe_req_state { PROBE_FREE = 0, PROBE_PENDING, PROBE_ANSWERED };

struct probe_req {
	uint64_t sent_ns;
	uint32_t seq;
	uint8_t state;              /* enum probe_req_state */
	bool inflight;              /* UDP: its send has not completed */
	uint8_t buf[STUN_HEADER_LEN];
};

struct probe {
	uint32_t id;                /* index in the engine (also its socket's) */
	uint32_t gid;               /* global socket number, in the txid */
	uint32_t seq;               /* next sequence number */
	bool on;                    /* connected (TCP) and sending */
	uint64_t next_send_ns;
	struct probe_req *ring;     /* ring_mask + 1 entries, owned by the engine */
};

/* Ring entries for a per-socket rate: room for two seconds of requests,
 * a power of two from 16 to 8192. */
uint32_t probe_ring_size(double per_socket_rate);

/* Starts sending (first request at a random point of its period). */
void probe_start(struct engine *e, struct probe *p);

void probe_on_timer(struct engine *e, struct probe *p);
void probe_on_connected(struct engine *e, struct probe *p, int res);
void probe_on_packet(struct engine *e, struct probe *p, const uint8_t *buf, uint32_t len);
void probe_on_sent(struct engine *e, struct probe *p, uint32_t tag, int res);
void probe_on_closed(struct engine *e, struct probe *p, int err);

/* End of the run: counts what was never answered as timeouts. */
void probe_finish(struct engine *e, struct probe *p);

#endif

/* metrics: per-worker counters of the relay and their Prometheus text.
 *
 * Each worker owns one cache-line-aligned block and is its only writer:
 * an increment is a relaxed load and store (a plain add, no lock prefix).
 * The metrics thread reads the blocks racily but never tears a value
 * (relaxed atomic loads) and sums them. */
#ifndef PARLEY_SN_METRICS_H
#define PARLEY_SN_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Counters (monotonic) and gauges, one enum so a block is one array. */
#define METRICS_COUNTERS(X)                                                              \
	X(RX_PACKETS, "rx_packets_total", "Datagrams and TCP frames received")          \
	X(RX_BYTES, "rx_bytes_total", "Bytes received")                                   \
	X(TX_PACKETS, "tx_packets_total", "Datagrams and TCP frames sent")                \
	X(TX_BYTES, "tx_bytes_total", "Bytes sent")                                       \
	X(FWD_TO_PEER, "relayed_to_peer_total", "Packets relayed client to peer")        \
	X(FWD_TO_CLIENT, "relayed_to_client_total", "Packets relayed peer to client")    \
	X(REQUESTS, "requests_total", "STUN/TURN requests handled")                      \
	X(ERROR_RESPONSES, "error_responses_total", "Error responses sent")               \
	X(ALLOCS_CREATED, "allocations_created_total", "Allocations created")            \
	X(ALLOCS_ENDED, "allocations_ended_total", "Allocations deleted or expired")      \
	X(AUTH_FAILURES, "auth_failures_total", "Requests with wrong credentials")       \
	X(PEERS_REFUSED, "peers_refused_total", "Peer addresses refused by policy (403)") \
	X(TCP_ACCEPTED, "tcp_connections_accepted_total", "TCP connections accepted")    \
	X(TCP_CLOSED, "tcp_connections_closed_total", "TCP connections closed")          \
	X(RECV_REARMS, "recv_rearms_total", "Multishot receives re-armed")               \
	X(SEND_ERRORS, "send_errors_total", "Sends the kernel failed")                    \
	X(TCP_HANDOVERS, "tcp_handovers_total", "Data connections handed to the worker owning their allocation") \
	X(LINKS_CONNECT, "tcp_peer_connects_total", "Connect requests started (RFC 6062)")     \
	X(LINKS_CONNECT_FAILED, "tcp_peer_connect_failures_total", "Connects that failed or timed out (447)") \
	X(LINKS_ACCEPTED, "tcp_peer_accepted_total", "Peer connections accepted on TCP allocations") \
	X(LINKS_REFUSED, "tcp_peer_refused_total", "Peer connections closed: no permission or over quota") \
	X(LINKS_BOUND, "tcp_peer_bound_total", "Peer connections bound to a data connection") \
	X(LINKS_BIND_TIMEOUT, "tcp_peer_bind_timeouts_total", "Peer connections never bound (30 s)") \
	X(LINKS_CLOSED, "tcp_peer_closed_total", "Peer connections ended")                \
	X(LINKS_RESET, "tcp_peer_reset_total", "Peer connections ended by a reset or an error") \
	X(LINK_ERRORS, "tcp_peer_io_errors_total", "Errors reading or writing a peer or data connection") \
	X(LINK_BYTES_UP, "tcp_relayed_to_peer_bytes_total", "Bytes relayed data connection to peer") \
	X(LINK_BYTES_DOWN, "tcp_relayed_to_client_bytes_total", "Bytes relayed peer to data connection")

#define METRICS_GAUGES(X)                                                         \
	X(ALLOCS_ACTIVE, "allocations", "Allocations in use")                      \
	X(TCP_ACTIVE, "tcp_connections", "TCP client connections open")            \
	X(BUFS_HELD, "buffers_held", "Receive buffers held by sends in flight")    \
	X(LINKS_ACTIVE, "tcp_peer_connections", "RFC 6062 peer connections open")     \
	X(LINK_HELD, "tcp_peer_buffered_bytes", "Bytes read from TCP links and not yet written")

/* Why a packet was dropped (label reason="..."). */
#define METRICS_DROPS(X)                                               \
	X(DROP_STUN_SHORT, "stun_short")                               \
	X(DROP_STUN_LENGTH, "stun_length")                             \
	X(DROP_STUN_ATTR, "stun_attribute")                            \
	X(DROP_STUN_ORDER, "stun_attribute_order")                     \
	X(DROP_STUN_FINGERPRINT, "stun_fingerprint")                   \
	X(DROP_STUN_TOO_MANY, "stun_too_many_attributes")              \
	X(DROP_NOT_STUN, "not_stun_or_channel")                        \
	X(DROP_CHANNEL_MALFORMED, "channel_data_malformed")            \
	X(DROP_UNEXPECTED, "unexpected_message")                       \
	X(DROP_NO_ALLOCATION, "no_allocation")                         \
	X(DROP_NO_CHANNEL, "no_channel")                               \
	X(DROP_NO_PERMISSION, "no_permission")                         \
	X(DROP_SEND_INVALID, "send_indication_invalid")                \
	X(DROP_TRUNCATED, "truncated")                                 \
	X(DROP_TOO_BIG, "too_big")                                     \
	X(DROP_AUTH_RATE, "auth_rate_limited")                         \
	X(DROP_NO_TX_BUFFER, "no_tx_buffer")                           \
	X(DROP_NO_BUFFERS, "no_rx_buffers")                            \
	X(DROP_STALE, "queued_too_long")                               \
	X(DROP_TCP_QUEUE_FULL, "tcp_queue_full")                       \
	X(DROP_TCP_FRAMING, "tcp_framing")                             \
	X(DROP_SEND_FAILED, "send_failed")

#define X_ENUM(id, ...) M_##id,
enum metrics_id {
	METRICS_COUNTERS(X_ENUM)
	METRICS_GAUGES(X_ENUM)
	METRICS_DROPS(X_ENUM)
	M__COUNT
};
#undef X_ENUM

struct metrics_block {
	_Alignas(64) _Atomic uint64_t v[M__COUNT];
};

/* Single-writer increment: relaxed load + store, no locked RMW. */
static inline void metrics_add(struct metrics_block *m, enum metrics_id id, uint64_t n)
{
	atomic_store_explicit(&m->v[id], atomic_load_explicit(&m->v[id], memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline void metrics_inc(struct metrics_block *m, enum metrics_id id)
{
	metrics_add(m, id, 1);
}

static inline void metrics_set(struct metrics_block *m, enum metrics_id id, uint64_t v)
{
	atomic_store_explicit(&m->v[id], v, memory_order_relaxed);
}

static inline uint64_t metrics_get(const struct metrics_block *m, enum metrics_id id)
{
	return atomic_load_explicit(&((struct metrics_block *)m)->v[id], memory_order_relaxed);
}

/* Renders n worker blocks in Prometheus text format (metric names
 * prefixed "parley_sn_", a worker="i" label per block and an unlabelled
 * total). Returns bytes written (truncated output is cut at a line end)
 * or -ENOSPC when even the first line does not fit. */
int metrics_render(const struct metrics_block *blocks, size_t n, char *buf, size_t cap);

/* Sum of one metric over all blocks. */
uint64_t metrics_sum(const struct metrics_block *blocks, size_t n, enum metrics_id id);

#endif

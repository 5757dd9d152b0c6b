/* worker: one thread, one io_uring, one provided-buffer ring, and the
 * sockets, allocations and TCP connections it owns (DESIGN.md, "The
 * supernode's hot path"). The relay logic (relay.c) runs inside the
 * worker's loop and uses the send primitives declared here.
 *
 * Buffer ownership, in one place:
 * - a receive buffer (bufring id) belongs to the worker from its CQE until
 *   bufring_recycle; a forward hands it to a send, and the send's
 *   completion recycles it. The packet is never copied: the TURN header
 *   (ChannelData, Data indication) is written into the headroom that the
 *   recvmsg layout leaves before the payload;
 * - a TX slot (small pool) holds a response the worker built; freed on
 *   its send's completion;
 * - a TCP connection's receive area is read in place by the sends made
 *   from its frames (rx_refs counts them); it is compacted and re-armed
 *   only when the last of them completed. */
#ifndef PARLEY_SN_WORKER_H
#define PARLEY_SN_WORKER_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "io/bufring.h"
#include "io/uring.h"
#include "proto/addr.h"
#include "proto/cred.h"
#include "src/sn/alloc.h"
#include "src/sn/auth.h"
#include "src/sn/config.h"
#include "src/sn/metrics.h"
#include "src/sn/policy.h"
#include "src/sn/tcplink.h"

/* The recvmsg layout reserves this much control space (an arrival time,
 * 32 bytes, and an IPv6 PKTINFO, 40); it doubles as headroom in front of
 * the payload for the largest TURN header we add (a Data indication to an
 * IPv6 peer: 20 + 24 + 4 = 48 bytes). */
#define WORKER_CMSG_SPACE 80
/* Room for the source address: a sockaddr_in6 (28 bytes) rounded up to 8,
 * so the control messages that follow it (at 16 + 32) are aligned as
 * struct cmsghdr must be. */
#define WORKER_NAME_SPACE ((socklen_t)32)
#define WORKER_BUF_SIZE 2048          /* one receive buffer (MTU-sized datagrams) */
#define WORKER_TX_SLOT 512            /* one response */
#define WORKER_CONN_RX 16384          /* a TCP client's receive area */
#define WORKER_CONN_TXQ 128           /* frames queued on one TCP connection */
#define WORKER_TICK_MS 100

enum worker_op {
	OP_RECV_UDP = 1, /* idx = listener */
	OP_RECV_RELAY,   /* idx = allocation slot, gen = its generation */
	OP_SEND,         /* idx = send context */
	OP_ACCEPT,       /* idx = listener */
	OP_TCP_RECV,     /* idx = connection slot */
	OP_TCP_SEND,     /* idx = connection slot */
	OP_TIMER,
	OP_MSG,          /* MSG_RING from the main thread or a worker: idx = message */
	OP_LINK_ACCEPT,  /* TCP allocation's listener: idx = allocation slot, gen = its generation */
	OP_LINK_CONNECT, /* Connect to a peer: idx = link slot */
	OP_LINK_POLL,    /* link readiness: idx = slot << 2 | direction << 1 | write */
	OP_LINK_XFER,    /* link splice, receive or send: idx as OP_LINK_POLL */
	OP_IGNORE,       /* cancels and other fire-and-forget requests */
};

enum worker_msg {
	WORKER_MSG_DRAIN = 1,
	WORKER_MSG_INBOX,    /* connections were handed over: drain the inbox */
};

/* What a send reads from, released when the send completes. */
enum ref_kind { REF_NONE = 0, REF_RXBUF, REF_TX, REF_CONN_RX };

struct buf_ref {
	uint8_t kind;   /* enum ref_kind */
	uint32_t id;    /* buffer id, tx slot, or connection slot */
};

/* A sendmsg in flight: the kernel reads msghdr, iovec, address and
 * control while the request is being issued, so they live here (one per
 * in-flight send, from a free list) rather than on a stack. */
struct send_ctx {
	struct msghdr mh;
	struct iovec iov;
	union addr dst;
	_Alignas(8) uint8_t cmsg[WORKER_CMSG_SPACE];
	struct buf_ref ref;
	uint32_t next_free;  /* free list: index + 1 */
	uint32_t len;        /* bytes asked to send (metrics) */
};

struct listener {
	int udp_fd;
	int tcp_fd;
	union addr addr;
	bool wildcard;       /* bound to 0.0.0.0/::: use PKTINFO both ways */
	bool udp_armed;
	bool udp_starved;
	bool tcp_armed;
	struct msghdr mh;    /* recvmsg layout template for the multishot receive */
};

struct tcp_item {
	const uint8_t *ptr;
	uint32_t len;
	struct buf_ref ref;
};

enum conn_state { CONN_FREE = 0, CONN_OPEN, CONN_CLOSING };

struct conn {
	int fd;
	uint32_t gen;
	uint8_t state;           /* enum conn_state */
	bool recv_armed;
	bool sending;
	uint16_t listener;
	union addr client;
	union addr local;
	uint8_t *rx;             /* WORKER_CONN_RX bytes */
	uint32_t rx_len;         /* bytes in rx */
	uint32_t rx_done;        /* bytes of rx consumed by complete frames */
	uint32_t rx_refs;        /* sends in flight reading rx */
	uint32_t alloc;          /* allocation slot + 1, 0 = none */
	uint32_t q_off;          /* bytes of the head item already sent */
	uint16_t q_head, q_len;
	uint64_t last_rx_ms;
	uint32_t next_free;
	struct tcp_item q[WORKER_CONN_TXQ];
};

struct worker;

/* State shared by all workers: built before they start, read-only after
 * (except atomics). */
struct sn {
	const struct sn_config *cfg;
	struct auth *auth;
	struct policy policy;
	struct cred_nonce_key nonce_key;
	struct metrics_block *metrics;   /* one per worker */
	struct worker **workers;
	int n_workers;
	uint64_t hash_seed;
	_Atomic uint32_t tcp_open;        /* TCP client connections, all workers */
	_Atomic uint32_t links_total;     /* RFC 6062 peer connections, all workers */
	_Atomic uint64_t tcp_ports[65536 / 64]; /* relay ports held by TCP allocations */
	_Atomic int ready;                /* workers that finished start-up */
	_Atomic int failed;               /* workers that failed start-up */
};

struct worker {
	struct sn *sn;
	int id;
	pthread_t thread;
	int ring_fd;                     /* for MSG_RING from the main thread */
	struct io_uring ring;
	struct uring_features feat;
	struct bufring br;
	struct send_ctx *sends;
	uint32_t n_sends, send_free, sends_inflight;
	uint8_t *tx;                     /* tx slots, WORKER_TX_SLOT bytes each */
	uint32_t *tx_next;               /* free list: index + 1 */
	uint32_t n_tx, tx_free;
	struct listener lst[CONFIG_MAX_LISTEN];
	int n_lst;
	struct alloc_table allocs;
	struct conn *conns;
	uint8_t *conn_rx;
	uint32_t n_conns, conn_free, conns_open;
	uint32_t conn_fresh;             /* connection slots from here on never used */
	struct tcplink *links;           /* RFC 6062 peer connections (tcplink.c) */
	uint8_t *link_areas;             /* copy engine: two areas per link */
	const struct tcplink_ops *link_ops; /* the forwarding engine (tcplink.c) */
	uint32_t n_links, link_free, link_fresh, links_open, link_cursor;
	uint64_t link_held;              /* bytes links read and have not yet written */
	_Atomic(struct tcp_handover *) inbox; /* connections handed to this worker */
	struct auth_limiter limiter;
	struct metrics_block *m;
	uint64_t now_ms;                 /* monotonic, refreshed once per loop turn */
	uint64_t now_s;                  /* Unix seconds, refreshed per tick */
	uint64_t now_real_ns;            /* realtime ns per loop turn (packet ages) */
	int64_t max_delay_ns;            /* --max-queue-delay, 0 = off */
	uint64_t rng;                    /* xorshift state for indication txids */
	uint32_t relay_cursor;           /* next relay port to try */
	uint32_t expire_cursor;          /* place in allocs.live the expiry sweep resumes at */
	uint32_t idle_cursor;            /* connection slot the idle sweep resumes at */
	uint32_t n_starved;              /* relay sockets waiting for buffers */
	uint32_t n_accept_retry;         /* TCP allocation listeners to re-arm at the tick */
	uint32_t recycled;               /* buffers recycled this turn */
	struct __kernel_timespec tick;
	bool draining;
	uint64_t drain_deadline_ms;
	bool stop;
	int start_error;
};

/* Creates worker id's state (rings, pools, listeners) on the calling
 * thread and runs its loop until drained. The thread entry point. */
void *worker_main(void *arg);

/* ---- primitives for relay.c ------------------------------------------ */

/* Sends len bytes at ptr as one datagram from fd to dst. When from is
 * set (a wildcard listener), the source address is pinned with PKTINFO.
 * ref is released when the send completes (or at once on failure).
 * Returns 0 or -errno (no send context: the caller counts a drop). */
int worker_send_udp(struct worker *w, int fd, const uint8_t *ptr, uint32_t len,
		    const union addr *dst, const union addr *from, struct buf_ref ref);


/* Takes a TX slot for a response; NULL when the pool is empty. */
uint8_t *worker_tx_get(struct worker *w, uint32_t *slot);

/* Releases what ref holds (recycles a buffer, frees a TX slot, drops a
 * connection's rx reference). */
void worker_ref_release(struct worker *w, struct buf_ref ref);

/* Arms the relay socket's multishot receive. */
void worker_arm_relay(struct worker *w, struct alloc *a);

/* Ends an allocation: out of the table at once, its socket closed once
 * its receive is cancelled, its quota given back. */
void worker_alloc_end(struct worker *w, struct alloc *a);


static inline uint32_t worker_conn_index(const struct worker *w, const struct conn *c)
{
	return (uint32_t)(c - w->conns);
}

/* ---- tcp.c (clients on TCP) ------------------------------------------- */

/* Queues len bytes at ptr on TCP connection c, in order; ref is released
 * when written. Returns 0 or -ENOBUFS (queue full or connection closing:
 * ref released, drop counted). */
int tcp_send(struct worker *w, struct conn *c, const uint8_t *ptr, uint32_t len,
	     struct buf_ref ref);

/* Starts closing TCP connection c (and its allocation); the slot is freed
 * once no request and no send refers to it. */
void tcp_close(struct worker *w, struct conn *c);

/* A send that read c's receive area completed: resume reading, or finish
 * closing. */
void tcp_rx_released(struct worker *w, struct conn *c);

/* Takes the socket away from connection c (which then frees its slot as
 * if closed, without closing the socket). Returns the socket, or -EBUSY
 * when c still has output queued. */
int tcp_detach(struct worker *w, struct conn *c);

/* Hands connection c (whose bytes from rx offset from on are unparsed)
 * to the worker that owns CONNECTION-ID id, through that worker's inbox
 * and a MSG_RING wake-up. c is detached from this worker whatever
 * happens. Returns 0 or -errno (then the socket was closed). */
int tcp_handover(struct worker *w, struct conn *c, uint32_t from, uint32_t id);

/* Takes the connections other workers handed to this one. */
void tcp_inbox_drain(struct worker *w);

/* Completions of the multishot accept, a connection's receive and send. */
void tcp_on_accept(struct worker *w, struct io_uring_cqe *cqe);
void tcp_on_recv(struct worker *w, struct io_uring_cqe *cqe);
void tcp_on_send(struct worker *w, struct io_uring_cqe *cqe);

/* ---- relay.c (the TURN logic the loop calls) ------------------------ */

/* Where a client message came from and how to answer it. */
struct client_ctx {
	uint8_t transport;        /* IPPROTO_UDP or IPPROTO_TCP */
	uint32_t via;             /* listener index (UDP) or connection slot (TCP) */
	struct conn *conn;        /* TCP only */
	union addr src;           /* the client's transport address */
	union addr local;         /* our address it reached */
	struct buf_ref ref;       /* what holds the packet's bytes */
};

/* A datagram (UDP) or one complete frame (TCP) from a client: STUN or
 * ChannelData. Owns ctx->ref: releases it or hands it to a send. */
void relay_from_client(struct worker *w, struct client_ctx *ctx, uint8_t *p, uint32_t len);

/* A datagram that arrived on allocation a's relay socket from peer. p
 * points into receive buffer bid, with at least WORKER_CMSG_SPACE bytes of
 * headroom before it and 4 bytes of tailroom after it. Owns bid. */
void relay_from_peer(struct worker *w, struct alloc *a, uint16_t bid, uint8_t *p,
		     uint32_t len, const union addr *peer);

/* Answers allocation a's Connect (transaction txid) on its control
 * connection: success with CONNECTION-ID id when code is 0, else the
 * error code. */
void relay_connect_answer(struct worker *w, struct alloc *a, const uint8_t txid[STUN_TXID_LEN],
			  bool sha256, bool fingerprint, int code, uint32_t id);

/* Sends a ConnectionAttempt indication (RFC 6062 §5.3) for CONNECTION-ID
 * id from peer on allocation a's control connection. */
void relay_connection_attempt(struct worker *w, struct alloc *a, uint32_t id,
			      const union addr *peer);

#endif

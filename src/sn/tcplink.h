/* tcplink: TURN TCP allocations (RFC 6062): the peer connections of an
 * allocation, the data connections clients bind to them, and the
 * forwarding of bytes between the two.
 *
 * A link is one peer connection and, once bound, the client's data
 * connection. It lives on the worker that owns its allocation, so the
 * allocation, its control connection, its listening socket and all its
 * links are touched by one thread. A ConnectionBind that the kernel's
 * SO_REUSEPORT hash delivered to another worker is handed over whole (the
 * socket and its unread bytes) to the owner through its inbox and an
 * IORING_OP_MSG_RING wake-up (tcp_handover, in tcp.c); no socket is ever used by
 * two threads.
 *
 * Forwarding moves bytes in two directions, up (client to peer) and down
 * (peer to client), each stop-and-wait over a bounded area: a direction
 * reads only when what it read before has been written. So a slow reader
 * slows its writer through TCP flow control, and a link never holds more
 * than one area per direction. Engines (--tcp-forward):
 * - copy (the default): IORING_OP_RECV into a 16 KiB area, IORING_OP_SEND
 *   from it; no system call of its own per transfer;
 * - splice: kernel to kernel through a pipe per direction: poll for
 *   readiness with io_uring, then splice(2) socket → pipe and pipe →
 *   socket on non-blocking sockets; the bytes never enter user space;
 * - uring-splice: the same with IORING_OP_SPLICE, which io_uring always
 *   runs in an io-wq thread.
 * Copy is the default by measurement: for frames of 172 to 1200 bytes
 * the two splice(2) calls (or two io-wq hops) per transfer cost more CPU
 * than copying the bytes through user space (bench/tcp-vs-coturn.sh,
 * about 1.4-1.9x at 172 B); splice pays off only when each transfer
 * moves many kilobytes.
 * A read of 0 bytes half-closes the other side once the direction is
 * drained (shutdown SHUT_WR); an error on either socket resets the other
 * (SO_LINGER 0) and ends the link. */
#ifndef PARLEY_SN_TCPLINK_H
#define PARLEY_SN_TCPLINK_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/addr.h"
#include "proto/stun.h"

#define TCPLINK_AREA 16384                /* copy engine: bytes per direction */
#define TCPLINK_PIPE 65536                /* splice engine: pipe size per direction */
#define TCPLINK_CONNECT_TIMEOUT_MS 30000  /* RFC 6062 §5.2: at least 30 s */
#define TCPLINK_BIND_TIMEOUT_MS 30000     /* RFC 6062 §5.3, §5.4: 30 s */
#define TCPLINK_WORKER_BITS 6             /* CONNECTION-ID: worker, generation, slot */
#define TCPLINK_GEN_BITS 10
#define TCPLINK_SLOT_BITS 16
#define TCPLINK_MAX_WORKERS (1 << TCPLINK_WORKER_BITS)

enum tcplink_engine {
	TCPLINK_SPLICE = 0,     /* poll, then splice(2) in and out */
	TCPLINK_URING_SPLICE,   /* poll, then IORING_OP_SPLICE in and out (io-wq) */
	TCPLINK_COPY,           /* IORING_OP_RECV and IORING_OP_SEND through an area */
};

enum tcplink_state {
	LINK_FREE = 0,
	LINK_CONNECTING,   /* Connect: our connection to the peer is being made */
	LINK_WAIT_BIND,    /* peer connected; waiting for the client's ConnectionBind */
	LINK_OPEN,         /* bound: forwarding */
	LINK_CLOSING,      /* sockets shut; waiting for requests in flight */
};

enum tcplink_dir_id { LINK_UP = 0, LINK_DOWN = 1 };

/* One direction: bytes read from in_fd and written to out_fd. */
struct tcplink_dir {
	int pipe_r, pipe_w;      /* splice engine: the direction's pipe, -1 = none */
	uint8_t *area;           /* copy engine: TCPLINK_AREA bytes */
	uint32_t held;           /* bytes read and not yet written (in the pipe or area) */
	uint32_t off;            /* copy engine: bytes of the area already written */
	bool reading;            /* a read (or its readiness poll) is in flight */
	bool writing;            /* a write (or its readiness poll) is in flight */
	bool eof;                /* in_fd reached end of stream */
	bool shut;               /* out_fd shut for writing after eof */
};

struct tcplink {
	uint8_t state;           /* enum tcplink_state */
	uint32_t gen;            /* bumped at every reuse of the slot */
	uint32_t alloc;          /* owning allocation: slot + 1 */
	uint32_t alloc_gen;      /* its generation */
	uint32_t id;             /* CONNECTION-ID */
	int peer_fd;
	int client_fd;           /* data connection, -1 until bound */
	union addr peer;
	uint64_t deadline_ms;    /* CONNECTING / WAIT_BIND: give up at */
	uint32_t inflight;       /* requests in flight that name this link */
	uint32_t next_free;      /* free list: slot + 1 */
	uint32_t anext;          /* next link of the same allocation: slot + 1, 0 ends */
	/* The Connect being answered (CONNECTING only). */
	uint8_t txid[STUN_TXID_LEN];
	bool sha256;             /* answer with MESSAGE-INTEGRITY-SHA256 */
	bool fingerprint;        /* answer with FINGERPRINT */
	struct tcplink_dir dir[2];   /* indexed by enum tcplink_dir_id */
};

/* A data connection moving to the worker that owns its CONNECTION-ID:
 * the socket, the addresses, and the bytes read from it and not yet
 * parsed (the ConnectionBind first). Heap-allocated by the sender, freed
 * by the receiver: one per data connection, never per packet. */
struct tcp_handover {
	struct tcp_handover *next;
	int fd;
	uint16_t listener;
	union addr client, local;
	uint32_t len;
	uint8_t data[];
};

struct worker;
struct alloc;

/* A forwarding engine (--tcp-forward), chosen once per worker. */
struct tcplink_ops {
	int (*start)(struct tcplink *L);  /* its resources for a new link; 0 or -errno */
	/* Starts a read (wr 0) or a write (wr 1) of direction d; its result
	 * reaches on_xfer, now or from a completion. */
	void (*xfer)(struct worker *w, struct tcplink *L, int d, int wr);
	bool poll_first;                  /* reads wait for readiness first */
};
struct conn;
struct io_uring_cqe;

/* The worker that owns CONNECTION-ID id. */
static inline int tcplink_id_worker(uint32_t id)
{
	return (int)(id >> (TCPLINK_GEN_BITS + TCPLINK_SLOT_BITS));
}

/* Allocates the worker's pool of cap links (the areas of the copy engine
 * are mapped, not touched). Returns 0 or -ENOMEM. */
int tcplink_pool_init(struct worker *w, uint32_t cap);
void tcplink_pool_fini(struct worker *w);

/* Opens the listening socket of a TCP allocation on ip, at a port of the
 * relay range no other allocation of this process holds. Returns the
 * socket or -errno; *bound gets the address. */
int tcplink_listen(struct worker *w, const union addr *ip, union addr *bound);

/* Gives back the relay port of a TCP allocation's listener. */
void tcplink_port_release(struct worker *w, const union addr *bound);

/* Arms the multishot accept on TCP allocation a's listening socket. */
void tcplink_arm_accept(struct worker *w, struct alloc *a);

/* Connect (RFC 6062 §5.2) to peer for allocation a, already checked by
 * policy. The answer is sent when the connection is made or fails.
 * Returns 0, -EEXIST when a connection to peer exists or is being made
 * (446), -ENOSPC at a quota (508), -errno otherwise (447). */
int tcplink_connect(struct worker *w, struct alloc *a, const union addr *peer,
		    const uint8_t txid[STUN_TXID_LEN], bool sha256, bool fingerprint);

/* A peer connected to TCP allocation a's listening socket (fd accepted):
 * kept when the peer's IP has a permission, announced to the client with
 * a ConnectionAttempt (RFC 6062 §5.3); closed otherwise. Owns fd. */
void tcplink_accepted(struct worker *w, struct alloc *a, int fd);

/* The link waiting for a ConnectionBind with CONNECTION-ID id, or NULL. */
struct tcplink *tcplink_find(struct worker *w, uint32_t id);

/* The allocation that owns L, or NULL when it ended. */
struct alloc *tcplink_alloc(struct worker *w, const struct tcplink *L);

/* ConnectionBind succeeded on connection c for L: sends the success
 * response (resp, len bytes) on it, takes the socket from c (and the
 * bytes the client sent after the request, which go to the peer first)
 * and starts forwarding. Returns 0, or -errno after closing the link. */
int tcplink_bind(struct worker *w, struct tcplink *L, struct conn *c, const uint8_t *resp,
		 uint32_t len);

/* Ends every link of allocation a (its end, RFC 6062 §5). */
void tcplink_end_alloc(struct worker *w, struct alloc *a);

/* Ends L: resets both sockets when reset, else closes them. */
void tcplink_close(struct worker *w, struct tcplink *L, bool reset);

/* Deadlines: connects and binds that took too long. Bounded work per
 * call. */
void tcplink_sweep(struct worker *w);

/* Completions of the link operations (OP_LINK_*). */
void tcplink_on_cqe(struct worker *w, struct io_uring_cqe *cqe);

#endif

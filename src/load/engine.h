/* engine: one parley-load worker thread: an io_uring, a provided-buffer
 * ring, the sockets of its calls (relay mode: two clients per call, each
 * with a UDP socket or a TCP connection to the target) or of its probes
 * (stun mode), and a 1 ms timer wheel that paces them.
 *
 * The loop (liburing proxy.c's shape): fire due timers, which queue
 * sends; submit everything and wait for completions or the next due tick
 * in one io_uring_submit_and_wait_timeout; reap completions in a batch.
 * Every socket has a multishot recvmsg into the buffer ring; a buffer is
 * handed back as soon as its packet is read.
 *
 * Arrival times come from the kernel (SO_TIMESTAMPNS), not from when the
 * loop gets round to a packet. That lets the loop sleep until the next
 * timer tick while media flows, and reap every packet of the tick in one
 * batch (one wake-up per tick, not one per packet), without the batching
 * showing up as latency. When no timer is due within two ticks (set-up,
 * idle) it wakes for the first completion instead. Send times are taken
 * as the frame is queued, just before the turn's submit.
 *
 * Buffer ownership:
 * - a UDP send reads its caller's buffer (a client's request, one of a
 *   stream's CLIENT_MEDIA_SLOTS frames, a probe's request) until its
 *   completion, which is reported back with the send's tag;
 * - a TCP send is copied into the connection's fill buffer at once (the
 *   caller's buffer is free again); the connection has two buffers, one
 *   being written by the kernel and one being filled, and exactly one
 *   send in flight, so frames leave in order (io_uring does not order two
 *   sends in flight on one stream socket);
 * - a receive buffer belongs to the loop from its CQE until it is
 *   recycled in the same turn; a TCP frame cut by a buffer boundary is
 *   copied to the connection's assembly area.
 *
 * user_data = URING_UD(op, tag, socket index): no pointers. */
#ifndef PARLEY_LOAD_ENGINE_H
#define PARLEY_LOAD_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "io/bufring.h"
#include "io/uring.h"
#include "proto/addr.h"
#include "src/load/client.h"
#include "src/load/probe.h"
#include "src/load/stats.h"
#include "src/load/wheel.h"

#define ENGINE_BUF_SIZE 2048     /* one receive buffer (TCP; UDP: what the packets need) */
#define ENGINE_ASM_CAP 2048      /* longest TCP frame accepted */
#define ENGINE_DEALLOC_MS 700    /* after the media end: Refresh(0) for every allocation, */
#define ENGINE_DEALLOC_SPREAD_MS 200 /* spread over this */
#define ENGINE_DRAIN_MS 1000     /* after the media end: stop, count what arrived */
#define ENGINE_MAX_WAIT_MS 20    /* the loop looks at the run's phase at least this often */
#define ENGINE_CMSG_SPACE 64     /* recvmsg control space: SCM_TIMESTAMPNS */

enum load_mode { LOAD_RELAY = 0, LOAD_STUN };

/* What to run; filled by main from the command line, read-only after. */
struct load_config {
	enum load_mode mode;
	union addr target;
	bool tcp;                   /* TURN over TCP to the target */
	bool send_indications;      /* CreatePermission + Send/Data indications */
	bool tcp_alloc;             /* RFC 6062 TCP allocations (tcp is set too): each
	                               client has a control connection and a data
	                               connection; media is RFC 4571-framed on the latter */
	bool raw;                   /* no TURN: each leg's plain UDP socket is bound
	                               to port raw_port_base + 2k (+1 for its peer)
	                               and sends to the target, a forwarder that
	                               sends port p's packets on to port p ^ 1
	                               (bench/floor.c) */
	uint16_t raw_port_base;     /* even */
	uint32_t calls;             /* relay: concurrent calls */
	uint32_t duration_ms;       /* media phase */
	uint32_t pps;               /* relay: packets/s per stream */
	uint32_t size;              /* relay: RTP packet bytes */
	uint32_t ramp_ms;           /* relay: calls start spread over this */
	uint32_t setup_timeout_ms;  /* relay: after the ramp, calls not up fail */
	uint32_t refresh_ms;        /* relay: refresh period (0: half of each lifetime) */
	uint32_t rate;              /* stun: requests/s over all sockets */
	uint32_t sockets;           /* stun: sockets */
	uint32_t workers;
	char username[512];         /* "EXPIRY:user" with --auth-secret */
	char password[256];
};

/* Shared by main and the workers. */
struct load_run {
	const struct load_config *cfg;
	uint64_t start_ms;               /* monotonic; ramp and phases count from here */
	uint32_t salt;                   /* in every probe txid */
	_Atomic uint64_t media_end_ms;   /* 0 during set-up; then when senders stop */
};

enum engine_status { ENGINE_STARTING = 0, ENGINE_RUNNING, ENGINE_DONE, ENGINE_FAILED };

/* One socket: a client's or a probe's. */
struct engine_sock {
	int fd;
	bool rx_armed;              /* its multishot receive is in the kernel */
	bool rearm_queued;          /* on the list of receives to arm again */
	bool dead;                  /* closed or failed: nothing more on it */
	bool connected;             /* TCP: connect completed */
	bool tx_busy;               /* TCP: a send is in flight */
	bool tx_dirty;              /* TCP: on the list of connections to flush */
	uint8_t tx_cur;             /* TCP: buffer the send in flight reads */
	uint8_t framing;            /* TCP: enum engine_framing */
	uint16_t asm_len;           /* TCP: bytes of a cut frame in asmb */
	uint32_t tx_len[2];         /* TCP: bytes in each buffer */
	uint32_t tx_off;            /* TCP: bytes of tx_cur already sent */
	uint8_t *txb;               /* TCP: 2 x tx_cap bytes */
	uint8_t *asmb;              /* TCP: ENGINE_ASM_CAP bytes */
};

struct engine {
	/* Set by main before the thread starts. */
	int id;
	const struct load_config *cfg;
	struct load_run *run;
	uint32_t first;             /* global number of its first call (relay) or socket (stun) */
	uint32_t count;             /* how many */
	uint64_t seed;
	struct stats_block *stats;  /* this worker's, read by main while running */
	pthread_t thread;

	/* Written by the worker, read by main (monotonic ms, 0 = not yet). */
	_Atomic uint64_t first_alloc_ms;  /* first Allocate sent */
	_Atomic uint64_t last_alloc_ms;   /* last allocation granted */
	_Atomic uint64_t last_up_ms;      /* last call up */
	_Atomic int status;               /* enum engine_status */
	int error;                        /* -errno when FAILED */

	/* Private to the worker thread. */
	struct io_uring ring;
	struct uring_features feat;
	struct bufring br;
	bool fixed_files;           /* sockets are in the ring's file table (by index) */
	struct msghdr mh;           /* recvmsg layout: no name, room for a timestamp */
	struct engine_sock *socks;
	uint32_t n_socks;           /* relay: clients, then (TCP allocations) their data connections */
	uint32_t n_clients;         /* relay: 2 per call */
	struct client *clients;     /* relay: n_socks of them */
	struct probe *probes;       /* stun: n_socks of them */
	struct probe_req *reqs;     /* stun: the probes' rings */
	uint32_t ring_mask;         /* stun: entries per probe ring - 1 */
	uint64_t period_ns;         /* media or request period per socket */
	uint8_t *media;             /* relay: CLIENT_MEDIA_SLOTS frames per client */
	uint32_t slot_cap;          /* bytes per media frame slot */
	uint8_t *tcp_mem;           /* TCP buffers of all sockets */
	size_t tcp_mem_len;
	uint32_t tx_cap;            /* TCP: bytes per send buffer */
	uint32_t *rearm;            /* sockets whose receive must be armed again */
	uint32_t n_rearm;
	uint32_t *dirty;            /* TCP connections with bytes to send */
	uint32_t n_dirty;
	struct wheel wheel;         /* relay: media and control timer per client;
	                               stun: one per probe */
	uint64_t now_ns, now_ms;    /* monotonic, refreshed per loop turn */
	int64_t real_off_ns;        /* CLOCK_REALTIME - CLOCK_MONOTONIC, per turn */
	uint64_t rx_ns;             /* arrival (monotonic) of the packet being delivered */
	uint64_t rng;               /* xorshift64 state */
	bool setup_over;            /* the run left its set-up phase */
	bool sending;               /* media phase not over */
	uint32_t dealloc_next;      /* next client to deallocate at the end */
};

/* Timer numbers on the wheel. */
static inline uint32_t engine_media_timer(uint32_t client) { return 2 * client; }
static inline uint32_t engine_ctrl_timer(uint32_t client) { return 2 * client + 1; }

/* The worker thread: sets up (status RUNNING, or FAILED with error), runs
 * until the drain after the media end, and tears down (status DONE). */
void *engine_main(void *arg);

/* ---- for client.c and probe.c --------------------------------------- */

#define ENGINE_COPIED 1

/* Sends len bytes from buf on socket idx. UDP: the send reads buf until
 * its completion, reported with tag; returns 0. TCP: the bytes are
 * copied (buf is free at once); returns ENGINE_COPIED. -ENOBUFS when the
 * TCP buffer is full or no SQE is left, -EPIPE when the socket is dead. */
int engine_send(struct engine *e, uint32_t idx, const uint8_t *buf, uint32_t len, uint32_t tag);

/* How a TCP socket's bytes split into frames. */
enum engine_framing {
	ENGINE_FRAME_STUN = 0,   /* STUN and ChannelData (RFC 8656 §12.5) */
	ENGINE_FRAME_RFC4571,    /* 16-bit length, then the packet (RFC 4571) */
};

/* From the next frame on, socket idx's bytes split by framing. */
void engine_set_framing(struct engine *e, uint32_t idx, enum engine_framing framing);

/* The socket of client id's data connection (TCP allocations). */
static inline uint32_t engine_data_sock(const struct engine *e, uint32_t client)
{
	return e->n_clients + client;
}

/* Starts the TCP connection of socket idx; its end reaches
 * client_on_connected / probe_on_connected. Returns 0 or -errno. */
int engine_connect(struct engine *e, uint32_t idx);

/* 64 random bits (xorshift64*; not for secrets). */
uint64_t engine_rand(struct engine *e);

#endif

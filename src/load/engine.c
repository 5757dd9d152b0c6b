/* engine: see engine.h. */
#include "src/load/engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/sock.h"
#include "src/common/clock.h"
#include "src/common/log.h"

#define BGID 0
#define SQ_ENTRIES 4096
#define CQ_MAX 65536
#define WHEEL_SLOTS 1024

enum engine_op {
	OP_RECV = 1,    /* idx = socket */
	OP_SEND,        /* idx = socket, gen = the sender's tag */
	OP_TCP_SEND,    /* idx = socket */
	OP_CONNECT,     /* idx = socket */
};

static inline bool relay_mode(const struct engine *e)
{
	return e->cfg->mode == LOAD_RELAY;
}

uint64_t engine_rand(struct engine *e)
{
	uint64_t x = e->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	e->rng = x;
	return x * 0x2545F4914F6CDD1Dull;
}

/* The descriptor an SQE names: the socket's slot in the ring's file table
 * when it is registered (no fd lookup per request), else the fd. */
static inline int sqe_fd(const struct engine *e, uint32_t idx)
{
	return e->fixed_files ? (int)idx : e->socks[idx].fd;
}

static inline void sqe_fixed(const struct engine *e, struct io_uring_sqe *sqe)
{
	if (e->fixed_files)
		sqe->flags |= IOSQE_FIXED_FILE;
}

/* Puts fd in the file table at idx (set-up and connects only). */
static void register_fd(struct engine *e, uint32_t idx, int fd)
{
	if (e->fixed_files && io_uring_register_files_update(&e->ring, idx, &fd, 1) != 1) {
		log_warn("worker %d: registering socket %u failed: using plain descriptors", e->id,
			 idx);
		e->fixed_files = false;
	}
}

static void refresh_clock(struct engine *e)
{
	struct timespec ts;

	e->now_ns = clock_mono_ns();
	e->now_ms = e->now_ns / 1000000u;
	/* Receive timestamps are CLOCK_REALTIME: keep the offset to the
	 * monotonic clock the send times use (two vDSO reads per turn). */
	clock_gettime(CLOCK_REALTIME, &ts);
	e->real_off_ns = (int64_t)((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) -
			 (int64_t)e->now_ns;
}

/* When the packet reached the socket (SO_TIMESTAMPNS), on the monotonic
 * clock; the loop's time when the kernel did not say. */
static uint64_t arrival_ns(struct engine *e, struct io_uring_recvmsg_out *out)
{
	for (struct cmsghdr *cm = io_uring_recvmsg_cmsg_firsthdr(out, &e->mh); cm;
	     cm = io_uring_recvmsg_cmsg_nexthdr(out, &e->mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
			struct timespec ts;
			int64_t mono;

			memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
			mono = (int64_t)((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) -
			       e->real_off_ns;
			return mono > 0 && (uint64_t)mono < e->now_ns ? (uint64_t)mono : e->now_ns;
		}
	}
	return e->now_ns;
}

/* ---- receives --------------------------------------------------------- */

static void arm_recv(struct engine *e, uint32_t idx)
{
	struct engine_sock *s = &e->socks[idx];
	struct io_uring_sqe *sqe;

	if (s->rx_armed || s->dead || s->fd < 0)
		return;
	sqe = uring_sqe(&e->ring);
	if (!sqe)
		return;
	io_uring_prep_recvmsg_multishot(sqe, sqe_fd(e, idx), &e->mh, 0);
	sqe_fixed(e, sqe);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, URING_UD(OP_RECV, 0, idx));
	s->rx_armed = true;
}

/* Receives that stopped (no F_MORE) are armed again at the end of the
 * turn, once the buffers of this turn are back in the ring. */
static void queue_rearm(struct engine *e, uint32_t idx)
{
	struct engine_sock *s = &e->socks[idx];

	if (s->rx_armed || s->dead || s->rearm_queued)
		return;
	s->rearm_queued = true;
	e->rearm[e->n_rearm++] = idx;
}

static void rearm_all(struct engine *e)
{
	for (uint32_t i = 0; i < e->n_rearm; i++) {
		e->socks[e->rearm[i]].rearm_queued = false;
		arm_recv(e, e->rearm[i]);
	}
	e->n_rearm = 0;
}

static void deliver(struct engine *e, uint32_t idx, const uint8_t *p, uint32_t len)
{
	if (!relay_mode(e))
		probe_on_packet(e, &e->probes[idx], p, len);
	else if (idx >= e->n_clients)
		client_on_data(e, &e->clients[idx - e->n_clients], p, len);
	else
		client_on_packet(e, &e->clients[idx], p, len);
}

void engine_set_framing(struct engine *e, uint32_t idx, enum engine_framing framing)
{
	e->socks[idx].framing = (uint8_t)framing;
}

/* Length of the frame at p (n bytes, n >= 4) under the socket's framing:
 * 0 = needs more bytes, < 0 = not a frame. */
static int frame_len(const struct engine_sock *s, const uint8_t *p, uint32_t n)
{
	if (s->framing == ENGINE_FRAME_RFC4571)
		return 2 + ((int)p[0] << 8 | p[1]);
	return stun_frame_len(p, n);
}

static void sock_closed(struct engine *e, uint32_t idx, int err)
{
	struct engine_sock *s = &e->socks[idx];

	if (s->dead)
		return;
	s->dead = true;
	/* Ends whatever is still in flight on it; the descriptor is closed
	 * at tear-down, after the ring. */
	if (s->fd >= 0)
		shutdown(s->fd, SHUT_RDWR);
	if (relay_mode(e))
		client_on_closed(e, &e->clients[idx % e->n_clients], err);
	else
		probe_on_closed(e, &e->probes[idx], err);
}

/* Splits TCP bytes into frames (STUN, or ChannelData padded to 4: RFC 8656
 * §12.5; or RFC 4571's length-prefixed packets) and delivers each in place; only a frame cut by the end of the
 * chunk is copied, into the assembly area. Returns 0 or -EPROTO when the
 * stream lost its framing. */
static int tcp_input(struct engine *e, uint32_t idx, const uint8_t *p, uint32_t n)
{
	struct engine_sock *s = &e->socks[idx];
	int flen;

	while (n > 0 && !s->dead) {
		if (s->asm_len) {
			uint32_t k;

			if (s->asm_len < 4) {
				k = 4u - s->asm_len < n ? 4u - s->asm_len : n;
				memcpy(s->asmb + s->asm_len, p, k);
				s->asm_len = (uint16_t)(s->asm_len + k);
				p += k;
				n -= k;
				continue;
			}
			flen = frame_len(s, s->asmb, s->asm_len);
			if (flen < 0 || flen > ENGINE_ASM_CAP)
				return -EPROTO;
			k = (uint32_t)flen - s->asm_len < n ? (uint32_t)flen - s->asm_len : n;
			memcpy(s->asmb + s->asm_len, p, k);
			s->asm_len = (uint16_t)(s->asm_len + k);
			p += k;
			n -= k;
			if (s->asm_len == (uint32_t)flen) {
				s->asm_len = 0;
				deliver(e, idx, s->asmb, (uint32_t)flen);
			}
			continue;
		}
		flen = n >= 4 ? frame_len(s, p, n) : 0;
		if (flen < 0 || flen > ENGINE_ASM_CAP)
			return -EPROTO;
		if (flen == 0 || (uint32_t)flen > n) {
			memcpy(s->asmb, p, n);
			s->asm_len = (uint16_t)n;
			return 0;
		}
		deliver(e, idx, p, (uint32_t)flen);
		p += flen;
		n -= (uint32_t)flen;
	}
	return 0;
}

static void on_recv(struct engine *e, struct io_uring_cqe *cqe)
{
	uint32_t idx = uring_ud_idx(cqe->user_data);
	struct io_uring_recvmsg_out *out;
	struct engine_sock *s;
	uint16_t bid;
	uint8_t *buf;

	if (idx >= e->n_socks)
		return;
	s = &e->socks[idx];
	if (!(cqe->flags & IORING_CQE_F_MORE))
		s->rx_armed = false;
	if (cqe->res < 0) {
		if (cqe->res == -ENOBUFS)
			stats_add(&e->stats->c[STATS_NO_BUFFERS], 1);
		else if (e->cfg->tcp && cqe->res != -ECANCELED)
			sock_closed(e, idx, cqe->res);
		else if (cqe->res == -ECONNREFUSED)
			stats_add(&e->stats->errors[STATS_ERR_REFUSED], 1);
		goto out;
	}
	if (!(cqe->flags & IORING_CQE_F_BUFFER)) {
		if (e->cfg->tcp && cqe->res == 0)
			sock_closed(e, idx, 0);
		goto out;
	}
	bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
	buf = bufring_buf(&e->br, bid);
	out = io_uring_recvmsg_validate(buf, cqe->res, &e->mh);
	if (!out) {
		stats_add(&e->stats->c[STATS_MALFORMED], 1);
	} else if (e->cfg->tcp) {
		uint32_t len = io_uring_recvmsg_payload_length(out, cqe->res, &e->mh);

		e->rx_ns = arrival_ns(e, out);
		if (len == 0)
			sock_closed(e, idx, 0);
		else if (tcp_input(e, idx, io_uring_recvmsg_payload(out, &e->mh), len))
			sock_closed(e, idx, -EPROTO);
	} else if (out->flags & MSG_TRUNC) {
		stats_add(&e->stats->c[STATS_MALFORMED], 1);
	} else {
		e->rx_ns = arrival_ns(e, out);
		deliver(e, idx, io_uring_recvmsg_payload(out, &e->mh),
			io_uring_recvmsg_payload_length(out, cqe->res, &e->mh));
	}
	bufring_recycle(&e->br, bid);
out:
	if (!s->rx_armed)
		queue_rearm(e, idx);
}

/* ---- sends ------------------------------------------------------------ */

int engine_send(struct engine *e, uint32_t idx, const uint8_t *buf, uint32_t len, uint32_t tag)
{
	struct engine_sock *s = &e->socks[idx];
	struct io_uring_sqe *sqe;
	unsigned f;

	if (s->dead || s->fd < 0)
		return -EPIPE;
	if (!e->cfg->tcp) {
		sqe = uring_sqe(&e->ring);
		if (!sqe)
			return -ENOBUFS;
		io_uring_prep_send(sqe, sqe_fd(e, idx), buf, len, 0);
		sqe_fixed(e, sqe);
		io_uring_sqe_set_data64(sqe, URING_UD(OP_SEND, tag, idx));
		return 0;
	}
	if (!s->connected)
		return -ENOTCONN;
	f = 1u - s->tx_cur;
	if (s->tx_len[f] + len > e->tx_cap)
		return -ENOBUFS;
	memcpy(s->txb + (size_t)f * e->tx_cap + s->tx_len[f], buf, len);
	s->tx_len[f] += len;
	if (!s->tx_dirty) {
		s->tx_dirty = true;
		e->dirty[e->n_dirty++] = idx;
	}
	return ENGINE_COPIED;
}

static void tcp_send_current(struct engine *e, uint32_t idx)
{
	struct engine_sock *s = &e->socks[idx];
	struct io_uring_sqe *sqe = uring_sqe(&e->ring);

	if (!sqe) {
		sock_closed(e, idx, -EBUSY);
		return;
	}
	io_uring_prep_send(sqe, sqe_fd(e, idx), s->txb + (size_t)s->tx_cur * e->tx_cap + s->tx_off,
			   s->tx_len[s->tx_cur] - s->tx_off, MSG_NOSIGNAL);
	sqe_fixed(e, sqe);
	io_uring_sqe_set_data64(sqe, URING_UD(OP_TCP_SEND, 0, idx));
	s->tx_busy = true;
}

/* One send per connection per turn, of everything queued since the last
 * (the invariant: when no send is in flight, tx_len[tx_cur] == 0). */
static void flush_dirty(struct engine *e)
{
	for (uint32_t i = 0; i < e->n_dirty; i++) {
		uint32_t idx = e->dirty[i];
		struct engine_sock *s = &e->socks[idx];

		s->tx_dirty = false;
		if (s->tx_busy || s->dead || !s->tx_len[1u - s->tx_cur])
			continue;
		s->tx_cur = (uint8_t)(1u - s->tx_cur);
		s->tx_off = 0;
		tcp_send_current(e, idx);
	}
	e->n_dirty = 0;
}

static void on_tcp_sent(struct engine *e, struct io_uring_cqe *cqe)
{
	uint32_t idx = uring_ud_idx(cqe->user_data);
	struct engine_sock *s;

	if (idx >= e->n_socks)
		return;
	s = &e->socks[idx];
	s->tx_busy = false;
	if (s->dead)
		return;
	if (cqe->res <= 0) {
		stats_add(&e->stats->c[STATS_SEND_ERRORS], 1);
		sock_closed(e, idx, cqe->res);
		return;
	}
	s->tx_off += (uint32_t)cqe->res;
	if (s->tx_off < s->tx_len[s->tx_cur]) {
		tcp_send_current(e, idx);
		return;
	}
	s->tx_len[s->tx_cur] = 0;
	s->tx_off = 0;
	if (s->tx_len[1u - s->tx_cur] && !s->tx_dirty) {
		s->tx_dirty = true;
		e->dirty[e->n_dirty++] = idx;
	}
}

static void on_send(struct engine *e, struct io_uring_cqe *cqe)
{
	uint32_t idx = uring_ud_idx(cqe->user_data);

	if (idx >= e->n_socks)
		return;
	if (relay_mode(e))
		client_on_sent(e, &e->clients[idx], uring_ud_gen(cqe->user_data), cqe->res);
	else
		probe_on_sent(e, &e->probes[idx], uring_ud_gen(cqe->user_data), cqe->res);
}

/* ---- TCP connections -------------------------------------------------- */

static int timestamps_on(int fd)
{
	int one = 1;

	return setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) ? -errno : 0;
}

int engine_connect(struct engine *e, uint32_t idx)
{
	struct engine_sock *s = &e->socks[idx];
	struct io_uring_sqe *sqe;
	int fd = socket(e->cfg->target.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	sqe = uring_sqe(&e->ring);
	if (!sqe || timestamps_on(fd)) {
		close(fd);
		return -EBUSY;
	}
	s->fd = fd;
	register_fd(e, idx, fd);
	io_uring_prep_connect(sqe, sqe_fd(e, idx), &e->cfg->target.sa, addr_len(&e->cfg->target));
	sqe_fixed(e, sqe);
	io_uring_sqe_set_data64(sqe, URING_UD(OP_CONNECT, 0, idx));
	return 0;
}

static void on_connect(struct engine *e, struct io_uring_cqe *cqe)
{
	uint32_t idx = uring_ud_idx(cqe->user_data);
	struct engine_sock *s;

	if (idx >= e->n_socks)
		return;
	s = &e->socks[idx];
	if (cqe->res == 0) {
		s->connected = true;
		sock_tcp_nodelay(s->fd);
		arm_recv(e, idx);
	} else {
		s->dead = true;
	}
	if (!relay_mode(e))
		probe_on_connected(e, &e->probes[idx], cqe->res);
	else if (idx >= e->n_clients)
		client_on_data_connected(e, &e->clients[idx - e->n_clients], cqe->res);
	else
		client_on_connected(e, &e->clients[idx], cqe->res);
}

/* ---- the loop ---------------------------------------------------------- */

static void on_timer(void *ctx, uint32_t id)
{
	struct engine *e = ctx;

	if (!relay_mode(e))
		probe_on_timer(e, &e->probes[id]);
	else if (id & 1)
		client_on_timer(e, &e->clients[id / 2]);
	else
		client_on_media_timer(e, &e->clients[id / 2]);
}

static void on_cqe(struct engine *e, struct io_uring_cqe *cqe)
{
	switch (uring_ud_op(cqe->user_data)) {
	case OP_RECV:
		on_recv(e, cqe);
		break;
	case OP_SEND:
		on_send(e, cqe);
		break;
	case OP_TCP_SEND:
		on_tcp_sent(e, cqe);
		break;
	case OP_CONNECT:
		on_connect(e, cqe);
		break;
	default:
		break;
	}
}

/* Moves the worker through the run's phases (main sets media_end_ms when
 * set-up is over). Returns false when the drain is over. */
static bool follow_phase(struct engine *e, uint64_t *next_ms)
{
	uint64_t end = atomic_load_explicit(&e->run->media_end_ms, memory_order_relaxed);
	const uint64_t marks[3] = { end, end + ENGINE_DEALLOC_MS, end + ENGINE_DRAIN_MS };

	if (!end)
		return true;
	if (!e->setup_over) {
		e->setup_over = true;
		if (relay_mode(e))
			for (uint32_t i = 0; i < e->n_clients; i++)
				client_setup_over(e, &e->clients[i]);
	}
	if (e->sending && e->now_ms >= end)
		e->sending = false;
	if (relay_mode(e) && e->dealloc_next < e->n_clients && e->now_ms >= marks[1]) {
		/* Spread over ENGINE_DEALLOC_SPREAD_MS: thousands of Refreshes
		 * in one burst would overflow the server's socket buffer, and
		 * they are sent only once. */
		uint64_t into = e->now_ms - marks[1] + 1;
		uint32_t upto = e->n_clients;

		if (into < ENGINE_DEALLOC_SPREAD_MS)
			upto = (uint32_t)((uint64_t)e->n_clients * into / ENGINE_DEALLOC_SPREAD_MS);

		while (e->dealloc_next < upto)
			client_deallocate(e, &e->clients[e->dealloc_next++]);
		if (e->dealloc_next < e->n_clients && e->now_ms + 1 < *next_ms)
			*next_ms = e->now_ms + 1;
	}
	if (e->now_ms >= marks[2])
		return false;
	for (int i = 0; i < 3; i++)
		if (marks[i] > e->now_ms && marks[i] < *next_ms)
			*next_ms = marks[i];
	return true;
}

static int run(struct engine *e)
{
	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		uint64_t next_ms, now_ns, wait_ns;
		int ret;

		refresh_clock(e);
		wheel_advance(&e->wheel, e->now_ms, on_timer, e);
		next_ms = wheel_next(&e->wheel, ENGINE_MAX_WAIT_MS);
		if (!follow_phase(e, &next_ms))
			return 0;
		flush_dirty(e);
		rearm_all(e);

		now_ns = clock_mono_ns();
		wait_ns = next_ms * 1000000u > now_ns ? next_ms * 1000000u - now_ns : 0;
		if (wait_ns) {
			struct __kernel_timespec ts = {
				.tv_sec = (long long)(wait_ns / 1000000000u),
				.tv_nsec = (long long)(wait_ns % 1000000000u),
			};
			/* A timer due within two ticks: media is flowing, so
			 * sleep to the tick and take its packets in one batch.
			 * Otherwise (set-up, idle) wake for the first
			 * completion. */
			bool pace = next_ms <= e->now_ms + 2;

			ret = io_uring_submit_and_wait_timeout(&e->ring, &cqe,
							       pace ? e->ring.cq.ring_entries : 1,
							       &ts, NULL);
		} else {
			ret = io_uring_submit_and_get_events(&e->ring);
		}
		if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			log_error("worker %d: io_uring_submit_and_wait: %s", e->id, strerror(-ret));
			return ret;
		}
		refresh_clock(e);
		io_uring_for_each_cqe(&e->ring, head, cqe) {
			on_cqe(e, cqe);
			n++;
		}
		io_uring_cq_advance(&e->ring, n);
		bufring_publish(&e->br);
	}
}

/* ---- set-up and tear-down --------------------------------------------- */

static uint32_t pow2_at_least(uint64_t n, uint32_t lo, uint32_t hi)
{
	uint32_t v = lo;

	while (v < n && v < hi)
		v *= 2;
	return v;
}

static int open_udp(struct engine *e, uint32_t idx)
{
	const union addr *t = &e->cfg->target;
	int fd = socket(t->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (e->cfg->raw) {
		/* The floor pairs legs by port: this leg's partner is port ^ 1. */
		union addr local = *t;

		addr_set_port(&local, (uint16_t)(e->cfg->raw_port_base + 2 * e->first + idx));
		if (bind(fd, &local.sa, addr_len(&local))) {
			int ret = -errno;

			close(fd);
			return ret;
		}
	}
	/* Connected: sends need no address, and only the target's packets
	 * arrive. */
	if (timestamps_on(fd) || connect(fd, &t->sa, addr_len(t))) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	e->socks[idx].fd = fd;
	register_fd(e, idx, fd);
	return 0;
}

static int setup(struct engine *e)
{
	const struct load_config *cfg = e->cfg;
	bool relay = relay_mode(e);
	uint32_t clients = relay ? 2 * e->count : 0;
	/* A TCP allocation's client has a second (data) connection. */
	uint32_t n = relay ? (cfg->tcp_alloc ? 2 * clients : clients) : e->count;
	uint32_t timers = relay ? 2 * clients : n;
	uint32_t buf_size;
	int ret;

	refresh_clock(e);
	e->rng = e->seed ? e->seed : 0x9E3779B97F4A7C15ull;
	e->sending = true;
	e->n_socks = n;
	e->n_clients = clients;
	ret = uring_setup(&e->ring, SQ_ENTRIES, pow2_at_least((uint64_t)n * 8, 4096, CQ_MAX),
			  &e->feat);
	if (ret) {
		log_error("worker %d: io_uring set-up: %s", e->id, strerror(-ret));
		return ret;
	}
	/* Small buffers for datagrams (a 172-byte packet takes 512 bytes, so
	 * the ring stays in cache), TCP chunks get ENGINE_BUF_SIZE. */
	buf_size = ENGINE_BUF_SIZE;
	if (!cfg->tcp) {
		uint64_t need = (relay ? cfg->size : 0) + 48 + 4 + ENGINE_CMSG_SPACE +
				sizeof(struct io_uring_recvmsg_out);

		buf_size = pow2_at_least(need, 512, ENGINE_BUF_SIZE);
	}
	ret = bufring_create(&e->br, &e->ring, BGID, pow2_at_least(n, 1024, 16384), buf_size);
	if (ret) {
		log_error("worker %d: provided buffer ring: %s (needs Linux 5.19+)", e->id,
			  strerror(-ret));
		return ret;
	}
	/* A sparse file table, filled as sockets open. */
	e->fixed_files = n && io_uring_register_files_sparse(&e->ring, n) == 0;
	e->mh.msg_namelen = 0;
	e->mh.msg_controllen = ENGINE_CMSG_SPACE;
	e->socks = calloc(n ? n : 1, sizeof(*e->socks));
	e->rearm = calloc(n ? n : 1, sizeof(*e->rearm));
	e->dirty = calloc(n ? n : 1, sizeof(*e->dirty));
	if (!e->socks || !e->rearm || !e->dirty)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		e->socks[i].fd = -1;
	ret = wheel_init(&e->wheel, timers, WHEEL_SLOTS, e->now_ms);
	if (ret)
		return ret;

	if (relay) {
		e->period_ns = 1000000000u / cfg->pps;
		/* Largest frame: Send indication to an IPv6 peer, padded. */
		e->slot_cap = (48 + cfg->size + 3 + 63) & ~63u;
		e->tx_cap = pow2_at_least((uint64_t)e->slot_cap * 8, 4096, 1u << 20);
		e->clients = calloc(clients ? clients : 1, sizeof(*e->clients));
		e->media = calloc((size_t)clients * CLIENT_MEDIA_SLOTS + 1, e->slot_cap);
		if (!e->clients || !e->media)
			return -ENOMEM;
		for (uint32_t i = 0; i < clients; i++) {
			uint32_t call = e->first + i / 2;
			uint64_t start = e->run->start_ms;

			if (cfg->calls)
				start += (uint64_t)cfg->ramp_ms * call / cfg->calls;

			client_init(&e->clients[i], i, 2 * e->first + i + 1, start);
			wheel_set(&e->wheel, engine_ctrl_timer(i), start);
		}
	} else {
		double per_socket = (double)cfg->rate / cfg->sockets;

		e->period_ns = (uint64_t)(1e9 / per_socket);
		if (!e->period_ns)
			e->period_ns = 1;
		e->ring_mask = probe_ring_size(per_socket) - 1;
		e->tx_cap = 4096;
		e->probes = calloc(n ? n : 1, sizeof(*e->probes));
		e->reqs = calloc((size_t)n * (e->ring_mask + 1) + 1, sizeof(*e->reqs));
		if (!e->probes || !e->reqs)
			return -ENOMEM;
		for (uint32_t i = 0; i < n; i++) {
			e->probes[i].id = i;
			e->probes[i].gid = e->first + i;
			e->probes[i].ring = e->reqs + (size_t)i * (e->ring_mask + 1);
		}
	}
	if (cfg->tcp && n) {
		size_t per = 2 * (size_t)e->tx_cap + ENGINE_ASM_CAP;

		/* Untouched pages cost nothing: most connections only ever use
		 * the first page of each buffer. */
		e->tcp_mem_len = per * n;
		e->tcp_mem = mmap(NULL, e->tcp_mem_len, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (e->tcp_mem == MAP_FAILED) {
			e->tcp_mem = NULL;
			return -ENOMEM;
		}
		for (uint32_t i = 0; i < n; i++) {
			e->socks[i].txb = e->tcp_mem + per * i;
			e->socks[i].asmb = e->socks[i].txb + 2 * (size_t)e->tx_cap;
		}
	} else if (n) {
		for (uint32_t i = 0; i < n; i++) {
			ret = open_udp(e, i);
			if (ret) {
				log_error("worker %d: UDP socket %u of %u: %s%s", e->id, i, n,
					  strerror(-ret),
					  ret == -EMFILE ? " (raise ulimit -n)" : "");
				return ret;
			}
			arm_recv(e, i);
		}
	}
	if (!relay) {
		for (uint32_t i = 0; i < n; i++) {
			if (!cfg->tcp) {
				probe_start(e, &e->probes[i]);
				continue;
			}
			ret = engine_connect(e, i);
			if (ret) {
				log_error("worker %d: TCP socket: %s", e->id, strerror(-ret));
				return ret;
			}
		}
	}
	return 0;
}

/* Final per-stream figures, then everything released. Takes a
 * half-built engine. */
static void teardown(struct engine *e)
{
	if (e->clients) {
		for (uint32_t i = 0; i < e->n_clients; i++) {
			const struct stats_stream *s = &e->clients[i].rx;

			if (s->received >= 2) {
				stats_add(&e->stats->jitter_sum_ns, stats_stream_jitter_ns(s));
				stats_add(&e->stats->jitter_streams, 1);
			}
		}
	}
	if (e->probes)
		for (uint32_t i = 0; i < e->n_socks; i++)
			probe_finish(e, &e->probes[i]);
	if (e->br.br)
		bufring_destroy(&e->br);
	if (e->ring.ring_fd > 0)
		io_uring_queue_exit(&e->ring);
	if (e->socks)
		for (uint32_t i = 0; i < e->n_socks; i++)
			if (e->socks[i].fd >= 0)
				close(e->socks[i].fd);
	if (e->tcp_mem)
		munmap(e->tcp_mem, e->tcp_mem_len);
	wheel_fini(&e->wheel);
	free(e->socks);
	free(e->rearm);
	free(e->dirty);
	free(e->clients);
	free(e->media);
	free(e->probes);
	free(e->reqs);
	e->socks = NULL;
	e->clients = NULL;
	e->probes = NULL;
}

void *engine_main(void *arg)
{
	struct engine *e = arg;
	int ret;

	e->ring.ring_fd = -1;
	ret = setup(e);
	if (ret) {
		e->error = ret;
		teardown(e);
		atomic_store(&e->status, ENGINE_FAILED);
		return NULL;
	}
	if (e->id == 0) {
		char f[256];

		uring_features_describe(&e->feat, f, sizeof(f));
		log_debug("io_uring: %s", f);
	}
	atomic_store(&e->status, ENGINE_RUNNING);
	ret = run(e);
	if (ret)
		e->error = ret;
	teardown(e);
	atomic_store(&e->status, ret ? ENGINE_FAILED : ENGINE_DONE);
	return NULL;
}

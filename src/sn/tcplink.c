/* tcplink: RFC 6062 peer connections, data connections and the two
 * forwarding engines (see tcplink.h). Runs on the worker that owns the
 * allocation. */
#include "src/sn/tcplink.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/sock.h"
#include "src/common/log.h"
#include "src/sn/worker.h"

/* user_data index of a link request: slot, direction, and whether it
 * writes (enum tcplink_dir_id in bit 1, write in bit 0). */
#define LINK_IDX(slot, d, wr) ((uint32_t)(slot) << 2 | (uint32_t)(d) << 1 | (uint32_t)(wr))
#define LINK_FLAGS (SPLICE_F_MOVE | SPLICE_F_NONBLOCK)

static inline uint32_t link_slot(const struct worker *w, const struct tcplink *L)
{
	return (uint32_t)(L - w->links);
}

static const struct tcplink_ops *engine_ops(int engine);

/* ---- pool and relay ports ---------------------------------------------- */

int tcplink_pool_init(struct worker *w, uint32_t cap)
{
	if (cap > (1u << TCPLINK_SLOT_BITS))
		cap = 1u << TCPLINK_SLOT_BITS;
	w->links = calloc(cap, sizeof(*w->links));
	if (!w->links)
		return -ENOMEM;
	w->n_links = cap;
	w->link_ops = engine_ops(w->sn->cfg->tcp_engine);
	if (w->sn->cfg->tcp_engine == TCPLINK_COPY) {
		/* Mapped, not touched: a page is paid for when a link first
		 * uses it. */
		void *p = mmap(NULL, (size_t)cap * 2 * TCPLINK_AREA, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (p == MAP_FAILED)
			return -ENOMEM;
		w->link_areas = p;
	}
	return 0;
}

static void fd_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void tcplink_pool_fini(struct worker *w)
{
	for (uint32_t i = 0; w->links && i < w->link_fresh; i++) {
		struct tcplink *L = &w->links[i];

		if (L->state == LINK_FREE)
			continue;
		fd_close(&L->peer_fd);
		fd_close(&L->client_fd);
		for (int d = 0; d < 2; d++) {
			fd_close(&L->dir[d].pipe_r);
			fd_close(&L->dir[d].pipe_w);
		}
	}
	if (w->link_areas)
		munmap(w->link_areas, (size_t)w->n_links * 2 * TCPLINK_AREA);
	free(w->links);
	w->links = NULL;
	w->link_areas = NULL;
}

/* The relay ports of TCP allocations are claimed in a process-wide
 * bitmap: their sockets use SO_REUSEPORT (a Connect leaves from the
 * listener's own address, RFC 6062 §5.2), so bind() alone would not stop
 * two allocations from sharing a port. */
static bool port_claim(struct sn *sn, uint16_t port)
{
	uint64_t bit = 1ull << (port & 63);

	return !(atomic_fetch_or_explicit(&sn->tcp_ports[port >> 6], bit, memory_order_relaxed) &
		 bit);
}

void tcplink_port_release(struct worker *w, const union addr *bound)
{
	uint16_t port = addr_port(bound);

	atomic_fetch_and_explicit(&w->sn->tcp_ports[port >> 6], ~(1ull << (port & 63)),
				  memory_order_relaxed);
}

int tcplink_listen(struct worker *w, const union addr *ip, union addr *bound)
{
	const struct sn_config *cfg = w->sn->cfg;
	uint32_t span = (uint32_t)cfg->relay_hi - cfg->relay_lo + 1;

	*bound = *ip;
	for (uint32_t i = 0; i < span; i++) {
		uint16_t port = (uint16_t)(cfg->relay_lo + w->relay_cursor++ % span);
		int fd;

		if (!port_claim(w->sn, port))
			continue;
		addr_set_port(bound, port);
		fd = sock_tcp_bound(bound);
		if (fd >= 0) {
			if (listen(fd, 64) == 0)
				return fd;
			fd = -errno;
			close(fd);
		}
		tcplink_port_release(w, bound);
		if (fd != -EADDRINUSE && fd != -EACCES)
			return fd;
	}
	return -EADDRINUSE;
}

void tcplink_arm_accept(struct worker *w, struct alloc *a)
{
	struct io_uring_sqe *sqe = uring_sqe(&w->ring);

	if (!sqe)
		return;
	io_uring_prep_multishot_accept(sqe, a->relay_fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, URING_UD(OP_LINK_ACCEPT, a->gen, alloc_index(&w->allocs, a)));
	a->recv_armed = true;
}

/* Takes a free link for allocation a, within the quotas. */
static struct tcplink *link_get(struct worker *w, struct alloc *a)
{
	const struct sn_config *cfg = w->sn->cfg;
	struct tcplink *L;
	uint32_t slot;

	if (a->n_links >= cfg->max_peer_conns)
		return NULL;
	if (atomic_fetch_add_explicit(&w->sn->links_total, 1, memory_order_relaxed) >=
	    cfg->max_tcp_peers) {
		atomic_fetch_sub_explicit(&w->sn->links_total, 1, memory_order_relaxed);
		return NULL;
	}
	if (w->link_free) {
		slot = w->link_free - 1;
		w->link_free = w->links[slot].next_free;
	} else if (w->link_fresh < w->n_links) {
		slot = w->link_fresh++;
	} else {
		atomic_fetch_sub_explicit(&w->sn->links_total, 1, memory_order_relaxed);
		return NULL;
	}
	L = &w->links[slot];
	L->gen++;
	L->state = LINK_CONNECTING;
	L->alloc = alloc_index(&w->allocs, a) + 1;
	L->alloc_gen = a->gen;
	L->id = (uint32_t)w->id << (TCPLINK_GEN_BITS + TCPLINK_SLOT_BITS) |
		(L->gen & ((1u << TCPLINK_GEN_BITS) - 1)) << TCPLINK_SLOT_BITS | slot;
	L->peer_fd = L->client_fd = -1;
	L->inflight = 0;
	memset(L->dir, 0, sizeof(L->dir));
	for (int d = 0; d < 2; d++) {
		L->dir[d].pipe_r = L->dir[d].pipe_w = -1;
		if (w->link_areas)
			L->dir[d].area = w->link_areas + ((size_t)slot * 2 + (size_t)d) * TCPLINK_AREA;
	}
	L->anext = a->links;
	a->links = slot + 1;
	a->n_links++;
	w->links_open++;
	metrics_set(w->m, M_LINKS_ACTIVE, w->links_open);
	return L;
}

static void link_unlink_alloc(struct worker *w, struct tcplink *L)
{
	struct alloc *a = tcplink_alloc(w, L);
	uint32_t *pp;

	L->alloc = 0;
	if (!a)
		return;
	for (pp = &a->links; *pp; pp = &w->links[*pp - 1].anext) {
		if (&w->links[*pp - 1] == L) {
			*pp = L->anext;
			a->n_links--;
			break;
		}
	}
}

/* Frees L once no request in flight names it. */
static void link_maybe_free(struct worker *w, struct tcplink *L)
{
	if (L->state != LINK_CLOSING || L->inflight)
		return;
	fd_close(&L->peer_fd);
	fd_close(&L->client_fd);
	for (int d = 0; d < 2; d++) {
		w->link_held -= L->dir[d].held;
		fd_close(&L->dir[d].pipe_r);
		fd_close(&L->dir[d].pipe_w);
	}
	L->state = LINK_FREE;
	L->gen++;
	L->next_free = w->link_free;
	w->link_free = link_slot(w, L) + 1;
	w->links_open--;
	atomic_fetch_sub_explicit(&w->sn->links_total, 1, memory_order_relaxed);
	metrics_set(w->m, M_LINKS_ACTIVE, w->links_open);
	metrics_inc(w->m, M_LINKS_CLOSED);
}

static void cancel_fd(struct worker *w, int fd)
{
	struct io_uring_sqe *sqe;

	if (fd < 0)
		return;
	sqe = uring_sqe(&w->ring);
	if (!sqe)
		return;
	io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data64(sqe, URING_UD(OP_IGNORE, 0, 0));
}

static void set_reset(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

void tcplink_close(struct worker *w, struct tcplink *L, bool reset)
{
	if (L->state == LINK_FREE || L->state == LINK_CLOSING)
		return;
	L->state = LINK_CLOSING;
	link_unlink_alloc(w, L);
	if (reset) {
		/* Closing with a zero linger sends RST: the other side learns
		 * that its peer's connection broke rather than ended. */
		set_reset(L->peer_fd);
		set_reset(L->client_fd);
		metrics_inc(w->m, M_LINKS_RESET);
	}
	if (L->inflight) {
		/* Cancelling by socket reaches polls, receives, sends and a
		 * connect; a splice runs in io-wq on non-blocking descriptors
		 * and ends by itself. The descriptors stay open until the
		 * last completion, so no number is reused under a request. */
		cancel_fd(w, L->peer_fd);
		cancel_fd(w, L->client_fd);
	}
	link_maybe_free(w, L);
}

struct alloc *tcplink_alloc(struct worker *w, const struct tcplink *L)
{
	if (!L->alloc)
		return NULL;
	return alloc_at(&w->allocs, L->alloc - 1, L->alloc_gen);
}

struct tcplink *tcplink_find(struct worker *w, uint32_t id)
{
	uint32_t slot = id & ((1u << TCPLINK_SLOT_BITS) - 1);
	struct tcplink *L;

	if (tcplink_id_worker(id) != w->id || slot >= w->link_fresh)
		return NULL;
	L = &w->links[slot];
	return L->state == LINK_WAIT_BIND && L->id == id ? L : NULL;
}

void tcplink_end_alloc(struct worker *w, struct alloc *a)
{
	while (a->links) {
		struct tcplink *L = &w->links[a->links - 1];

		tcplink_close(w, L, false);
		if (L->alloc) {
			/* Not unlinked (cannot happen): do not spin. */
			a->links = 0;
			a->n_links = 0;
		}
	}
}

/* ---- set-up: Connect, incoming connections, ConnectionBind ------------- */

int tcplink_connect(struct worker *w, struct alloc *a, const union addr *peer,
		    const uint8_t txid[STUN_TXID_LEN], bool sha256, bool fingerprint)
{
	struct io_uring_sqe *sqe;
	struct tcplink *L;
	int fd;

	for (uint32_t s = a->links; s; s = w->links[s - 1].anext)
		if (addr_equal(&w->links[s - 1].peer, peer))
			return -EEXIST;
	fd = sock_tcp_bound(&a->relay);
	if (fd < 0)
		return fd;
	sock_buffers(fd, w->sn->cfg->socket_buffer);
	L = link_get(w, a);
	if (!L) {
		close(fd);
		return -ENOSPC;
	}
	sqe = uring_sqe(&w->ring);
	if (!sqe) {
		close(fd);
		L->state = LINK_CLOSING;
		link_unlink_alloc(w, L);
		link_maybe_free(w, L);
		return -EBUSY;
	}
	L->peer_fd = fd;
	L->peer = *peer;
	L->deadline_ms = w->now_ms + TCPLINK_CONNECT_TIMEOUT_MS;
	memcpy(L->txid, txid, STUN_TXID_LEN);
	L->sha256 = sha256;
	L->fingerprint = fingerprint;
	/* L->peer stays put while the connect is in flight: the pool never moves. */
	io_uring_prep_connect(sqe, fd, &L->peer.sa, addr_len(&L->peer));
	io_uring_sqe_set_data64(sqe, URING_UD(OP_LINK_CONNECT, L->gen, link_slot(w, L)));
	L->inflight++;
	metrics_inc(w->m, M_LINKS_CONNECT);
	return 0;
}

static void on_connect(struct worker *w, struct tcplink *L, int res)
{
	struct alloc *a = tcplink_alloc(w, L);

	if (L->state != LINK_CONNECTING)
		return;
	if (!a) {
		tcplink_close(w, L, true);
		return;
	}
	if (res < 0) {
		if (log_level >= LOG_DEBUG) {
			char p[ADDR_STRLEN];

			log_debug("worker %d: connect to %s: %s", w->id,
				  addr_format(&L->peer, p, sizeof(p)), strerror(-res));
		}
		metrics_inc(w->m, M_LINKS_CONNECT_FAILED);
		relay_connect_answer(w, a, L->txid, L->sha256, L->fingerprint,
				     STUN_ERR_CONNECTION_TIMEOUT, 0);
		tcplink_close(w, L, false);
		return;
	}
	sock_tcp_nodelay(L->peer_fd);
	L->state = LINK_WAIT_BIND;
	L->deadline_ms = w->now_ms + TCPLINK_BIND_TIMEOUT_MS;
	relay_connect_answer(w, a, L->txid, L->sha256, L->fingerprint, 0, L->id);
}

void tcplink_accepted(struct worker *w, struct alloc *a, int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	union addr peer;
	struct tcplink *L;

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) ||
	    addr_from_sockaddr((struct sockaddr *)&ss, sl, &peer) ||
	    !alloc_perm_check(a, &peer, w->now_ms)) {
		/* RFC 6062 §5.3: no permission for the peer's IP, no connection. */
		close(fd);
		metrics_inc(w->m, M_LINKS_REFUSED);
		return;
	}
	L = link_get(w, a);
	if (!L) {
		close(fd);
		metrics_inc(w->m, M_LINKS_REFUSED);
		return;
	}
	sock_tcp_nodelay(fd);
	sock_buffers(fd, w->sn->cfg->socket_buffer);
	L->peer_fd = fd;
	L->peer = peer;
	L->state = LINK_WAIT_BIND;
	L->deadline_ms = w->now_ms + TCPLINK_BIND_TIMEOUT_MS;
	metrics_inc(w->m, M_LINKS_ACCEPTED);
	relay_connection_attempt(w, a, L->id, &peer);
}

static void dir_pump(struct worker *w, struct tcplink *L, int d);

/* The splice engines need a pipe per direction and non-blocking sockets
 * (so a splice after a readiness poll never blocks). */
static int start_pipes(struct tcplink *L)
{
	for (int d = 0; d < 2; d++) {
		int p[2];

		if (pipe2(p, O_CLOEXEC | O_NONBLOCK))
			return -errno;
		L->dir[d].pipe_r = p[0];
		L->dir[d].pipe_w = p[1];
		fcntl(p[1], F_SETPIPE_SZ, TCPLINK_PIPE);
	}
	if (fcntl(L->peer_fd, F_SETFL, O_NONBLOCK) || fcntl(L->client_fd, F_SETFL, O_NONBLOCK))
		return -errno;
	return 0;
}

static int start_nothing(struct tcplink *L)
{
	(void)L;
	return 0;
}

static bool send_all_now(int fd, const uint8_t *p, uint32_t len)
{
	ssize_t n = len ? send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL) : 0;

	return n == (ssize_t)len;
}

int tcplink_bind(struct worker *w, struct tcplink *L, struct conn *c, const uint8_t *resp,
		 uint32_t len)
{
	const uint8_t *early = c->rx + c->rx_done;
	uint32_t n_early = c->rx_len - c->rx_done;
	int ret;

	L->client_fd = tcp_detach(w, c);
	if (L->client_fd < 0) {
		tcplink_close(w, L, true);
		return -EBADF;
	}
	/* Fixed buffers on both sockets of a link: with the one area (or
	 * pipe) per direction, they bound what a slow reader can make the
	 * kernel hold for this link. */
	sock_buffers(L->client_fd, w->sn->cfg->socket_buffer);
	/* The response and whatever the client sent after its request are
	 * small, and both sockets' send buffers are empty: a non-blocking
	 * send takes them whole. If it could not, the link fails rather
	 * than the worker blocking. */
	if (!send_all_now(L->client_fd, resp, len) || !send_all_now(L->peer_fd, early, n_early)) {
		ret = -EIO;
		tcplink_close(w, L, true);
		return ret;
	}
	metrics_add(w->m, M_LINK_BYTES_UP, n_early);
	ret = w->link_ops->start(L);
	if (ret) {
		log_warn("worker %d: TCP link set-up: %s", w->id, strerror(-ret));
		tcplink_close(w, L, true);
		return ret;
	}
	L->state = LINK_OPEN;
	metrics_inc(w->m, M_LINKS_BOUND);
	dir_pump(w, L, LINK_UP);
	dir_pump(w, L, LINK_DOWN);
	return 0;
}

/* ---- forwarding -------------------------------------------------------- */

static inline int in_fd(const struct tcplink *L, int d)
{
	return d == LINK_UP ? L->client_fd : L->peer_fd;
}

static inline int out_fd(const struct tcplink *L, int d)
{
	return d == LINK_UP ? L->peer_fd : L->client_fd;
}

static void link_submit(struct worker *w, struct tcplink *L, struct io_uring_sqe *sqe,
			uint8_t op, int d, int wr)
{
	io_uring_sqe_set_data64(sqe, URING_UD(op, L->gen, LINK_IDX(link_slot(w, L), d, wr)));
	L->inflight++;
}

static void dir_poll(struct worker *w, struct tcplink *L, int d, int wr)
{
	struct io_uring_sqe *sqe = uring_sqe(&w->ring);

	if (!sqe)
		return;
	io_uring_prep_poll_add(sqe, wr ? out_fd(L, d) : in_fd(L, d), wr ? POLLOUT : POLLIN);
	link_submit(w, L, sqe, OP_LINK_POLL, d, wr);
}

static void on_xfer(struct worker *w, struct tcplink *L, int d, int wr, int res);

/* copy: IORING_OP_RECV into the direction's area, IORING_OP_SEND from it. */
static void xfer_copy(struct worker *w, struct tcplink *L, int d, int wr)
{
	struct tcplink_dir *x = &L->dir[d];
	struct io_uring_sqe *sqe = uring_sqe(&w->ring);

	if (!sqe)
		return;
	if (wr)
		io_uring_prep_send(sqe, out_fd(L, d), x->area + x->off, x->held, MSG_NOSIGNAL);
	else
		io_uring_prep_recv(sqe, in_fd(L, d), x->area, TCPLINK_AREA, 0);
	link_submit(w, L, sqe, OP_LINK_XFER, d, wr);
}

/* splice: splice(2) itself, called only after a readiness poll on
 * non-blocking descriptors, so it never blocks the worker. */
static void xfer_splice(struct worker *w, struct tcplink *L, int d, int wr)
{
	struct tcplink_dir *x = &L->dir[d];
	ssize_t n = wr ? splice(x->pipe_r, NULL, out_fd(L, d), NULL, x->held, LINK_FLAGS)
		       : splice(in_fd(L, d), NULL, x->pipe_w, NULL, TCPLINK_PIPE, LINK_FLAGS);

	on_xfer(w, L, d, wr, n < 0 ? -errno : (int)n);
}

/* uring-splice: IORING_OP_SPLICE, which io_uring always runs in an io-wq
 * thread (REQ_F_FORCE_ASYNC): a thread hop per transfer. */
static void xfer_uring_splice(struct worker *w, struct tcplink *L, int d, int wr)
{
	struct tcplink_dir *x = &L->dir[d];
	struct io_uring_sqe *sqe = uring_sqe(&w->ring);

	if (!sqe)
		return;
	if (wr)
		io_uring_prep_splice(sqe, x->pipe_r, -1, out_fd(L, d), -1, x->held, LINK_FLAGS);
	else
		io_uring_prep_splice(sqe, in_fd(L, d), -1, x->pipe_w, -1, TCPLINK_PIPE, LINK_FLAGS);
	link_submit(w, L, sqe, OP_LINK_XFER, d, wr);
}

/* The engines, indexed by enum tcplink_engine; each worker picks its one
 * at start-up, so no transfer asks which engine it is. */
static const struct tcplink_ops engines[] = {
	[TCPLINK_SPLICE] = { start_pipes, xfer_splice, true },
	[TCPLINK_URING_SPLICE] = { start_pipes, xfer_uring_splice, true },
	[TCPLINK_COPY] = { start_nothing, xfer_copy, false },
};

static const struct tcplink_ops *engine_ops(int engine)
{
	return &engines[engine];
}

static void dir_xfer(struct worker *w, struct tcplink *L, int d, int wr)
{
	w->link_ops->xfer(w, L, d, wr);
}

static void link_maybe_done(struct worker *w, struct tcplink *L)
{
	if (L->dir[LINK_UP].shut && L->dir[LINK_DOWN].shut)
		tcplink_close(w, L, false);
}

/* Starts what direction d can do next: write what it holds, else read
 * (copy reads at once; the splice engines wait for readiness first, so
 * no io-wq thread ever sleeps on an idle socket), else pass an end of
 * stream on. */
static void dir_pump(struct worker *w, struct tcplink *L, int d)
{
	struct tcplink_dir *x = &L->dir[d];

	if (L->state != LINK_OPEN || x->reading || x->writing)
		return;
	if (x->held) {
		x->writing = true;
		dir_xfer(w, L, d, 1);
	} else if (!x->eof) {
		x->reading = true;
		if (w->link_ops->poll_first)
			dir_poll(w, L, d, 0);
		else
			dir_xfer(w, L, d, 0);
	} else if (!x->shut) {
		shutdown(out_fd(L, d), SHUT_WR);
		x->shut = true;
		link_maybe_done(w, L);
	}
}

static void on_xfer(struct worker *w, struct tcplink *L, int d, int wr, int res)
{
	struct tcplink_dir *x = &L->dir[d];

	if (res == -EAGAIN) {
		/* Not ready after all (splice on non-blocking sockets): wait. */
		dir_poll(w, L, d, wr);
		return;
	}
	if (wr)
		x->writing = false;
	else
		x->reading = false;
	if (res < 0 || (wr && res == 0)) {
		if (res != -ECANCELED)
			metrics_inc(w->m, M_LINK_ERRORS);
		tcplink_close(w, L, true);
		return;
	}
	if (wr) {
		x->held -= (uint32_t)res;
		x->off = x->held ? x->off + (uint32_t)res : 0;
		w->link_held -= (uint64_t)res;
		metrics_add(w->m, d == LINK_UP ? M_LINK_BYTES_UP : M_LINK_BYTES_DOWN, (uint64_t)res);
	} else if (res == 0) {
		x->eof = true;
	} else {
		x->held = (uint32_t)res;
		x->off = 0;
		w->link_held += (uint64_t)res;
	}
	dir_pump(w, L, d);
}

void tcplink_on_cqe(struct worker *w, struct io_uring_cqe *cqe)
{
	uint32_t idx = uring_ud_idx(cqe->user_data);
	uint8_t op = uring_ud_op(cqe->user_data);
	uint32_t slot = op == OP_LINK_CONNECT ? idx : idx >> 2;
	int d = (int)(idx >> 1) & 1, wr = (int)idx & 1;
	struct tcplink *L;

	if (slot >= w->link_fresh)
		return;
	L = &w->links[slot];
	if (L->state == LINK_FREE || (L->gen & 0xffffffu) != uring_ud_gen(cqe->user_data))
		return;
	L->inflight--;
	if (L->state == LINK_CLOSING) {
		link_maybe_free(w, L);
		return;
	}
	switch (op) {
	case OP_LINK_CONNECT:
		on_connect(w, L, cqe->res);
		break;
	case OP_LINK_POLL:
		if (L->state != LINK_OPEN)
			break;
		if (cqe->res < 0) {
			tcplink_close(w, L, true);
			break;
		}
		/* Ready, hung up or in error: the transfer finds out which. */
		dir_xfer(w, L, d, wr);
		break;
	case OP_LINK_XFER:
		if (L->state == LINK_OPEN)
			on_xfer(w, L, d, wr, cqe->res);
		break;
	}
}

/* ---- deadlines --------------------------------------------------------- */

void tcplink_sweep(struct worker *w)
{
	uint32_t n = w->link_fresh / 10 + 1;

	metrics_set(w->m, M_LINK_HELD, w->link_held);
	if (!w->links_open)
		return;
	for (uint32_t k = 0; k < n && w->link_fresh; k++) {
		struct tcplink *L = &w->links[w->link_cursor];

		w->link_cursor = (w->link_cursor + 1) % w->link_fresh;
		if ((L->state != LINK_CONNECTING && L->state != LINK_WAIT_BIND) ||
		    L->deadline_ms > w->now_ms)
			continue;
		if (L->state == LINK_CONNECTING) {
			struct alloc *a = tcplink_alloc(w, L);

			metrics_inc(w->m, M_LINKS_CONNECT_FAILED);
			if (a)
				relay_connect_answer(w, a, L->txid, L->sha256, L->fingerprint,
						     STUN_ERR_CONNECTION_TIMEOUT, 0);
		} else {
			metrics_inc(w->m, M_LINKS_BIND_TIMEOUT);
		}
		tcplink_close(w, L, false);
	}
}

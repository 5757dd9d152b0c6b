/* tcp: clients that reach the supernode over TCP (RFC 8656 §3.1 with the
 * framing of §12.5): accepting them, reading frames in place, and the
 * ordered output queue of each connection. Part of the worker: every
 * function runs on the thread that owns the connection. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/sock.h"
#include "src/common/log.h"
#include "src/sn/worker.h"

static void conn_maybe_resume(struct worker *w, struct conn *c);
static void conn_maybe_free(struct worker *w, struct conn *c);
static void conn_received(struct worker *w, struct conn *c);

/* ---- TCP output queue ------------------------------------------------- */

static void conn_send_next(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe;
	struct tcp_item *it;

	if (c->sending || !c->q_len || c->state != CONN_OPEN)
		return;
	sqe = uring_sqe(&w->ring);
	if (!sqe)
		return;
	it = &c->q[c->q_head];
	io_uring_prep_send(sqe, c->fd, it->ptr + c->q_off, it->len - c->q_off, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, URING_UD(OP_TCP_SEND, c->gen, worker_conn_index(w, c)));
	c->sending = true;
}

int tcp_send(struct worker *w, struct conn *c, const uint8_t *ptr, uint32_t len,
		    struct buf_ref ref)
{
	struct tcp_item *it;

	if (c->state != CONN_OPEN || c->q_len == WORKER_CONN_TXQ) {
		worker_ref_release(w, ref);
		metrics_inc(w->m, M_DROP_TCP_QUEUE_FULL);
		return -ENOBUFS;
	}
	it = &c->q[(c->q_head + c->q_len) % WORKER_CONN_TXQ];
	it->ptr = ptr;
	it->len = len;
	it->ref = ref;
	c->q_len++;
	conn_send_next(w, c);
	return 0;
}

/* Drops queued items; the head stays while its send is in flight (the
 * kernel still reads it) and is released by that send's completion. */
static void conn_queue_flush(struct worker *w, struct conn *c)
{
	uint16_t keep = c->sending ? 1 : 0;

	while (c->q_len > keep) {
		uint16_t last = (uint16_t)((c->q_head + c->q_len - 1) % WORKER_CONN_TXQ);

		worker_ref_release(w, c->q[last].ref);
		c->q_len--;
	}
	if (!keep)
		c->q_off = 0;
}

void tcp_on_send(struct worker *w, struct io_uring_cqe *cqe)
{
	uint32_t idx = uring_ud_idx(cqe->user_data);
	struct conn *c;
	struct tcp_item *it;

	if (idx >= w->n_conns)
		return;
	c = &w->conns[idx];
	if (c->state == CONN_FREE || (c->gen & 0xffffffu) != uring_ud_gen(cqe->user_data))
		return;
	c->sending = false;
	if (c->state != CONN_OPEN || cqe->res <= 0) {
		if (cqe->res < 0 && cqe->res != -ECANCELED && c->state == CONN_OPEN)
			metrics_inc(w->m, M_SEND_ERRORS);
		conn_queue_flush(w, c);
		if (c->state == CONN_OPEN)
			tcp_close(w, c);
		else
			conn_maybe_free(w, c);
		return;
	}
	it = &c->q[c->q_head];
	c->q_off += (uint32_t)cqe->res;
	metrics_add(w->m, M_TX_BYTES, (uint64_t)cqe->res);
	if (c->q_off >= it->len) {
		metrics_inc(w->m, M_TX_PACKETS);
		c->q_off = 0;
		c->q_head = (uint16_t)((c->q_head + 1) % WORKER_CONN_TXQ);
		c->q_len--;
		worker_ref_release(w, it->ref);
	}
	conn_send_next(w, c);
}

/* ---- TCP connections --------------------------------------------------- */

static void conn_arm_recv(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->recv_armed || c->state != CONN_OPEN)
		return;
	sqe = uring_sqe(&w->ring);
	if (!sqe)
		return;
	io_uring_prep_recv(sqe, c->fd, c->rx + c->rx_len, WORKER_CONN_RX - c->rx_len, 0);
	io_uring_sqe_set_data64(sqe, URING_UD(OP_TCP_RECV, c->gen, worker_conn_index(w, c)));
	c->recv_armed = true;
}

/* Once no send reads the receive area any more, move the partial frame
 * (if any) to the front and read on. */
static void conn_maybe_resume(struct worker *w, struct conn *c)
{
	if (c->rx_refs || c->recv_armed)
		return;
	if (c->rx_done) {
		memmove(c->rx, c->rx + c->rx_done, c->rx_len - c->rx_done);
		c->rx_len -= c->rx_done;
		c->rx_done = 0;
	}
	conn_arm_recv(w, c);
}

void tcp_rx_released(struct worker *w, struct conn *c)
{
	if (c->state == CONN_OPEN)
		conn_maybe_resume(w, c);
	else
		conn_maybe_free(w, c);
}

static void conn_maybe_free(struct worker *w, struct conn *c)
{
	if (c->state != CONN_CLOSING || c->rx_refs || c->recv_armed || c->sending)
		return;
	/* A detached socket (fd -1) lives on elsewhere: not closed here. */
	if (c->fd >= 0) {
		close(c->fd);
		metrics_inc(w->m, M_TCP_CLOSED);
	}
	c->fd = -1;
	c->state = CONN_FREE;
	c->gen++;
	c->next_free = w->conn_free;
	w->conn_free = worker_conn_index(w, c) + 1;
	w->conns_open--;
	atomic_fetch_sub_explicit(&w->sn->tcp_open, 1, memory_order_relaxed);
	metrics_set(w->m, M_TCP_ACTIVE, w->conns_open);
}

void tcp_close(struct worker *w, struct conn *c)
{
	if (c->state != CONN_OPEN)
		return;
	c->state = CONN_CLOSING;
	if (c->alloc) {
		struct alloc *a = &w->allocs.slots[c->alloc - 1];

		c->alloc = 0;
		worker_alloc_end(w, a);
	}
	conn_queue_flush(w, c);
	/* shutdown wakes a receive or send in flight (they complete with 0 or
	 * an error), after which the slot is freed. */
	shutdown(c->fd, SHUT_RDWR);
	conn_maybe_free(w, c);
}

int tcp_detach(struct worker *w, struct conn *c)
{
	int fd = c->fd;

	if (c->state != CONN_OPEN || c->sending || c->q_len || c->recv_armed || c->alloc)
		return -EBUSY;
	c->state = CONN_CLOSING;
	c->fd = -1;
	conn_maybe_free(w, c);
	return fd;
}

/* Takes a free connection slot for socket fd; NULL (fd untouched) when
 * none is left or the total is reached. */
static struct conn *conn_open(struct worker *w, int fd, uint16_t listener)
{
	struct conn *c;

	if (w->draining || (!w->conn_free && w->conn_fresh == w->n_conns))
		return NULL;
	if (atomic_fetch_add_explicit(&w->sn->tcp_open, 1, memory_order_relaxed) >=
	    w->sn->cfg->max_tcp) {
		atomic_fetch_sub_explicit(&w->sn->tcp_open, 1, memory_order_relaxed);
		return NULL;
	}
	if (w->conn_free) {
		c = &w->conns[w->conn_free - 1];
		w->conn_free = c->next_free;
	} else {
		/* Never-used slots are handed out in order, so the pool's
		 * memory is touched only as far as it is used. */
		c = &w->conns[w->conn_fresh];
		c->rx = w->conn_rx + (size_t)w->conn_fresh++ * WORKER_CONN_RX;
	}
	c->fd = fd;
	c->state = CONN_OPEN;
	c->listener = listener;
	c->rx_len = c->rx_done = c->rx_refs = 0;
	c->alloc = 0;
	c->q_head = c->q_len = 0;
	c->q_off = 0;
	c->sending = c->recv_armed = false;
	c->last_rx_ms = w->now_ms;
	w->conns_open++;
	metrics_set(w->m, M_TCP_ACTIVE, w->conns_open);
	return c;
}

void tcp_on_accept(struct worker *w, struct io_uring_cqe *cqe)
{
	uint32_t i = uring_ud_idx(cqe->user_data);
	struct listener *l;
	struct conn *c;
	int fd = cqe->res;

	if (i >= (uint32_t)w->n_lst)
		return;
	l = &w->lst[i];
	if (!(cqe->flags & IORING_CQE_F_MORE))
		l->tcp_armed = false;
	if (fd >= 0) {
		c = conn_open(w, fd, (uint16_t)i);
		if (!c) {
			close(fd);
			metrics_inc(w->m, M_TCP_CLOSED);
		} else {
			struct sockaddr_storage ss;
			socklen_t sl = sizeof(ss);

			if (getpeername(fd, (struct sockaddr *)&ss, &sl) ||
			    addr_from_sockaddr((struct sockaddr *)&ss, sl, &c->client) ||
			    sock_local_addr(fd, &c->local))
				memset(&c->client, 0, sizeof(c->client));
			sock_tcp_nodelay(fd);
			metrics_inc(w->m, M_TCP_ACCEPTED);
			conn_arm_recv(w, c);
		}
	} else if (fd != -ECANCELED) {
		log_warn("worker %d: accept: %s", w->id, strerror(-fd));
	}
	if (!l->tcp_armed && !w->draining && l->tcp_fd >= 0) {
		struct io_uring_sqe *sqe = uring_sqe(&w->ring);

		if (sqe) {
			io_uring_prep_multishot_accept(sqe, l->tcp_fd, NULL, NULL, SOCK_CLOEXEC);
			io_uring_sqe_set_data64(sqe, URING_UD(OP_ACCEPT, 0, i));
			l->tcp_armed = true;
		}
	}
}

/* Splits the receive area into frames (RFC 8656 §12.5: STUN messages and
 * ChannelData padded to 4 bytes) and hands each to the relay in place. */
static void conn_parse(struct worker *w, struct conn *c)
{
	uint32_t idx = worker_conn_index(w, c);

	while (c->state == CONN_OPEN && c->rx_len - c->rx_done >= 4) {
		uint8_t *p = c->rx + c->rx_done;
		uint32_t avail = c->rx_len - c->rx_done;
		int flen = stun_frame_len(p, avail);
		struct client_ctx ctx;

		if (flen < 0 || flen > WORKER_CONN_RX) {
			metrics_inc(w->m, M_DROP_TCP_FRAMING);
			tcp_close(w, c);
			return;
		}
		if (flen == 0 || (uint32_t)flen > avail)
			break;
		c->rx_done += (uint32_t)flen;
		metrics_inc(w->m, M_RX_PACKETS);
		memset(&ctx, 0, sizeof(ctx));
		ctx.transport = IPPROTO_TCP;
		ctx.via = idx;
		ctx.conn = c;
		ctx.src = c->client;
		ctx.local = c->local;
		ctx.ref = (struct buf_ref){ .kind = REF_CONN_RX, .id = idx };
		c->rx_refs++;
		relay_from_client(w, &ctx, p, (uint32_t)flen);
	}
}

void tcp_on_recv(struct worker *w, struct io_uring_cqe *cqe)
{
	uint32_t idx = uring_ud_idx(cqe->user_data);
	struct conn *c;

	if (idx >= w->n_conns)
		return;
	c = &w->conns[idx];
	if (c->state == CONN_FREE || (c->gen & 0xffffffu) != uring_ud_gen(cqe->user_data))
		return;
	c->recv_armed = false;
	if (c->state != CONN_OPEN) {
		conn_maybe_free(w, c);
		return;
	}
	if (cqe->res <= 0) {
		tcp_close(w, c);
		return;
	}
	c->rx_len += (uint32_t)cqe->res;
	c->last_rx_ms = w->now_ms;
	metrics_add(w->m, M_RX_BYTES, (uint64_t)cqe->res);
	conn_received(w, c);
}

/* Parses what c's receive area holds and reads on (or finishes). */
static void conn_received(struct worker *w, struct conn *c)
{
	/* Hold a reference across parsing so a send that completes inline
	 * cannot resume the connection while frames are still being read. */
	c->rx_refs++;
	conn_parse(w, c);
	c->rx_refs--;
	if (c->state == CONN_OPEN) {
		if (c->rx_len == WORKER_CONN_RX && c->rx_done == 0) {
			/* A frame larger than the receive area cannot complete. */
			metrics_inc(w->m, M_DROP_TCP_FRAMING);
			tcp_close(w, c);
			return;
		}
		conn_maybe_resume(w, c);
	} else {
		conn_maybe_free(w, c);
	}
}

/* ---- handing data connections to the worker that owns them ------------- */

int tcp_handover(struct worker *w, struct conn *c, uint32_t from, uint32_t id)
{
	int target = tcplink_id_worker(id);
	uint32_t n = c->rx_len - from;
	struct tcp_handover *h, *old;
	struct io_uring_sqe *sqe;
	struct worker *t;
	int fd;

	if (target >= w->sn->n_workers || target == w->id)
		return -EINVAL;
	h = malloc(sizeof(*h) + n);
	if (!h)
		return -ENOMEM;
	fd = tcp_detach(w, c);
	if (fd < 0) {
		free(h);
		return fd;
	}
	h->fd = fd;
	h->listener = c->listener;
	h->client = c->client;
	h->local = c->local;
	h->len = n;
	memcpy(h->data, c->rx + from, n);
	t = w->sn->workers[target];
	/* Lock-free push (compare-and-swap on the head); the owner takes the whole list at
	 * once, so no node is popped while another push reads it. */
	old = atomic_load_explicit(&t->inbox, memory_order_relaxed);
	do
		h->next = old;
	while (!atomic_compare_exchange_weak_explicit(&t->inbox, &old, h, memory_order_release,
						      memory_order_relaxed));
	metrics_inc(w->m, M_TCP_HANDOVERS);
	/* Wake the owner; if the message is lost it still drains its inbox
	 * at its next tick. */
	sqe = uring_sqe(&w->ring);
	if (sqe) {
		io_uring_prep_msg_ring(sqe, t->ring_fd, 0, URING_UD(OP_MSG, 0, WORKER_MSG_INBOX), 0);
		io_uring_sqe_set_data64(sqe, URING_UD(OP_IGNORE, 0, 0));
	}
	return 0;
}

void tcp_inbox_drain(struct worker *w)
{
	struct tcp_handover *h = atomic_exchange_explicit(&w->inbox, NULL, memory_order_acquire);
	struct tcp_handover *fifo = NULL;

	while (h) {
		struct tcp_handover *next = h->next;

		h->next = fifo;
		fifo = h;
		h = next;
	}
	while (fifo) {
		struct conn *c;

		h = fifo;
		fifo = h->next;
		c = h->len <= WORKER_CONN_RX ? conn_open(w, h->fd, h->listener) : NULL;
		if (!c) {
			close(h->fd);
			metrics_inc(w->m, M_TCP_CLOSED);
		} else {
			c->client = h->client;
			c->local = h->local;
			memcpy(c->rx, h->data, h->len);
			c->rx_len = h->len;
			conn_received(w, c);
		}
		free(h);
	}
}

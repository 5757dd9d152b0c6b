#include "src/sn/worker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/sock.h"
#include "src/common/clock.h"
#include "src/common/log.h"

#define BGID 0

/* ---- small pools ------------------------------------------------------ */

static struct send_ctx *send_get(struct worker *w, uint32_t *idx)
{
	struct send_ctx *s;

	if (!w->send_free)
		return NULL;
	*idx = w->send_free - 1;
	s = &w->sends[*idx];
	w->send_free = s->next_free;
	w->sends_inflight++;
	return s;
}

static void send_put(struct worker *w, uint32_t idx)
{
	w->sends[idx].next_free = w->send_free;
	w->send_free = idx + 1;
	w->sends_inflight--;
}

uint8_t *worker_tx_get(struct worker *w, uint32_t *slot)
{
	if (!w->tx_free)
		return NULL;
	*slot = w->tx_free - 1;
	w->tx_free = w->tx_next[*slot];
	return w->tx + (size_t)*slot * WORKER_TX_SLOT;
}

void worker_ref_release(struct worker *w, struct buf_ref ref)
{
	switch (ref.kind) {
	case REF_RXBUF:
		bufring_recycle(&w->br, (uint16_t)ref.id);
		w->recycled++;
		break;
	case REF_TX:
		w->tx_next[ref.id] = w->tx_free;
		w->tx_free = ref.id + 1;
		break;
	case REF_CONN_RX: {
		struct conn *c = &w->conns[ref.id];

		c->rx_refs--;
		tcp_rx_released(w, c);
		break;
	}
	default:
		break;
	}
}

/* ---- sends ------------------------------------------------------------ */

static void set_pktinfo(struct send_ctx *s, const union addr *from)
{
	struct cmsghdr *cm;

	s->mh.msg_control = s->cmsg;
	if (from->sa.sa_family == AF_INET6) {
		struct in6_pktinfo pi = { .ipi6_addr = from->v6.sin6_addr };

		s->mh.msg_controllen = CMSG_SPACE(sizeof(pi));
		cm = CMSG_FIRSTHDR(&s->mh);
		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
	} else {
		struct in_pktinfo pi = { .ipi_spec_dst = from->v4.sin_addr };

		s->mh.msg_controllen = CMSG_SPACE(sizeof(pi));
		cm = CMSG_FIRSTHDR(&s->mh);
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
	}
}

int worker_send_udp(struct worker *w, int fd, const uint8_t *ptr, uint32_t len,
		    const union addr *dst, const union addr *from, struct buf_ref ref)
{
	struct io_uring_sqe *sqe;
	struct send_ctx *s;
	uint32_t idx;

	s = send_get(w, &idx);
	if (!s) {
		worker_ref_release(w, ref);
		metrics_inc(w->m, M_DROP_SEND_FAILED);
		return -ENOBUFS;
	}
	sqe = uring_sqe(&w->ring);
	if (!sqe) {
		send_put(w, idx);
		worker_ref_release(w, ref);
		metrics_inc(w->m, M_DROP_SEND_FAILED);
		return -EBUSY;
	}
	s->dst = *dst;
	s->iov.iov_base = (void *)ptr;
	s->iov.iov_len = len;
	memset(&s->mh, 0, sizeof(s->mh));
	s->mh.msg_name = &s->dst;
	s->mh.msg_namelen = addr_len(dst);
	s->mh.msg_iov = &s->iov;
	s->mh.msg_iovlen = 1;
	if (from && from->sa.sa_family == dst->sa.sa_family)
		set_pktinfo(s, from);
	s->ref = ref;
	s->len = len;
	io_uring_prep_sendmsg(sqe, fd, &s->mh, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, URING_UD(OP_SEND, 0, idx));
	return 0;
}

static void on_send(struct worker *w, struct io_uring_cqe *cqe)
{
	uint32_t idx = uring_ud_idx(cqe->user_data);
	struct send_ctx *s;

	if (idx >= w->n_sends)
		return;
	s = &w->sends[idx];
	if (cqe->res < 0) {
		metrics_inc(w->m, M_SEND_ERRORS);
		log_debug("worker %d: send: %s", w->id, strerror(-cqe->res));
	} else {
		metrics_inc(w->m, M_TX_PACKETS);
		metrics_add(w->m, M_TX_BYTES, (uint64_t)cqe->res);
	}
	worker_ref_release(w, s->ref);
	send_put(w, idx);
}

/* ---- receives --------------------------------------------------------- */

static void arm_recvmsg(struct worker *w, int fd, struct msghdr *mh, uint64_t ud)
{
	struct io_uring_sqe *sqe = uring_sqe(&w->ring);

	if (!sqe)
		return;
	io_uring_prep_recvmsg_multishot(sqe, fd, mh, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, ud);
}

/* The relay sockets share one recvmsg layout: no control data is asked
 * for, but the space is reserved so every payload has the same headroom. */
static struct msghdr relay_mh = {
	.msg_namelen = WORKER_NAME_SPACE,
	.msg_controllen = WORKER_CMSG_SPACE,
};

void worker_arm_relay(struct worker *w, struct alloc *a)
{
	if (a->relay_proto == IPPROTO_TCP) {
		tcplink_arm_accept(w, a);
		return;
	}
	arm_recvmsg(w, a->relay_fd, &relay_mh,
		    URING_UD(OP_RECV_RELAY, a->gen, alloc_index(&w->allocs, a)));
	a->recv_armed = true;
	a->starved = false;
}

static void arm_listener_udp(struct worker *w, int i)
{
	struct listener *l = &w->lst[i];

	arm_recvmsg(w, l->udp_fd, &l->mh, URING_UD(OP_RECV_UDP, 0, i));
	l->udp_armed = true;
	l->udp_starved = false;
}

/* Reads what the kernel put in the control area: the local address the
 * datagram was sent to (IP(V6)_PKTINFO, asked for on wildcard listeners)
 * into local, and its arrival time (SO_TIMESTAMPNS). Returns true when
 * the datagram has waited longer than --max-queue-delay: past saturation
 * a late packet is useless to a call, and forwarding it only delays the
 * ones behind it. */
static bool read_cmsgs(struct worker *w, struct io_uring_recvmsg_out *out, struct msghdr *mh,
		       union addr *local)
{
	struct cmsghdr *cm;

	if (!mh->msg_controllen || !out->controllen)
		return false;
	for (cm = io_uring_recvmsg_cmsg_firsthdr(out, mh); cm;
	     cm = io_uring_recvmsg_cmsg_nexthdr(out, mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;
			int64_t at;

			memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
			at = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
			if (w->max_delay_ns && (int64_t)w->now_real_ns - at > w->max_delay_ns)
				return true;
		} else if (local && cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			local->v4.sin_addr = pi.ipi_addr;
		} else if (local && cm->cmsg_level == IPPROTO_IPV6 &&
			   cm->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			local->v6.sin6_addr = pi.ipi6_addr;
		}
	}
	return false;
}

/* Common part of both multishot receives: returns the payload of a good,
 * timely datagram and its source (and, with local, the address it was
 * sent to), or NULL after recycling the buffer. */
static uint8_t *take_datagram(struct worker *w, struct io_uring_cqe *cqe, struct msghdr *mh,
			      uint16_t *bid, uint32_t *len, union addr *src, union addr *local)
{
	struct io_uring_recvmsg_out *out;
	uint8_t *buf;

	if (!(cqe->flags & IORING_CQE_F_BUFFER))
		return NULL;
	*bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
	buf = bufring_buf(&w->br, *bid);
	metrics_inc(w->m, M_RX_PACKETS);
	out = io_uring_recvmsg_validate(buf, cqe->res, mh);
	if (!out || addr_from_sockaddr(io_uring_recvmsg_name(out), out->namelen, src)) {
		metrics_inc(w->m, M_DROP_TRUNCATED);
		goto drop;
	}
	if (out->flags & MSG_TRUNC) {
		metrics_inc(w->m, M_DROP_TRUNCATED);
		goto drop;
	}
	*len = io_uring_recvmsg_payload_length(out, cqe->res, mh);
	metrics_add(w->m, M_RX_BYTES, *len);
	if (read_cmsgs(w, out, mh, local)) {
		metrics_inc(w->m, M_DROP_STALE);
		goto drop;
	}
	return io_uring_recvmsg_payload(out, mh);
drop:
	bufring_recycle(&w->br, *bid);
	w->recycled++;
	return NULL;
}

static void on_recv_udp(struct worker *w, struct io_uring_cqe *cqe)
{
	uint32_t i = uring_ud_idx(cqe->user_data);
	struct client_ctx ctx;
	struct listener *l;
	uint16_t bid;
	uint32_t len;
	uint8_t *p;

	if (i >= (uint32_t)w->n_lst)
		return;
	l = &w->lst[i];
	if (!(cqe->flags & IORING_CQE_F_MORE))
		l->udp_armed = false;
	if (cqe->res < 0) {
		if (cqe->res == -ENOBUFS) {
			metrics_inc(w->m, M_DROP_NO_BUFFERS);
			l->udp_starved = true;
		} else if (cqe->res != -ECANCELED) {
			log_warn("worker %d: receive on listener: %s", w->id, strerror(-cqe->res));
		}
	} else {
		memset(&ctx, 0, sizeof(ctx));
		ctx.local = l->addr;
		p = take_datagram(w, cqe, &l->mh, &bid, &len, &ctx.src,
				  l->wildcard ? &ctx.local : NULL);
		if (p) {
			ctx.transport = IPPROTO_UDP;
			ctx.via = i;
			ctx.ref = (struct buf_ref){ .kind = REF_RXBUF, .id = bid };
			relay_from_client(w, &ctx, p, len);
		}
	}
	if (!l->udp_armed && !l->udp_starved && !w->draining && l->udp_fd >= 0) {
		metrics_inc(w->m, M_RECV_REARMS);
		arm_listener_udp(w, (int)i);
	}
}

static void alloc_finish_close(struct worker *w, struct alloc *a)
{
	if (a->relay_fd >= 0) {
		close(a->relay_fd);
		if (a->relay_proto == IPPROTO_TCP)
			tcplink_port_release(w, &a->relay);
	}
	a->relay_fd = -1;
	alloc_release(&w->allocs, a);
	metrics_set(w->m, M_ALLOCS_ACTIVE, w->allocs.n_used);
}

static void on_recv_relay(struct worker *w, struct io_uring_cqe *cqe)
{
	struct alloc *a = alloc_at(&w->allocs, uring_ud_idx(cqe->user_data),
				   uring_ud_gen(cqe->user_data));
	union addr peer;
	uint16_t bid;
	uint32_t len;
	uint8_t *p;

	if (!a) {
		/* The slot was recycled under a late completion: give the
		 * buffer back, nothing else refers to it. */
		if (cqe->res >= 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
			bufring_recycle(&w->br, (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
			w->recycled++;
		}
		return;
	}
	if (!(cqe->flags & IORING_CQE_F_MORE))
		a->recv_armed = false;
	if (cqe->res < 0) {
		if (cqe->res == -ENOBUFS && a->state == ALLOC_ACTIVE) {
			metrics_inc(w->m, M_DROP_NO_BUFFERS);
			a->starved = true;
			w->n_starved++;
		}
	} else {
		p = take_datagram(w, cqe, &relay_mh, &bid, &len, &peer, NULL);
		if (p) {
			if (a->state == ALLOC_ACTIVE) {
				relay_from_peer(w, a, bid, p, len, &peer);
			} else {
				bufring_recycle(&w->br, bid);
				w->recycled++;
			}
		}
	}
	if (a->recv_armed)
		return;
	if (a->state == ALLOC_CLOSING)
		alloc_finish_close(w, a);
	else if (!a->starved) {
		metrics_inc(w->m, M_RECV_REARMS);
		worker_arm_relay(w, a);
	}
}

/* The multishot accept of a TCP allocation's listening socket. */
static void on_link_accept(struct worker *w, struct io_uring_cqe *cqe)
{
	struct alloc *a = alloc_at(&w->allocs, uring_ud_idx(cqe->user_data),
				   uring_ud_gen(cqe->user_data));

	if (!a) {
		if (cqe->res >= 0)
			close(cqe->res);
		return;
	}
	if (!(cqe->flags & IORING_CQE_F_MORE))
		a->recv_armed = false;
	if (cqe->res >= 0) {
		if (a->state == ALLOC_ACTIVE)
			tcplink_accepted(w, a, cqe->res);
		else
			close(cqe->res);
	}
	if (a->recv_armed)
		return;
	if (a->state == ALLOC_CLOSING)
		alloc_finish_close(w, a);
	else if (cqe->res != -EMFILE && cqe->res != -ENFILE)
		tcplink_arm_accept(w, a);
	else
		/* Out of descriptors: the next tick tries again rather than
		 * spinning on the error. */
		w->n_accept_retry++;
}

/* Relay sockets whose receive stopped on -ENOBUFS are re-armed once
 * buffers came back this turn; scanning is bounded by the number of
 * starved sockets found. */
static void rearm_starved(struct worker *w)
{
	for (int i = 0; i < w->n_lst; i++)
		if (w->lst[i].udp_starved && !w->draining)
			arm_listener_udp(w, i);
	if (!w->n_starved)
		return;
	for (uint32_t i = 0; i < w->allocs.n_used && w->n_starved; i++) {
		struct alloc *a = &w->allocs.slots[w->allocs.live[i]];

		if (a->starved) {
			w->n_starved--;
			a->starved = false;
			if (a->state == ALLOC_ACTIVE && !a->recv_armed)
				worker_arm_relay(w, a);
		}
	}
}

void worker_alloc_end(struct worker *w, struct alloc *a)
{
	struct io_uring_sqe *sqe;

	if (a->state != ALLOC_ACTIVE)
		return;
	alloc_unlink(&w->allocs, a);
	auth_quota_give(w->sn->auth, a->user_id);
	metrics_inc(w->m, M_ALLOCS_ENDED);
	if (a->starved) {
		a->starved = false;
		w->n_starved--;
	}
	if (a->transport == IPPROTO_TCP && a->via < w->n_conns)
		w->conns[a->via].alloc = 0;
	if (a->relay_proto == IPPROTO_TCP)
		tcplink_end_alloc(w, a);
	if (!a->recv_armed) {
		alloc_finish_close(w, a);
		return;
	}
	/* The multishot receive holds the socket; cancel it and close when
	 * its last completion (without F_MORE) arrives. */
	sqe = uring_sqe(&w->ring);
	if (sqe) {
		io_uring_prep_cancel64(sqe, URING_UD(a->relay_proto == IPPROTO_TCP ? OP_LINK_ACCEPT
										   : OP_RECV_RELAY,
						     a->gen, alloc_index(&w->allocs, a)),
				       0);
		io_uring_sqe_set_data64(sqe, URING_UD(OP_IGNORE, 0, 0));
	}
}

/* ---- timers and drain -------------------------------------------------- */

static void arm_timer(struct worker *w)
{
	struct io_uring_sqe *sqe = uring_sqe(&w->ring);

	if (!sqe)
		return;
	w->tick.tv_sec = 0;
	w->tick.tv_nsec = WORKER_TICK_MS * 1000000LL;
	io_uring_prep_timeout(sqe, &w->tick, 0, 0);
	io_uring_sqe_set_data64(sqe, URING_UD(OP_TIMER, 0, 0));
}

/* Sweeps a tenth of the allocations in use per tick (each of them once a
 * second): expired allocations end, stale permissions and channels go.
 * Walks the dense live array, so an idle worker costs nothing. Ending an
 * allocation swap-removes it, which can skip one entry until next round. */
static void expire_sweep(struct worker *w)
{
	struct alloc_table *t = &w->allocs;
	uint32_t n = t->n_used / 10 + 1;

	for (uint32_t k = 0; k < n && t->n_used; k++) {
		struct alloc *a;

		if (w->expire_cursor >= t->n_used)
			w->expire_cursor = 0;
		a = &t->slots[t->live[w->expire_cursor++]];
		if (a->state != ALLOC_ACTIVE)
			continue;
		if (a->expires_ms <= w->now_ms) {
			log_debug("worker %d: allocation expired", w->id);
			worker_alloc_end(w, a);
		} else {
			alloc_prune(a, w->now_ms);
		}
	}
	if (!w->conns_open)
		return;
	/* TCP clients without an allocation must not idle forever: a tenth of
	 * the connection slots per tick. */
	n = w->conn_fresh / 10 + 1;
	for (uint32_t k = 0; k < n; k++) {
		struct conn *c = &w->conns[w->idle_cursor];

		w->idle_cursor = (w->idle_cursor + 1) % w->conn_fresh;
		if (c->state == CONN_OPEN && !c->alloc &&
		    w->now_ms - c->last_rx_ms > (uint64_t)w->sn->cfg->tcp_idle_s * 1000u)
			tcp_close(w, c);
	}
}

/* TCP allocations whose accept stopped for lack of descriptors. */
static void retry_accepts(struct worker *w)
{
	if (!w->n_accept_retry)
		return;
	w->n_accept_retry = 0;
	for (uint32_t i = 0; i < w->allocs.n_used; i++) {
		struct alloc *a = &w->allocs.slots[w->allocs.live[i]];

		if (a->state == ALLOC_ACTIVE && a->relay_proto == IPPROTO_TCP && !a->recv_armed)
			tcplink_arm_accept(w, a);
	}
}

static void start_drain(struct worker *w)
{
	struct io_uring_sqe *sqe;

	if (w->draining)
		return;
	w->draining = true;
	w->drain_deadline_ms = w->now_ms + 2000;
	for (int i = 0; i < w->n_lst; i++) {
		struct listener *l = &w->lst[i];
		int fds[2] = { l->udp_fd, l->tcp_fd };

		for (int k = 0; k < 2; k++) {
			if (fds[k] < 0)
				continue;
			sqe = uring_sqe(&w->ring);
			if (sqe) {
				io_uring_prep_cancel_fd(sqe, fds[k], IORING_ASYNC_CANCEL_ALL);
				io_uring_sqe_set_data64(sqe, URING_UD(OP_IGNORE, 0, 0));
			}
		}
	}
	/* Ending swap-removes from live only when the slot is released, so
	 * walk a snapshot of the count backwards. */
	for (uint32_t i = w->allocs.n_used; i-- > 0;)
		if (i < w->allocs.n_used && w->allocs.slots[w->allocs.live[i]].state == ALLOC_ACTIVE)
			worker_alloc_end(w, &w->allocs.slots[w->allocs.live[i]]);
	for (uint32_t i = 0; i < w->conn_fresh; i++)
		if (w->conns[i].state == CONN_OPEN)
			tcp_close(w, &w->conns[i]);
	for (uint32_t i = 0; i < w->link_fresh; i++)
		tcplink_close(w, &w->links[i], false);
}

static bool drained(const struct worker *w)
{
	return w->allocs.n_used == 0 && w->conns_open == 0 && w->sends_inflight == 0 &&
	       w->links_open == 0;
}

static void on_cqe(struct worker *w, struct io_uring_cqe *cqe)
{
	switch (uring_ud_op(cqe->user_data)) {
	case OP_RECV_UDP:
		on_recv_udp(w, cqe);
		break;
	case OP_RECV_RELAY:
		on_recv_relay(w, cqe);
		break;
	case OP_SEND:
		on_send(w, cqe);
		break;
	case OP_ACCEPT:
		tcp_on_accept(w, cqe);
		break;
	case OP_TCP_RECV:
		tcp_on_recv(w, cqe);
		break;
	case OP_TCP_SEND:
		tcp_on_send(w, cqe);
		break;
	case OP_LINK_ACCEPT:
		on_link_accept(w, cqe);
		break;
	case OP_LINK_CONNECT:
	case OP_LINK_POLL:
	case OP_LINK_XFER:
		tcplink_on_cqe(w, cqe);
		break;
	case OP_TIMER:
		w->now_s = clock_real_s();
		expire_sweep(w);
		tcplink_sweep(w);
		tcp_inbox_drain(w);
		retry_accepts(w);
		metrics_set(w->m, M_BUFS_HELD, w->sends_inflight);
		if (!w->stop)
			arm_timer(w);
		break;
	case OP_MSG:
		if (uring_ud_idx(cqe->user_data) == WORKER_MSG_DRAIN)
			start_drain(w);
		else if (uring_ud_idx(cqe->user_data) == WORKER_MSG_INBOX)
			tcp_inbox_drain(w);
		break;
	default:
		break;
	}
}

static void run(struct worker *w)
{
	while (!w->stop) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		int ret = io_uring_submit_and_wait(&w->ring, 1);

		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			log_error("worker %d: io_uring_submit_and_wait: %s", w->id, strerror(-ret));
			break;
		}
		w->now_ms = clock_mono_ms();
		if (w->max_delay_ns)
			w->now_real_ns = clock_real_ns();
		w->recycled = 0;
		io_uring_for_each_cqe(&w->ring, head, cqe) {
			on_cqe(w, cqe);
			n++;
		}
		io_uring_cq_advance(&w->ring, n);
		bufring_publish(&w->br);
		if (w->recycled)
			rearm_starved(w);
		if (w->draining && (drained(w) || w->now_ms >= w->drain_deadline_ms))
			w->stop = true;
	}
}

/* ---- set-up and tear-down ---------------------------------------------- */

static int open_listeners(struct worker *w)
{
	const struct sn_config *cfg = w->sn->cfg;

	for (int i = 0; i < cfg->n_listen; i++) {
		struct listener *l = &w->lst[i];

		l->addr = cfg->listen[i];
		l->wildcard = addr_is_any(&l->addr);
		l->tcp_fd = -1;
		l->udp_fd = sock_udp_open(&l->addr, true, l->wildcard, cfg->socket_buffer);
		if (l->udp_fd < 0)
			return l->udp_fd;
		if (w->max_delay_ns && sock_udp_timestamps(l->udp_fd))
			return -errno;
		l->mh.msg_namelen = WORKER_NAME_SPACE;
		l->mh.msg_controllen = WORKER_CMSG_SPACE;
		w->n_lst = i + 1;
		if (!cfg->no_tcp) {
			l->tcp_fd = sock_tcp_listen(&l->addr, true, 1024);
			if (l->tcp_fd < 0)
				return l->tcp_fd;
		}
	}
	return 0;
}

static void *map_zero(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static int worker_setup(struct worker *w)
{
	const struct sn_config *cfg = w->sn->cfg;
	uint32_t bufs = cfg->buffers;
	uint32_t allocs = cfg->max_allocs / (uint32_t)w->sn->n_workers + 1;
	int ret;

	w->m = &w->sn->metrics[w->id];
	w->max_delay_ns = (int64_t)cfg->max_queue_delay_ms * 1000000;
	w->now_ms = clock_mono_ms();
	w->now_s = clock_real_s();
	w->rng = w->sn->hash_seed ^ ((uint64_t)w->id + 1) * 0x9E3779B97F4A7C15ull;
	w->relay_cursor = (uint32_t)(w->rng >> 17);
	/* Every receive buffer may sit in a send at once, plus responses. */
	w->n_tx = 1024;
	w->n_sends = bufs + w->n_tx;
	w->n_conns = cfg->max_tcp / (uint32_t)w->sn->n_workers + 1;
	for (int i = 0; i < CONFIG_MAX_LISTEN; i++)
		w->lst[i].udp_fd = w->lst[i].tcp_fd = -1;

	ret = uring_setup(&w->ring, 4096, 4 * (bufs + w->n_tx) + 4096, &w->feat);
	if (ret) {
		log_error("worker %d: io_uring set-up: %s", w->id, strerror(-ret));
		return ret;
	}
	w->ring_fd = w->ring.ring_fd;
	ret = bufring_create(&w->br, &w->ring, BGID, bufs, WORKER_BUF_SIZE);
	if (ret) {
		log_error("worker %d: provided buffer ring: %s (needs Linux 5.19+)", w->id,
			  strerror(-ret));
		return ret;
	}
	w->sends = calloc(w->n_sends, sizeof(*w->sends));
	w->tx = calloc(w->n_tx, WORKER_TX_SLOT);
	w->tx_next = calloc(w->n_tx, sizeof(*w->tx_next));
	w->conns = calloc(w->n_conns, sizeof(*w->conns));
	w->conn_rx = map_zero((size_t)w->n_conns * WORKER_CONN_RX);
	if (!w->sends || !w->tx || !w->tx_next || !w->conns || !w->conn_rx)
		return -ENOMEM;
	for (uint32_t i = 0; i < w->n_sends; i++)
		w->sends[i].next_free = i + 2 <= w->n_sends ? i + 2 : 0;
	w->send_free = 1;
	for (uint32_t i = 0; i < w->n_tx; i++)
		w->tx_next[i] = i + 2 <= w->n_tx ? i + 2 : 0;
	w->tx_free = 1;
	ret = alloc_table_init(&w->allocs, allocs, w->sn->hash_seed + (uint64_t)w->id);
	if (ret)
		return ret;
	ret = tcplink_pool_init(w, cfg->max_tcp_peers / (uint32_t)w->sn->n_workers + 1);
	if (ret)
		return ret;
	auth_limiter_init(&w->limiter, cfg->auth_fail_rate, cfg->auth_fail_burst, w->sn->hash_seed);
	ret = open_listeners(w);
	if (ret) {
		char a[ADDR_STRLEN];

		log_error("cannot listen on %s: %s",
			  addr_format(&cfg->listen[w->n_lst < cfg->n_listen ? w->n_lst : 0], a, sizeof(a)),
			  strerror(-ret));
		return ret;
	}
	return 0;
}

static void worker_teardown(struct worker *w)
{
	for (int i = 0; i < CONFIG_MAX_LISTEN; i++) {
		if (w->lst[i].udp_fd >= 0)
			close(w->lst[i].udp_fd);
		if (w->lst[i].tcp_fd >= 0)
			close(w->lst[i].tcp_fd);
		w->lst[i].udp_fd = w->lst[i].tcp_fd = -1;
	}
	if (w->allocs.slots)
		for (uint32_t i = 0; i < w->allocs.n_used; i++)
			if (w->allocs.slots[w->allocs.live[i]].relay_fd >= 0)
				close(w->allocs.slots[w->allocs.live[i]].relay_fd);
	if (w->conns)
		for (uint32_t i = 0; i < w->conn_fresh; i++)
			if (w->conns[i].state != CONN_FREE && w->conns[i].fd >= 0)
				close(w->conns[i].fd);
	tcplink_pool_fini(w);
	/* Connections handed over too late to be adopted. */
	for (struct tcp_handover *h = atomic_exchange(&w->inbox, NULL), *next; h; h = next) {
		next = h->next;
		close(h->fd);
		free(h);
	}
	if (w->br.br)
		bufring_destroy(&w->br);
	if (w->ring.ring_fd > 0)
		io_uring_queue_exit(&w->ring);
	alloc_table_fini(&w->allocs);
	if (w->conn_rx)
		munmap(w->conn_rx, (size_t)w->n_conns * WORKER_CONN_RX);
	free(w->sends);
	free(w->tx);
	free(w->tx_next);
	free(w->conns);
}

void *worker_main(void *arg)
{
	struct worker *w = arg;
	int ret = worker_setup(w);

	if (ret) {
		w->start_error = ret;
		atomic_fetch_add(&w->sn->failed, 1);
		worker_teardown(w);
		return NULL;
	}
	for (int i = 0; i < w->n_lst; i++) {
		arm_listener_udp(w, i);
		if (w->lst[i].tcp_fd >= 0) {
			struct io_uring_sqe *sqe = uring_sqe(&w->ring);

			io_uring_prep_multishot_accept(sqe, w->lst[i].tcp_fd, NULL, NULL, SOCK_CLOEXEC);
			io_uring_sqe_set_data64(sqe, URING_UD(OP_ACCEPT, 0, i));
			w->lst[i].tcp_armed = true;
		}
	}
	arm_timer(w);
	io_uring_submit(&w->ring);
	if (w->id == 0) {
		char f[256];

		uring_features_describe(&w->feat, f, sizeof(f));
		log_info("io_uring: %s", f);
	}
	atomic_fetch_add(&w->sn->ready, 1);
	run(w);
	worker_teardown(w);
	return NULL;
}

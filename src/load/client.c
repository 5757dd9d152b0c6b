/* client: see client.h. */
#include "src/load/client.h"
#include "proto/wire.h"

#include <errno.h>
#include <string.h>

#include "src/load/engine.h"

#define RTO_MS 500u            /* RFC 8489 §6.2.1 initial RTO */
#define MAX_TRIES 7u           /* Rc */
#define LAST_WAIT_RTO 16u      /* Rm */
#define TCP_TIMEOUT_MS 39500u  /* Ti */
#define STALE_RETRIES 3
#define DEFAULT_LIFETIME_S 600u
#define PERMISSION_LIFETIME_MS 300000u /* RFC 8656 §9 (a channel lasts 600 s, §12) */
#define RETRY_FAILED_REFRESH_MS 5000u
#define REQUESTED_TRANSPORT_UDP 17
#define REQUESTED_TRANSPORT_TCP 6
#define RFC4571_HEADER 2
#define FAMILY_IPV6 0x02
#define RTP_PT_OPUS 111
#define RTP_TS_STEP 960        /* 20 ms at 48 kHz */
#define CHANNEL_BASE 0x4000

static inline struct client *peer_of(struct engine *e, const struct client *c)
{
	return &e->clients[c->id ^ 1];
}

static inline uint8_t *media_slot(struct engine *e, const struct client *c, unsigned slot)
{
	return e->media + ((size_t)c->id * CLIENT_MEDIA_SLOTS + slot) * e->slot_cap;
}

static void count_error(struct engine *e, unsigned idx)
{
	if (idx < STATS_ERR_SLOTS)
		stats_add(&e->stats->errors[idx], 1);
}

void client_init(struct client *c, uint32_t id, uint32_t ssrc, uint64_t start_ms)
{
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->ssrc = ssrc;
	c->state = CLIENT_IDLE;
	c->start_ms = start_ms;
	c->channel = (uint16_t)(CHANNEL_BASE + (ssrc & 0xfff));
}

/* ---- the control timer ---------------------------------------------- */

static void ctrl_reschedule(struct engine *e, struct client *c)
{
	uint64_t due = 0;
	uint64_t cand[5] = {
		c->state == CLIENT_IDLE ? c->start_ms : 0,
		c->txn_active && c->job != JOB_DEALLOCATE ? c->txn_due_ms : 0,
		c->refresh_ms,
		c->rebind_ms,
		c->retry_ms,
	};

	if (c->state == CLIENT_FAILED) {
		wheel_cancel(&e->wheel, engine_ctrl_timer(c->id));
		return;
	}
	for (int i = 0; i < 5; i++)
		if (cand[i] && (!due || cand[i] < due))
			due = cand[i];
	if (due)
		wheel_set(&e->wheel, engine_ctrl_timer(c->id), due);
	else
		wheel_cancel(&e->wheel, engine_ctrl_timer(c->id));
}

/* ---- requests ------------------------------------------------------- */

static void txn_failed(struct engine *e, struct client *c, unsigned code);

static void new_txid(struct engine *e, struct client *c)
{
	uint64_t a = engine_rand(e), b = engine_rand(e);

	memcpy(c->txid, &a, 8);
	memcpy(c->txid + 8, &b, 4);
}

/* Builds the request for job into c->req. Returns 0 or -ENOSPC. */
static int build_request(struct engine *e, struct client *c, enum client_job job)
{
	const struct load_config *cfg = e->cfg;
	struct client *p = peer_of(e, c);
	struct stun_builder b;
	uint16_t method;
	int len;

	switch (job) {
	case JOB_ALLOCATE:
		method = TURN_ALLOCATE;
		break;
	case JOB_REFRESH:
	case JOB_DEALLOCATE:
		method = TURN_REFRESH;
		break;
	case JOB_CONNECT:
		method = TURN_CONNECT;
		break;
	case JOB_CONNBIND:
		method = TURN_CONNECTION_BIND;
		break;
	default:
		method = cfg->send_indications || cfg->tcp_alloc ? TURN_CREATE_PERMISSION
								 : TURN_CHANNEL_BIND;
		break;
	}
	stun_build(&b, c->req, sizeof(c->req), method, STUN_REQUEST, c->txid);
	switch (job) {
	case JOB_ALLOCATE:
		stun_put_u32(&b, STUN_ATTR_REQUESTED_TRANSPORT,
			     (uint32_t)(cfg->tcp_alloc ? REQUESTED_TRANSPORT_TCP
						       : REQUESTED_TRANSPORT_UDP) << 24);
		/* Without it the relay is IPv4 (RFC 8656 §7.2). */
		if (cfg->target.sa.sa_family == AF_INET6)
			stun_put_u32(&b, STUN_ATTR_REQUESTED_ADDRESS_FAMILY,
				     (uint32_t)FAMILY_IPV6 << 24);
		break;
	case JOB_REFRESH:
		stun_put_u32(&b, STUN_ATTR_LIFETIME, DEFAULT_LIFETIME_S);
		break;
	case JOB_DEALLOCATE:
		stun_put_u32(&b, STUN_ATTR_LIFETIME, 0);
		break;
	case JOB_BIND:
	case JOB_REBIND:
		if (!cfg->send_indications && !cfg->tcp_alloc)
			stun_put_u32(&b, STUN_ATTR_CHANNEL_NUMBER, (uint32_t)c->channel << 16);
		stun_put_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, &p->relayed, true);
		break;
	case JOB_CONNECT:
		stun_put_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, &p->relayed, true);
		break;
	case JOB_CONNBIND:
		stun_put_u32(&b, STUN_ATTR_CONNECTION_ID, c->conn_id);
		break;
	default:
		return -EINVAL;
	}
	c->txn_authed = c->have_auth;
	if (c->have_auth) {
		stun_put(&b, STUN_ATTR_USERNAME, cfg->username, strlen(cfg->username));
		stun_put(&b, STUN_ATTR_REALM, c->realm, c->realm_len);
		stun_put(&b, STUN_ATTR_NONCE, c->nonce, c->nonce_len);
		stun_put_integrity(&b, c->key, CRED_KEY_LEN);
	}
	stun_put_fingerprint(&b);
	len = stun_finish(&b);
	if (len < 0)
		return len;
	c->req_len = (uint16_t)len;
	return 0;
}

static void txn_transmit(struct engine *e, struct client *c)
{
	/* ConnectionBind goes on the data connection it binds. */
	uint32_t sock = c->job == JOB_CONNBIND ? engine_data_sock(e, c->id) : c->id;
	int ret = engine_send(e, sock, c->req, c->req_len, CLIENT_TAG_REQ);

	if (ret == 0)
		c->req_inflight++;
	else if (ret < 0)
		stats_add(&e->stats->c[STATS_SEND_ERRORS], 1);
	c->tries++;
	if (e->cfg->tcp) {
		c->txn_due_ms = e->now_ms + TCP_TIMEOUT_MS;
	} else if (c->tries < MAX_TRIES) {
		c->txn_due_ms = e->now_ms + c->rto_ms;
		c->rto_ms *= 2;
	} else {
		c->txn_due_ms = e->now_ms + RTO_MS * LAST_WAIT_RTO;
	}
}

/* Starts a transaction for job with a fresh transaction id. When the
 * request buffer is still being sent (UDP), the job waits a tick. */
static void txn_start(struct engine *e, struct client *c, enum client_job job)
{
	if (c->req_inflight) {
		c->want |= (uint8_t)(1u << job);
		c->retry_ms = e->now_ms + 1;
		return;
	}
	new_txid(e, c);
	c->job = (uint8_t)job;
	if (build_request(e, c, job)) {
		/* Cannot happen with the lengths main.c allows; fail rather
		 * than hang. */
		txn_failed(e, c, STATS_ERR_BAD_RESPONSE);
		return;
	}
	c->txn_active = true;
	c->tries = 0;
	c->rto_ms = RTO_MS;
	if (job == JOB_ALLOCATE && !atomic_load_explicit(&e->first_alloc_ms, memory_order_relaxed))
		atomic_store_explicit(&e->first_alloc_ms, e->now_ms, memory_order_relaxed);
	stats_add(&e->stats->c[STATS_REQUESTS], 1);
	txn_transmit(e, c);
}

/* Runs the most urgent wanted job when no transaction is in flight. */
static void kick(struct engine *e, struct client *c)
{
	static const enum client_job order[] = { JOB_ALLOCATE, JOB_BIND,  JOB_CONNECT,
						 JOB_CONNBIND, JOB_REFRESH, JOB_REBIND };

	if (c->txn_active || c->state == CLIENT_FAILED || !c->want || c->req_inflight)
		goto out;
	c->retry_ms = 0;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (c->want & (1u << order[i])) {
			c->want &= (uint8_t)~(1u << order[i]);
			c->stale_left = STALE_RETRIES;
			txn_start(e, c, order[i]);
			break;
		}
	}
out:
	if (c->want && c->req_inflight && !c->retry_ms)
		c->retry_ms = e->now_ms + 1;
	ctrl_reschedule(e, c);
}

static void want(struct engine *e, struct client *c, enum client_job job)
{
	c->want |= (uint8_t)(1u << job);
	kick(e, c);
}

/* ---- the call ------------------------------------------------------- */

static void stop_client(struct engine *e, struct client *c)
{
	c->state = CLIENT_FAILED;
	c->media_on = false;
	c->txn_active = false;
	c->want = 0;
	wheel_cancel(&e->wheel, engine_media_timer(c->id));
	wheel_cancel(&e->wheel, engine_ctrl_timer(c->id));
}

/* A set-up step failed: the call is lost (counted once), both clients stop. */
static void call_failed(struct engine *e, struct client *c)
{
	struct client *p = peer_of(e, c);
	bool was_up = c->media_on || p->media_on;

	if (c->state == CLIENT_FAILED && p->state == CLIENT_FAILED)
		return;
	stats_add(&e->stats->c[was_up ? STATS_CALLS_DOWN : STATS_CALLS_FAILED], 1);
	stop_client(e, c);
	stop_client(e, p);
}

/* Builds the stream's frame template (CLIENT_MEDIA_SLOTS copies): the
 * ChannelData or Send-indication header, then the RTP-shaped packet. */
static void media_prepare(struct engine *e, struct client *c)
{
	static const uint8_t zeros[CLIENT_PACKET_MAX];
	const struct load_config *cfg = e->cfg;
	uint32_t size = cfg->size;
	uint8_t *f = media_slot(e, c, 0);
	uint8_t *pkt;

	memset(f, 0, e->slot_cap);
	if (cfg->raw) {
		c->payload_off = 0;
		c->frame_len = (uint16_t)size;
	} else if (cfg->tcp_alloc) {
		wire_put16(f, (uint16_t)size);
		c->payload_off = RFC4571_HEADER;
		c->frame_len = (uint16_t)(RFC4571_HEADER + size);
	} else if (cfg->send_indications) {
		struct stun_builder b;
		uint8_t txid[STUN_TXID_LEN];
		uint64_t r = engine_rand(e);

		/* One transaction id per stream: indications are never
		 * answered, and the relay does not look at it. */
		memcpy(txid, &r, 8);
		memcpy(txid + 8, &c->ssrc, 4);
		stun_build(&b, f, e->slot_cap, TURN_SEND, STUN_INDICATION, txid);
		stun_put_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, &peer_of(e, c)->relayed, true);
		c->payload_off = (uint16_t)(b.len + 4);
		stun_put(&b, STUN_ATTR_DATA, zeros, size);
		c->frame_len = (uint16_t)stun_finish(&b);
	} else {
		/* Over TCP ChannelData is padded to 4 (RFC 8656 §12.5). */
		uint32_t pad = cfg->tcp ? (4 - (size & 3)) & 3 : 0;

		turn_channel_header(f, c->channel, (uint16_t)size);
		c->payload_off = TURN_CHANNEL_HEADER_LEN;
		c->frame_len = (uint16_t)(TURN_CHANNEL_HEADER_LEN + size + pad);
	}
	pkt = f + c->payload_off;
	pkt[0] = 0x80;          /* V=2, no padding, extension or CSRC */
	pkt[1] = RTP_PT_OPUS;   /* marker 0 */
	wire_put32(pkt + 8, c->ssrc);
	for (unsigned s = 1; s < CLIENT_MEDIA_SLOTS; s++)
		memcpy(media_slot(e, c, s), f, c->frame_len);
}

static void media_start(struct engine *e, struct client *c)
{
	c->media_on = true;
	c->seq = 0;
	c->rtp_ts = (uint32_t)engine_rand(e);
	/* A random phase within the period keeps the load smooth. */
	c->next_send_ns = e->now_ns + engine_rand(e) % e->period_ns;
	wheel_set(&e->wheel, engine_media_timer(c->id), (c->next_send_ns + 999999) / 1000000);
}

static void call_up(struct engine *e, struct client *c)
{
	media_prepare(e, c);
	media_prepare(e, peer_of(e, c));
	if (!e->sending)
		return;
	media_start(e, c);
	media_start(e, peer_of(e, c));
	stats_add(&e->stats->c[STATS_CALLS_UP], 1);
	atomic_store_explicit(&e->last_up_ms, e->now_ms, memory_order_relaxed);
}

static bool bound_or_binding(const struct client *c)
{
	return c->state == CLIENT_ALLOCATED || c->state == CLIENT_BINDING ||
	       c->state == CLIENT_READY;
}

static void start_bind(struct engine *e, struct client *c)
{
	c->state = CLIENT_BINDING;
	want(e, c, JOB_BIND);
}

/* ---- answers -------------------------------------------------------- */

/* Keeps REALM and NONCE from a 401/438 and derives the key. Returns 0,
 * or -EINVAL when they are missing or too long. */
static int take_challenge(struct engine *e, struct client *c, const uint8_t *buf,
			  const struct stun_msg *m)
{
	const struct load_config *cfg = e->cfg;
	bool new_realm;

	if (!m->nonce || !m->nonce_len || m->nonce_len >= CLIENT_TEXT_CAP)
		return -EINVAL;
	if (m->realm) {
		if (!m->realm_len || m->realm_len >= CLIENT_TEXT_CAP)
			return -EINVAL;
		new_realm =
		    m->realm_len != c->realm_len || memcmp(c->realm, buf + m->realm, m->realm_len);
		if (new_realm || !c->have_auth) {
			memcpy(c->realm, buf + m->realm, m->realm_len);
			c->realm_len = (uint8_t)m->realm_len;
			if (cred_longterm_key(cfg->username, strlen(cfg->username), c->realm,
					      c->realm_len, cfg->password, strlen(cfg->password),
					      c->key))
				return -EIO;
		}
	} else if (!c->have_auth) {
		return -EINVAL;
	}
	memcpy(c->nonce, buf + m->nonce, m->nonce_len);
	c->nonce_len = (uint8_t)m->nonce_len;
	c->have_auth = true;
	return 0;
}

/* The transaction failed for good (code: STUN error or stats_error). */
static void txn_failed(struct engine *e, struct client *c, unsigned code)
{
	enum client_job job = c->job;

	count_error(e, code);
	c->txn_active = false;
	c->job = JOB_NONE;
	switch (job) {
	case JOB_ALLOCATE:
	case JOB_BIND:
	case JOB_CONNECT:
	case JOB_CONNBIND:
		call_failed(e, c);
		return;
	case JOB_REFRESH:
		/* 437: the allocation is gone; the call's media is lost. */
		if (code == STUN_ERR_ALLOCATION_MISMATCH) {
			c->has_alloc = false;
			call_failed(e, c);
			return;
		}
		c->refresh_ms = e->now_ms + RETRY_FAILED_REFRESH_MS;
		break;
	case JOB_REBIND:
		c->rebind_ms = e->now_ms + RETRY_FAILED_REFRESH_MS;
		break;
	default:
		break;
	}
	kick(e, c);
}

/* TCP allocations: opens the data connection that will bind id. */
static void data_open(struct engine *e, struct client *c, uint32_t id)
{
	if (c->data_open)
		return;
	c->conn_id = id;
	c->data_open = true;
	if (engine_connect(e, engine_data_sock(e, c->id))) {
		count_error(e, STATS_ERR_SOCKET);
		call_failed(e, c);
	}
}

/* When to refresh what lasts lifetime_ms: at half of it, or every
 * --refresh. */
static uint64_t refresh_at(const struct engine *e, uint64_t lifetime_ms)
{
	if (e->cfg->refresh_ms)
		return e->now_ms + e->cfg->refresh_ms;
	return e->now_ms + (lifetime_ms ? lifetime_ms : 60000u) / 2;
}

static void on_success(struct engine *e, struct client *c, const uint8_t *buf,
		       const struct stun_msg *m)
{
	struct client *p = peer_of(e, c);
	enum client_job job = c->job;
	uint32_t lifetime = m->lifetime ? stun_get_u32(buf, m->lifetime) : DEFAULT_LIFETIME_S;
	/* A ChannelBind installs the peer's permission too, and that lasts
	 * only 300 s: channels are refreshed on the permission's schedule. */
	uint64_t rebind = refresh_at(e, PERMISSION_LIFETIME_MS);

	c->txn_active = false;
	c->job = JOB_NONE;
	switch (job) {
	case JOB_ALLOCATE:
		if (!m->xor_relayed ||
		    stun_get_addr(buf, m, m->xor_relayed, m->xor_relayed_len, true, &c->relayed)) {
			txn_failed(e, c, STATS_ERR_BAD_RESPONSE);
			return;
		}
		c->has_alloc = true;
		c->state = CLIENT_ALLOCATED;
		c->refresh_ms = refresh_at(e, (uint64_t)lifetime * 1000u);
		stats_add(&e->stats->c[STATS_ALLOCS], 1);
		atomic_store_explicit(&e->last_alloc_ms, e->now_ms, memory_order_relaxed);
		if (bound_or_binding(p)) {
			if (p->state == CLIENT_ALLOCATED)
				start_bind(e, p);
			start_bind(e, c);
			return;
		}
		break;
	case JOB_BIND:
		c->state = CLIENT_READY;
		c->rebind_ms = rebind;
		if (p->state != CLIENT_READY)
			break;
		if (!e->cfg->tcp_alloc)
			call_up(e, c);
		else
			/* Both permissions are in: the even leg connects. */
			want(e, (c->id & 1) ? p : c, JOB_CONNECT);
		break;
	case JOB_CONNECT:
		if (!m->connection_id) {
			txn_failed(e, c, STATS_ERR_BAD_RESPONSE);
			return;
		}
		data_open(e, c, stun_get_u32(buf, m->connection_id));
		break;
	case JOB_CONNBIND:
		c->data_bound = true;
		engine_set_framing(e, engine_data_sock(e, c->id), ENGINE_FRAME_RFC4571);
		if (p->data_bound)
			call_up(e, c);
		break;
	case JOB_REFRESH:
		c->refresh_ms = refresh_at(e, (uint64_t)lifetime * 1000u);
		break;
	case JOB_REBIND:
		c->rebind_ms = rebind;
		break;
	case JOB_DEALLOCATE:
		c->has_alloc = false;
		break;
	default:
		break;
	}
	kick(e, c);
}

static void on_response(struct engine *e, struct client *c, const uint8_t *buf,
			const struct stun_msg *m)
{
	int code;

	if (c->job == JOB_DEALLOCATE) {
		c->txn_active = false;
		c->has_alloc = false;
		return;
	}
	if (m->cls == STUN_SUCCESS) {
		/* An answer that claims integrity must prove it; one that does
		 * not is dropped and the transaction goes on. */
		if ((m->integrity || m->integrity256) && c->have_auth &&
		    !stun_check_integrity(buf, m, c->key, CRED_KEY_LEN)) {
			stats_add(&e->stats->c[STATS_MALFORMED], 1);
			return;
		}
		on_success(e, c, buf, m);
		return;
	}
	code = stun_get_error_code(buf, m);
	if (code < 0) {
		txn_failed(e, c, STATS_ERR_BAD_RESPONSE);
		return;
	}
	if (code == STUN_ERR_UNAUTHORIZED && !c->txn_authed) {
		/* The expected challenge: answer it with credentials. */
		if (take_challenge(e, c, buf, m)) {
			txn_failed(e, c, STUN_ERR_UNAUTHORIZED);
			return;
		}
		c->txn_active = false;
		txn_start(e, c, (enum client_job)c->job);
		ctrl_reschedule(e, c);
		return;
	}
	if (code == STUN_ERR_STALE_NONCE && c->stale_left) {
		if (take_challenge(e, c, buf, m)) {
			txn_failed(e, c, STUN_ERR_STALE_NONCE);
			return;
		}
		c->stale_left--;
		stats_add(&e->stats->c[STATS_STALE_NONCE], 1);
		c->txn_active = false;
		txn_start(e, c, (enum client_job)c->job);
		ctrl_reschedule(e, c);
		return;
	}
	txn_failed(e, c, (unsigned)code);
}

/* ---- media ---------------------------------------------------------- */

static void media_receive(struct engine *e, struct client *c, const uint8_t *p, uint32_t len)
{
	struct stats_block *st = e->stats;
	enum stats_rx r;
	uint64_t send_ns;

	if (len < CLIENT_RTP_HEADER + 8 || wire_get32(p + 8) != peer_of(e, c)->ssrc) {
		stats_add(&st->c[STATS_MALFORMED], 1);
		return;
	}
	send_ns = wire_get64(p + CLIENT_RTP_HEADER);
	r = stats_stream_receive(&c->rx, wire_get16(p + 2), send_ns, e->rx_ns);
	if (r == STATS_RX_DUPLICATE) {
		stats_add(&st->c[STATS_DUPLICATES], 1);
		return;
	}
	if (r == STATS_RX_REORDERED)
		stats_add(&st->c[STATS_REORDERED], 1);
	stats_add(&st->c[STATS_RECEIVED], 1);
	stats_add(&st->c[STATS_RECEIVED_BYTES], len);
	stats_hist_record(&st->latency, e->rx_ns > send_ns ? e->rx_ns - send_ns : 0);
}

/* Sends the stream's next packet. Returns false when it could not (its
 * UDP frames are all still in flight, or the TCP buffer is full). */
static bool media_send_one(struct engine *e, struct client *c)
{
	unsigned slot = 0;
	uint8_t *f, *pkt;
	int ret;

	if (!e->cfg->tcp) {
		while (slot < CLIENT_MEDIA_SLOTS && (c->slot_busy & (1u << slot)))
			slot++;
		if (slot == CLIENT_MEDIA_SLOTS)
			return false;
	}
	f = media_slot(e, c, slot);
	pkt = f + c->payload_off;
	wire_put16(pkt + 2, c->seq);
	wire_put32(pkt + 4, c->rtp_ts);
	wire_put64(pkt + CLIENT_RTP_HEADER, e->now_ns);
	ret = engine_send(e, e->cfg->tcp_alloc ? engine_data_sock(e, c->id) : c->id, f,
			  c->frame_len, CLIENT_TAG_MEDIA + slot);
	if (ret < 0)
		return false;
	if (ret == ENGINE_COPIED) {
		stats_add(&e->stats->c[STATS_SENT], 1);
		stats_add(&e->stats->c[STATS_SENT_BYTES], e->cfg->size);
	} else {
		/* Counted when the kernel has taken it (client_on_sent). */
		c->slot_busy |= (uint8_t)(1u << slot);
	}
	c->seq++;
	c->rtp_ts += RTP_TS_STEP;
	return true;
}

void client_on_media_timer(struct engine *e, struct client *c)
{
	int burst = 0;

	if (!c->media_on || !e->sending)
		return;
	/* Catch up after a stall, but never more than a few packets at once:
	 * then the schedule restarts from now. */
	while (c->next_send_ns <= e->now_ns && burst < 4) {
		if (!media_send_one(e, c)) {
			stats_add(&e->stats->c[STATS_SEND_BLOCKED], 1);
			wheel_set(&e->wheel, engine_media_timer(c->id), e->now_ms + 1);
			return;
		}
		c->next_send_ns += e->period_ns;
		burst++;
	}
	if (c->next_send_ns <= e->now_ns)
		c->next_send_ns = e->now_ns + e->period_ns;
	wheel_set(&e->wheel, engine_media_timer(c->id), (c->next_send_ns + 999999) / 1000000);
}

/* ---- events from the engine ----------------------------------------- */

static void start_allocate(struct engine *e, struct client *c)
{
	c->state = CLIENT_ALLOCATING;
	want(e, c, JOB_ALLOCATE);
}

void client_on_timer(struct engine *e, struct client *c)
{
	if (c->state == CLIENT_FAILED)
		return;
	if (c->state == CLIENT_IDLE) {
		if (e->now_ms < c->start_ms) {
			ctrl_reschedule(e, c);
			return;
		}
		if (e->setup_over) {
			c->state = CLIENT_FAILED;
			return;
		}
		if (e->cfg->raw) {
			/* No TURN: the leg is up as soon as its socket is. */
			c->state = CLIENT_READY;
			if (peer_of(e, c)->state == CLIENT_READY)
				call_up(e, c);
			return;
		}
		if (e->cfg->tcp) {
			c->state = CLIENT_CONNECTING;
			if (engine_connect(e, c->id)) {
				count_error(e, STATS_ERR_SOCKET);
				call_failed(e, c);
			}
			return;
		}
		start_allocate(e, c);
		return;
	}
	if (c->txn_active && c->job != JOB_DEALLOCATE && e->now_ms >= c->txn_due_ms) {
		if (!e->cfg->tcp && c->tries < MAX_TRIES) {
			stats_add(&e->stats->c[STATS_RETRANSMITS], 1);
			txn_transmit(e, c);
		} else {
			txn_failed(e, c, STATS_ERR_TIMEOUT);
			if (c->state == CLIENT_FAILED)
				return;
		}
	}
	/* Refreshes keep the media flowing; none once the run is ending. */
	if (e->sending && c->state == CLIENT_READY) {
		if (c->refresh_ms && e->now_ms >= c->refresh_ms) {
			c->refresh_ms = 0;
			c->want |= 1u << JOB_REFRESH;
		}
		if (c->rebind_ms && e->now_ms >= c->rebind_ms) {
			c->rebind_ms = 0;
			c->want |= 1u << JOB_REBIND;
		}
	} else if (c->state == CLIENT_ALLOCATED && c->refresh_ms && e->now_ms >= c->refresh_ms) {
		c->refresh_ms = 0;
		c->want |= 1u << JOB_REFRESH;
	}
	if (e->now_ms >= c->retry_ms)
		c->retry_ms = 0;
	kick(e, c);
}

void client_on_connected(struct engine *e, struct client *c, int res)
{
	if (c->state != CLIENT_CONNECTING)
		return;
	if (res < 0) {
		count_error(e, STATS_ERR_CONNECT);
		call_failed(e, c);
		return;
	}
	start_allocate(e, c);
}

void client_on_packet(struct engine *e, struct client *c, const uint8_t *p, uint32_t len)
{
	struct stun_msg m;
	uint16_t ch, dlen;

	if (e->cfg->raw) {
		media_receive(e, c, p, len);
		return;
	}
	if (turn_is_channel_data(p, len)) {
		if (turn_channel_parse(p, len, &ch, &dlen) || ch != c->channel) {
			stats_add(&e->stats->c[STATS_MALFORMED], 1);
			return;
		}
		media_receive(e, c, p + TURN_CHANNEL_HEADER_LEN, dlen);
		return;
	}
	if (stun_parse(p, len, &m) != STUN_OK) {
		stats_add(&e->stats->c[STATS_MALFORMED], 1);
		return;
	}
	if (m.cls == STUN_INDICATION && m.method == TURN_CONNECTION_ATTEMPT) {
		/* The other leg's Connect reached our relayed address. */
		if (!e->cfg->tcp_alloc || !m.connection_id || c->state != CLIENT_READY) {
			stats_add(&e->stats->c[STATS_MALFORMED], 1);
			return;
		}
		data_open(e, c, stun_get_u32(p, m.connection_id));
		return;
	}
	if (m.cls == STUN_INDICATION && m.method == TURN_DATA) {
		if (!m.data) {
			stats_add(&e->stats->c[STATS_MALFORMED], 1);
			return;
		}
		media_receive(e, c, p + m.data, m.data_len);
		return;
	}
	/* An answer to anything but the transaction in flight (a late
	 * retransmission's) is ignored. */
	if ((m.cls == STUN_SUCCESS || m.cls == STUN_ERROR) && c->txn_active &&
	    !memcmp(m.txid, c->txid, STUN_TXID_LEN) && c->state != CLIENT_FAILED)
		on_response(e, c, p, &m);
}

void client_on_data_connected(struct engine *e, struct client *c, int res)
{
	if (c->state == CLIENT_FAILED)
		return;
	if (res < 0) {
		count_error(e, STATS_ERR_CONNECT);
		call_failed(e, c);
		return;
	}
	want(e, c, JOB_CONNBIND);
}

void client_on_data(struct engine *e, struct client *c, const uint8_t *p, uint32_t len)
{
	struct stun_msg m;

	if (c->data_bound) {
		media_receive(e, c, p + RFC4571_HEADER, len - RFC4571_HEADER);
		return;
	}
	if (stun_parse(p, len, &m) != STUN_OK) {
		stats_add(&e->stats->c[STATS_MALFORMED], 1);
		return;
	}
	if ((m.cls == STUN_SUCCESS || m.cls == STUN_ERROR) && c->txn_active &&
	    c->job == JOB_CONNBIND && !memcmp(m.txid, c->txid, STUN_TXID_LEN) &&
	    c->state != CLIENT_FAILED)
		on_response(e, c, p, &m);
}

void client_on_sent(struct engine *e, struct client *c, uint32_t tag, int res)
{
	if (tag == CLIENT_TAG_REQ) {
		if (c->req_inflight)
			c->req_inflight--;
		if (res < 0)
			stats_add(&e->stats->c[STATS_SEND_ERRORS], 1);
		if (!c->req_inflight && c->want)
			kick(e, c);
		return;
	}
	c->slot_busy &= (uint8_t)~(1u << (tag - CLIENT_TAG_MEDIA));
	if (res >= 0) {
		stats_add(&e->stats->c[STATS_SENT], 1);
		stats_add(&e->stats->c[STATS_SENT_BYTES], e->cfg->size);
	} else {
		stats_add(&e->stats->c[STATS_SEND_ERRORS], 1);
		if (res == -ECONNREFUSED)
			count_error(e, STATS_ERR_REFUSED);
	}
}

void client_on_closed(struct engine *e, struct client *c, int err)
{
	(void)err;
	if (c->state == CLIENT_FAILED || !e->sending)
		return;
	count_error(e, STATS_ERR_CLOSED);
	c->has_alloc = false;
	call_failed(e, c);
}

void client_setup_over(struct engine *e, struct client *c)
{
	struct client *p = peer_of(e, c);

	/* Once per call, from its even client. */
	if ((c->id & 1) || c->media_on || c->state == CLIENT_FAILED || p->state == CLIENT_FAILED)
		return;
	count_error(e, STATS_ERR_SETUP_TIMEOUT);
	call_failed(e, c);
}

void client_deallocate(struct engine *e, struct client *c)
{
	if (!c->has_alloc || !c->have_auth || c->req_inflight || e->cfg->tcp)
		return;
	c->want = 0;
	c->txn_active = false;
	new_txid(e, c);
	if (build_request(e, c, JOB_DEALLOCATE))
		return;
	c->job = JOB_DEALLOCATE;
	c->txn_active = true;
	if (engine_send(e, c->id, c->req, c->req_len, CLIENT_TAG_REQ) == 0)
		c->req_inflight++;
	wheel_cancel(&e->wheel, engine_ctrl_timer(c->id));
}

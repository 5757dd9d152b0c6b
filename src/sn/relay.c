/* relay: what the supernode does with each STUN/TURN message and each
 * relayed packet (RFC 8489, RFC 8656). Runs on the worker that owns the
 * client's 5-tuple; the worker does the I/O. */
#include <errno.h>
#include <string.h>

#include "io/sock.h"
#include "proto/stun.h"
#include "src/common/log.h"
#include "src/sn/worker.h"

#define REQUESTED_TRANSPORT_UDP 17
#define REQUESTED_TRANSPORT_TCP 6
#define FAMILY_IPV4 0x01
#define FAMILY_IPV6 0x02

static const enum metrics_id parse_drop[STUN_E__COUNT] = {
	[STUN_E_SHORT] = M_DROP_STUN_SHORT,
	[STUN_E_NOT_STUN] = M_DROP_NOT_STUN,
	[STUN_E_LENGTH] = M_DROP_STUN_LENGTH,
	[STUN_E_ATTR_LENGTH] = M_DROP_STUN_ATTR,
	[STUN_E_AFTER_INTEGRITY] = M_DROP_STUN_ORDER,
	[STUN_E_AFTER_FINGERPRINT] = M_DROP_STUN_ORDER,
	[STUN_E_FINGERPRINT] = M_DROP_STUN_FINGERPRINT,
	[STUN_E_TOO_MANY] = M_DROP_STUN_TOO_MANY,
};

/* A request being answered: the parsed message, who sent it, and the key
 * that authenticated it (NULL before authentication). */
struct request {
	struct client_ctx *ctx;
	const uint8_t *buf;
	struct stun_msg msg;
	const uint8_t *key;
	bool sha256;               /* answer with MESSAGE-INTEGRITY-SHA256 */
};

/* ---- answering -------------------------------------------------------- */

static void send_reply(struct worker *w, struct client_ctx *ctx, uint8_t *buf, int len,
		       uint32_t slot)
{
	struct buf_ref ref = { .kind = REF_TX, .id = slot };

	if (len < 0) {
		worker_ref_release(w, ref);
		metrics_inc(w->m, M_DROP_NO_TX_BUFFER);
		return;
	}
	if (ctx->transport == IPPROTO_TCP)
		tcp_send(w, ctx->conn, buf, (uint32_t)len, ref);
	else
		worker_send_udp(w, w->lst[ctx->via].udp_fd, buf, (uint32_t)len, &ctx->src,
				w->lst[ctx->via].wildcard ? &ctx->local : NULL, ref);
}

/* Starts a response to r in a TX slot; NULL when none is free. */
static uint8_t *reply_begin(struct worker *w, struct request *r, struct stun_builder *b,
			    uint8_t cls, uint32_t *slot)
{
	uint8_t *buf = worker_tx_get(w, slot);

	if (!buf) {
		metrics_inc(w->m, M_DROP_NO_TX_BUFFER);
		return NULL;
	}
	stun_build(b, buf, WORKER_TX_SLOT, r->msg.method, cls, r->msg.txid);
	return buf;
}

/* Adds SOFTWARE, the integrity under key (when set) and the
 * fingerprint (when wanted), and returns the message length or -1. */
static int message_finish(struct worker *w, struct stun_builder *b, const uint8_t *key,
			  bool sha256, bool fingerprint)
{
	const char *sw = w->sn->cfg->software;

	if (sw)
		stun_put(b, STUN_ATTR_SOFTWARE, sw, strlen(sw));
	if (key) {
		if (sha256)
			stun_put_integrity_sha256(b, key, CRED_KEY_LEN);
		else
			stun_put_integrity(b, key, CRED_KEY_LEN);
	}
	if (fingerprint)
		stun_put_fingerprint(b);
	return stun_finish(b);
}

/* Signs (when authenticated), fingerprints (when the request had one)
 * and sends. */
static void reply_end(struct worker *w, struct request *r, struct stun_builder *b,
		      uint8_t *buf, uint32_t slot)
{
	send_reply(w, r->ctx, buf, message_finish(w, b, r->key, r->sha256, r->msg.fingerprint != 0),
		   slot);
}

static void reply_error(struct worker *w, struct request *r, int code)
{
	struct stun_builder b;
	uint32_t slot;
	uint8_t *buf = reply_begin(w, r, &b, STUN_ERROR, &slot);

	if (!buf)
		return;
	metrics_inc(w->m, M_ERROR_RESPONSES);
	stun_put_error(&b, code, NULL);
	if (code == STUN_ERR_UNKNOWN_ATTRIBUTE)
		stun_put_unknown(&b, r->msg.unknown, r->msg.n_unknown);
	reply_end(w, r, &b, buf, slot);
}

/* 401 and 438 carry a fresh nonce and the realm, and no integrity
 * (RFC 8489 §9.2.4). */
static void reply_challenge(struct worker *w, struct request *r, int code)
{
	const char *realm = auth_realm(w->sn->auth);
	char nonce[CRED_NONCE_LEN + 1];
	struct stun_builder b;
	uint32_t slot;
	uint8_t *buf;

	if (cred_nonce_make(&w->sn->nonce_key, &r->ctx->src, w->now_s, w->sn->cfg->nonce_ttl_s, nonce))
		return;
	buf = reply_begin(w, r, &b, STUN_ERROR, &slot);
	if (!buf)
		return;
	metrics_inc(w->m, M_ERROR_RESPONSES);
	r->key = NULL;
	stun_put_error(&b, code, NULL);
	stun_put(&b, STUN_ATTR_REALM, realm, strlen(realm));
	stun_put(&b, STUN_ATTR_NONCE, nonce, CRED_NONCE_LEN);
	reply_end(w, r, &b, buf, slot);
}

/* ---- authentication (RFC 8489 §9.2.4) ---------------------------------- */

/* Returns the key that signed the request, or NULL after answering or
 * dropping it. */
static const uint8_t *authenticate(struct worker *w, struct request *r, uint8_t key[CRED_KEY_LEN])
{
	const struct stun_msg *m = &r->msg;
	const union addr *src = &r->ctx->src;
	const char *realm = auth_realm(w->sn->auth);
	int ret;

	if (!m->integrity && !m->integrity256) {
		reply_challenge(w, r, STUN_ERR_UNAUTHORIZED);
		return NULL;
	}
	if (!m->username || !m->realm || !m->nonce) {
		reply_error(w, r, STUN_ERR_BAD_REQUEST);
		return NULL;
	}
	if (!auth_limiter_allow(&w->limiter, src, w->now_ms)) {
		metrics_inc(w->m, M_DROP_AUTH_RATE);
		return NULL;
	}
	if (cred_nonce_check(&w->sn->nonce_key, src, w->now_s, r->buf + m->nonce, m->nonce_len)) {
		reply_challenge(w, r, STUN_ERR_STALE_NONCE);
		return NULL;
	}
	ret = m->realm_len == strlen(realm) && !memcmp(r->buf + m->realm, realm, m->realm_len)
		      ? auth_lookup_key(w->sn->auth, (const char *)r->buf + m->username,
					m->username_len, w->now_s, key)
		      : -ENOENT;
	if (ret || !stun_check_integrity(r->buf, m, key, CRED_KEY_LEN)) {
		metrics_inc(w->m, M_AUTH_FAILURES);
		auth_limiter_fail(&w->limiter, src, w->now_ms);
		reply_challenge(w, r, STUN_ERR_UNAUTHORIZED);
		return NULL;
	}
	r->sha256 = m->integrity256 != 0;
	r->key = key;
	return key;
}

/* ---- the relay address ------------------------------------------------- */

/* Which IP the relayed address takes: --relay-ip for the family, else the
 * address the client reached us on when its family matches. */
static int relay_ip_for(struct worker *w, const struct client_ctx *ctx, int family,
			union addr *out)
{
	const union addr *cfg = &w->sn->cfg->relay_ip[family == AF_INET6];

	if (cfg->sa.sa_family == family) {
		*out = *cfg;
		return 0;
	}
	if (ctx->local.sa.sa_family == family && !addr_is_any(&ctx->local)) {
		*out = ctx->local;
		addr_set_port(out, 0);
		return 0;
	}
	return -EAFNOSUPPORT;
}

static uint32_t granted_lifetime(struct worker *w, const struct stun_msg *m, const uint8_t *buf)
{
	const struct sn_config *cfg = w->sn->cfg;
	uint32_t want = m->lifetime ? stun_get_u32(buf, m->lifetime) : cfg->default_lifetime_s;

	if (want > cfg->max_lifetime_s)
		want = cfg->max_lifetime_s;
	if (want < cfg->default_lifetime_s && want != 0)
		want = cfg->default_lifetime_s;
	return want;
}

static void reply_allocate_ok(struct worker *w, struct request *r, struct alloc *a)
{
	struct stun_builder b;
	uint32_t slot;
	uint8_t *buf = reply_begin(w, r, &b, STUN_SUCCESS, &slot);
	uint64_t left = a->expires_ms > w->now_ms ? (a->expires_ms - w->now_ms + 500) / 1000 : 0;

	if (!buf)
		return;
	stun_put_addr(&b, STUN_ATTR_XOR_RELAYED_ADDRESS, &a->relay, true);
	stun_put_u32(&b, STUN_ATTR_LIFETIME, (uint32_t)left);
	stun_put_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, &r->ctx->src, true);
	reply_end(w, r, &b, buf, slot);
}

/* ---- requests ---------------------------------------------------------- */

static void on_allocate(struct worker *w, struct request *r, struct alloc *a)
{
	const struct stun_msg *m = &r->msg;
	struct client_ctx *ctx = r->ctx;
	int family = AF_INET, fd, ret;
	uint8_t proto;
	uint64_t user_id;
	union addr ip, relay;

	if (a) {
		/* A retransmitted Allocate gets the same answer (§7.2 step 2). */
		if (!memcmp(a->txid, m->txid, STUN_TXID_LEN) &&
		    a->user_id == auth_user_id(w->sn->auth, (const char *)r->buf + m->username,
					       m->username_len))
			reply_allocate_ok(w, r, a);
		else
			reply_error(w, r, STUN_ERR_ALLOCATION_MISMATCH);
		return;
	}
	if (!m->requested_transport) {
		reply_error(w, r, STUN_ERR_BAD_REQUEST);
		return;
	}
	proto = r->buf[m->requested_transport];
	if (proto != REQUESTED_TRANSPORT_UDP && proto != REQUESTED_TRANSPORT_TCP) {
		reply_error(w, r, STUN_ERR_UNSUPPORTED_TRANSPORT);
		return;
	}
	/* RFC 6062 §5.1: a TCP allocation is made over TCP, and port
	 * reservations and DONT-FRAGMENT mean nothing for it. */
	if (proto == REQUESTED_TRANSPORT_TCP &&
	    (ctx->transport != IPPROTO_TCP || m->reservation_token || m->even_port ||
	     m->dont_fragment)) {
		reply_error(w, r, STUN_ERR_BAD_REQUEST);
		return;
	}
	if (m->reservation_token || (m->even_port && (r->buf[m->even_port] & 0x80))) {
		/* Port reservations (EVEN-PORT R bit, RESERVATION-TOKEN) are not
		 * offered; §7.2 lets the server refuse with 508. */
		reply_error(w, r, STUN_ERR_INSUFFICIENT_CAPACITY);
		return;
	}
	if (m->requested_family) {
		uint8_t f = r->buf[m->requested_family];

		if (f != FAMILY_IPV4 && f != FAMILY_IPV6) {
			reply_error(w, r, STUN_ERR_ADDRESS_FAMILY_NOT_SUPPORTED);
			return;
		}
		family = f == FAMILY_IPV6 ? AF_INET6 : AF_INET;
	}
	/* Without REQUESTED-ADDRESS-FAMILY the relay is IPv4 (RFC 8656 §7.2);
	 * a host with no IPv4 address to relay from answers 440. */
	if (relay_ip_for(w, ctx, family, &ip)) {
		reply_error(w, r, STUN_ERR_ADDRESS_FAMILY_NOT_SUPPORTED);
		return;
	}
	user_id = auth_user_id(w->sn->auth, (const char *)r->buf + m->username, m->username_len);
	ret = auth_quota_take(w->sn->auth, user_id);
	if (ret) {
		reply_error(w, r, ret == -EDQUOT ? STUN_ERR_ALLOCATION_QUOTA
						 : STUN_ERR_INSUFFICIENT_CAPACITY);
		return;
	}
	fd = -1;
	for (int tries = 0; proto == REQUESTED_TRANSPORT_UDP && tries < 64; tries++) {
		fd = sock_udp_open_in_range(&ip, w->sn->cfg->relay_lo, w->sn->cfg->relay_hi,
					    &w->relay_cursor, w->sn->cfg->socket_buffer, &relay);
		if (fd < 0 || !m->even_port || !(addr_port(&relay) & 1))
			break;
		close(fd);
		fd = -1;
	}
	if (proto == REQUESTED_TRANSPORT_TCP)
		fd = tcplink_listen(w, &ip, &relay);
	a = fd >= 0 ? alloc_insert(&w->allocs, ctx->transport, ctx->via, &ctx->src) : NULL;
	if (!a) {
		if (fd >= 0) {
			close(fd);
			if (proto == REQUESTED_TRANSPORT_TCP)
				tcplink_port_release(w, &relay);
		}
		auth_quota_give(w->sn->auth, user_id);
		reply_error(w, r, STUN_ERR_INSUFFICIENT_CAPACITY);
		return;
	}
	a->relay_proto = proto == REQUESTED_TRANSPORT_TCP ? IPPROTO_TCP : IPPROTO_UDP;
	if (w->max_delay_ns && proto == REQUESTED_TRANSPORT_UDP)
		sock_udp_timestamps(fd);
	if (m->dont_fragment && family == AF_INET) {
		int pmtu = IP_PMTUDISC_DO;

		setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
	}
	a->relay_fd = fd;
	a->relay = relay;
	a->local = ctx->local;
	a->user_id = user_id;
	memcpy(a->key, r->key, CRED_KEY_LEN);
	memcpy(a->txid, m->txid, STUN_TXID_LEN);
	a->expires_ms = w->now_ms + (uint64_t)granted_lifetime(w, m, r->buf) * 1000u;
	if (ctx->transport == IPPROTO_TCP)
		ctx->conn->alloc = alloc_index(&w->allocs, a) + 1;
	worker_arm_relay(w, a);
	metrics_inc(w->m, M_ALLOCS_CREATED);
	metrics_set(w->m, M_ALLOCS_ACTIVE, w->allocs.n_used);
	if (log_level >= LOG_DEBUG) {
		char c[ADDR_STRLEN], rl[ADDR_STRLEN];

		log_debug("worker %d: allocation %s -> %s", w->id,
			  addr_format(&ctx->src, c, sizeof(c)), addr_format(&relay, rl, sizeof(rl)));
	}
	reply_allocate_ok(w, r, a);
}

static void on_refresh(struct worker *w, struct request *r, struct alloc *a)
{
	struct stun_builder b;
	uint32_t lifetime, slot;
	uint8_t *buf;

	if (!a) {
		reply_error(w, r, STUN_ERR_ALLOCATION_MISMATCH);
		return;
	}
	if (r->msg.requested_family) {
		int f = r->buf[r->msg.requested_family] == FAMILY_IPV6 ? AF_INET6 : AF_INET;

		if (f != a->relay.sa.sa_family) {
			reply_error(w, r, STUN_ERR_PEER_ADDRESS_FAMILY_MISMATCH);
			return;
		}
	}
	lifetime = granted_lifetime(w, &r->msg, r->buf);
	buf = reply_begin(w, r, &b, STUN_SUCCESS, &slot);
	if (!buf)
		return;
	stun_put_u32(&b, STUN_ATTR_LIFETIME, lifetime);
	if (lifetime == 0)
		worker_alloc_end(w, a);
	else
		a->expires_ms = w->now_ms + (uint64_t)lifetime * 1000u;
	reply_end(w, r, &b, buf, slot);
}

/* Decodes every XOR-PEER-ADDRESS and checks family and policy; answers
 * the error itself and returns false when one fails. */
static bool check_peers(struct worker *w, struct request *r, const struct alloc *a,
			union addr *peers)
{
	if (!r->msg.n_peers) {
		reply_error(w, r, STUN_ERR_BAD_REQUEST);
		return false;
	}
	for (uint8_t i = 0; i < r->msg.n_peers; i++) {
		enum policy_verdict v;

		if (stun_get_addr(r->buf, &r->msg, r->msg.peers[i], r->msg.peers_len[i], true,
				  &peers[i])) {
			reply_error(w, r, STUN_ERR_BAD_REQUEST);
			return false;
		}
		if (peers[i].sa.sa_family != a->relay.sa.sa_family) {
			reply_error(w, r, STUN_ERR_PEER_ADDRESS_FAMILY_MISMATCH);
			return false;
		}
		v = policy_check(&w->sn->policy, &peers[i]);
		if (v != POLICY_ALLOW) {
			metrics_inc(w->m, M_PEERS_REFUSED);
			if (log_level >= LOG_DEBUG) {
				char p[ADDR_STRLEN];

				log_debug("worker %d: peer %s refused: %s", w->id,
					  addr_format(&peers[i], p, sizeof(p)), policy_verdict_name(v));
			}
			reply_error(w, r, STUN_ERR_FORBIDDEN);
			return false;
		}
	}
	return true;
}

static void reply_ok(struct worker *w, struct request *r)
{
	struct stun_builder b;
	uint32_t slot;
	uint8_t *buf = reply_begin(w, r, &b, STUN_SUCCESS, &slot);

	if (buf)
		reply_end(w, r, &b, buf, slot);
}

static void on_create_permission(struct worker *w, struct request *r, struct alloc *a)
{
	union addr peers[STUN_MAX_PEERS];

	if (!a) {
		reply_error(w, r, STUN_ERR_ALLOCATION_MISMATCH);
		return;
	}
	if (!check_peers(w, r, a, peers))
		return;
	for (uint8_t i = 0; i < r->msg.n_peers; i++) {
		if (alloc_perm_add(a, &peers[i], w->now_ms)) {
			reply_error(w, r, STUN_ERR_INSUFFICIENT_CAPACITY);
			return;
		}
	}
	reply_ok(w, r);
}

static void on_channel_bind(struct worker *w, struct request *r, struct alloc *a)
{
	union addr peers[STUN_MAX_PEERS];
	int ret;

	if (!a) {
		reply_error(w, r, STUN_ERR_ALLOCATION_MISMATCH);
		return;
	}
	if (a->relay_proto == IPPROTO_TCP) {
		/* Channels frame datagrams; a TCP allocation has streams. */
		reply_error(w, r, STUN_ERR_BAD_REQUEST);
		return;
	}
	if (!r->msg.channel_number || r->msg.n_peers != 1) {
		log_debug("worker %d: channel bind without one peer and a number", w->id);
		reply_error(w, r, STUN_ERR_BAD_REQUEST);
		return;
	}
	if (!check_peers(w, r, a, peers))
		return;
	ret = alloc_channel_bind(a, (uint16_t)(stun_get_u32(r->buf, r->msg.channel_number) >> 16),
				 &peers[0], w->now_ms);
	if (ret) {
		log_debug("worker %d: channel bind refused: %s", w->id, strerror(-ret));
		reply_error(w, r, ret == -ENOSPC ? STUN_ERR_INSUFFICIENT_CAPACITY : STUN_ERR_BAD_REQUEST);
		return;
	}
	reply_ok(w, r);
}

/* Connect (RFC 6062 §5.2): answered when the connection is made. */
static void on_connect(struct worker *w, struct request *r, struct alloc *a)
{
	union addr peers[STUN_MAX_PEERS];
	int ret;

	if (!a) {
		reply_error(w, r, STUN_ERR_ALLOCATION_MISMATCH);
		return;
	}
	if (a->relay_proto != IPPROTO_TCP || r->msg.n_peers != 1) {
		reply_error(w, r, STUN_ERR_BAD_REQUEST);
		return;
	}
	if (!check_peers(w, r, a, peers))
		return;
	ret = tcplink_connect(w, a, &peers[0], r->msg.txid, r->sha256, r->msg.fingerprint != 0);
	if (ret == -EEXIST)
		reply_error(w, r, STUN_ERR_CONNECTION_ALREADY_EXISTS);
	else if (ret == -ENOSPC)
		reply_error(w, r, STUN_ERR_INSUFFICIENT_CAPACITY);
	else if (ret)
		reply_error(w, r, STUN_ERR_CONNECTION_TIMEOUT);
}

/* ConnectionBind (RFC 6062 §5.4) on a new connection, authenticated, on
 * the worker that owns the CONNECTION-ID. a is an allocation of this
 * same connection, which a data connection must not have. */
static void on_connection_bind(struct worker *w, struct request *r, struct alloc *a)
{
	struct client_ctx *ctx = r->ctx;
	struct stun_builder b;
	struct tcplink *L;
	struct alloc *owner;
	uint32_t slot;
	uint8_t *buf;
	int len;

	L = r->msg.connection_id ? tcplink_find(w, stun_get_u32(r->buf, r->msg.connection_id)) : NULL;
	if (a || !L || ctx->conn->q_len || ctx->conn->sending) {
		reply_error(w, r, STUN_ERR_BAD_REQUEST);
		return;
	}
	owner = tcplink_alloc(w, L);
	if (!owner || owner->user_id != auth_user_id(w->sn->auth,
						      (const char *)r->buf + r->msg.username,
						      r->msg.username_len)) {
		reply_error(w, r, owner ? STUN_ERR_WRONG_CREDENTIALS : STUN_ERR_BAD_REQUEST);
		return;
	}
	buf = reply_begin(w, r, &b, STUN_SUCCESS, &slot);
	if (!buf)
		return;
	len = message_finish(w, &b, r->key, r->sha256, r->msg.fingerprint != 0);
	if (len > 0)
		tcplink_bind(w, L, ctx->conn, buf, (uint32_t)len);
	worker_ref_release(w, (struct buf_ref){ .kind = REF_TX, .id = slot });
}

static void on_binding(struct worker *w, struct request *r)
{
	struct stun_builder b;
	uint32_t slot;
	uint8_t *buf;

	/* This listener has no alternate address (RFC 5780 §7.2): a request
	 * to answer from one is refused as not understood. */
	if (r->msg.change_request && (stun_get_u32(r->buf, r->msg.change_request) & 0x6)) {
		r->msg.unknown[0] = STUN_ATTR_CHANGE_REQUEST;
		r->msg.n_unknown = 1;
		reply_error(w, r, STUN_ERR_UNKNOWN_ATTRIBUTE);
		return;
	}
	buf = reply_begin(w, r, &b, STUN_SUCCESS, &slot);
	if (!buf)
		return;
	stun_put_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, &r->ctx->src, true);
	reply_end(w, r, &b, buf, slot);
}

static void on_request(struct worker *w, struct request *r)
{
	uint8_t key[CRED_KEY_LEN];
	struct client_ctx *ctx = r->ctx;
	struct alloc *a;

	metrics_inc(w->m, M_REQUESTS);
	if (r->msg.method == STUN_BINDING) {
		on_binding(w, r);
		return;
	}
	switch (r->msg.method) {
	case TURN_ALLOCATE:
	case TURN_REFRESH:
	case TURN_CREATE_PERMISSION:
	case TURN_CHANNEL_BIND:
	case TURN_CONNECT:
		break;
	case TURN_CONNECTION_BIND:
		if (ctx->transport != IPPROTO_TCP) {
			reply_error(w, r, STUN_ERR_BAD_REQUEST);
			return;
		}
		/* The worker that owns the CONNECTION-ID answers: it holds the
		 * link and its allocation. Nothing is checked here but where
		 * to send it. */
		if (r->msg.connection_id) {
			uint32_t id = stun_get_u32(r->buf, r->msg.connection_id);

			if (tcplink_id_worker(id) != w->id && tcplink_id_worker(id) < w->sn->n_workers) {
				if (tcp_handover(w, ctx->conn, (uint32_t)(r->buf - ctx->conn->rx), id))
					reply_error(w, r, STUN_ERR_SERVER_ERROR);
				return;
			}
		}
		break;
	default:
		reply_error(w, r, STUN_ERR_BAD_REQUEST);
		return;
	}
	if (!authenticate(w, r, key))
		return;
	if (r->msg.n_unknown) {
		reply_error(w, r, STUN_ERR_UNKNOWN_ATTRIBUTE);
		goto out;
	}
	a = alloc_find(&w->allocs, ctx->transport, ctx->via, &ctx->src);
	if (a && r->msg.method != TURN_ALLOCATE &&
	    a->user_id != auth_user_id(w->sn->auth, (const char *)r->buf + r->msg.username,
				       r->msg.username_len)) {
		reply_error(w, r, STUN_ERR_WRONG_CREDENTIALS);
		goto out;
	}
	switch (r->msg.method) {
	case TURN_ALLOCATE:
		on_allocate(w, r, a);
		break;
	case TURN_REFRESH:
		on_refresh(w, r, a);
		break;
	case TURN_CREATE_PERMISSION:
		on_create_permission(w, r, a);
		break;
	case TURN_CHANNEL_BIND:
		on_channel_bind(w, r, a);
		break;
	case TURN_CONNECT:
		on_connect(w, r, a);
		break;
	case TURN_CONNECTION_BIND:
		on_connection_bind(w, r, a);
		break;
	}
out:
	cred_wipe(key, sizeof(key));
}

/* ---- forwarding: client to peer ---------------------------------------- */

static void to_peer(struct worker *w, struct client_ctx *ctx, struct alloc *a,
		    const uint8_t *data, uint32_t len, const union addr *peer)
{
	metrics_inc(w->m, M_FWD_TO_PEER);
	worker_send_udp(w, a->relay_fd, data, len, peer, NULL, ctx->ref);
}

static void on_send_indication(struct worker *w, struct client_ctx *ctx, const uint8_t *buf,
			       const struct stun_msg *m)
{
	struct alloc *a = alloc_find(&w->allocs, ctx->transport, ctx->via, &ctx->src);
	union addr peer;

	if (!a) {
		metrics_inc(w->m, M_DROP_NO_ALLOCATION);
		goto drop;
	}
	if (a->relay_proto == IPPROTO_TCP || m->n_peers != 1 || !m->data ||
	    stun_get_addr(buf, m, m->peers[0], m->peers_len[0], true, &peer) ||
	    peer.sa.sa_family != a->relay.sa.sa_family) {
		metrics_inc(w->m, M_DROP_SEND_INVALID);
		goto drop;
	}
	if (!alloc_perm_check(a, &peer, w->now_ms)) {
		metrics_inc(w->m, M_DROP_NO_PERMISSION);
		goto drop;
	}
	to_peer(w, ctx, a, buf + m->data, m->data_len, &peer);
	return;
drop:
	worker_ref_release(w, ctx->ref);
}

static void on_channel_data(struct worker *w, struct client_ctx *ctx, uint8_t *p, uint32_t len)
{
	struct alloc_channel *ch;
	struct alloc *a;
	uint16_t number, dlen;

	if (turn_channel_parse(p, len, &number, &dlen)) {
		metrics_inc(w->m, M_DROP_CHANNEL_MALFORMED);
		goto drop;
	}
	a = alloc_find(&w->allocs, ctx->transport, ctx->via, &ctx->src);
	if (!a) {
		metrics_inc(w->m, M_DROP_NO_ALLOCATION);
		goto drop;
	}
	ch = alloc_channel_by_number(a, number, w->now_ms);
	if (!ch) {
		metrics_inc(w->m, M_DROP_NO_CHANNEL);
		goto drop;
	}
	to_peer(w, ctx, a, p + TURN_CHANNEL_HEADER_LEN, dlen, &ch->peer);
	return;
drop:
	worker_ref_release(w, ctx->ref);
}

void relay_from_client(struct worker *w, struct client_ctx *ctx, uint8_t *p, uint32_t len)
{
	struct request r;
	int err;

	if (turn_is_channel_data(p, len)) {
		on_channel_data(w, ctx, p, len);
		return;
	}
	err = stun_parse(p, len, &r.msg);
	if (err) {
		metrics_inc(w->m, err < STUN_E__COUNT && parse_drop[err] ? parse_drop[err]
									 : M_DROP_NOT_STUN);
		worker_ref_release(w, ctx->ref);
		return;
	}
	if (r.msg.cls == STUN_INDICATION && r.msg.method == TURN_SEND) {
		on_send_indication(w, ctx, p, &r.msg);
		return;
	}
	if (r.msg.cls == STUN_REQUEST) {
		r.ctx = ctx;
		r.buf = p;
		r.key = NULL;
		r.sha256 = false;
		on_request(w, &r);
	} else {
		metrics_inc(w->m, M_DROP_UNEXPECTED);
	}
	/* Requests are answered from a TX slot; the received bytes are done. */
	worker_ref_release(w, ctx->ref);
}

/* ---- forwarding: peer to client ---------------------------------------- */

/* Transaction ids of indications: not secrets, only unique enough. */
static void random_txid(struct worker *w, uint8_t txid[STUN_TXID_LEN])
{
	for (int i = 0; i < STUN_TXID_LEN; i++) {
		w->rng ^= w->rng << 13;
		w->rng ^= w->rng >> 7;
		w->rng ^= w->rng << 17;
		txid[i] = (uint8_t)w->rng;
	}
}

void relay_from_peer(struct worker *w, struct alloc *a, uint16_t bid, uint8_t *p,
		     uint32_t len, const union addr *peer)
{
	uint8_t *end = bufring_buf(&w->br, bid) + w->br.size;
	struct buf_ref ref = { .kind = REF_RXBUF, .id = bid };
	struct alloc_channel *ch;
	uint8_t *start;
	uint32_t total;

	if (!alloc_perm_check(a, peer, w->now_ms)) {
		metrics_inc(w->m, M_DROP_NO_PERMISSION);
		worker_ref_release(w, ref);
		return;
	}
	ch = alloc_channel_by_peer(a, peer, w->now_ms);
	if (ch && len <= 0xffff) {
		/* ChannelData: 4 bytes in front; over TCP padded to 4
		 * (RFC 8656 §12.5). */
		uint32_t pad = a->transport == IPPROTO_TCP ? (4 - (len & 3)) & 3 : 0;

		if (p + len + pad > end) {
			metrics_inc(w->m, M_DROP_TOO_BIG);
			worker_ref_release(w, ref);
			return;
		}
		start = p - TURN_CHANNEL_HEADER_LEN;
		turn_channel_header(start, ch->number, (uint16_t)len);
		memset(p + len, 0, pad);
		total = TURN_CHANNEL_HEADER_LEN + len + pad;
	} else {
		/* Data indication: header, XOR-PEER-ADDRESS and the DATA
		 * attribute header in the headroom; padding after. */
		uint32_t pad = (4 - (len & 3)) & 3;
		uint32_t hdr = STUN_HEADER_LEN + 4 + (peer->sa.sa_family == AF_INET6 ? 20 : 8) + 4;
		uint8_t txid[STUN_TXID_LEN];
		struct stun_builder b;

		if (p + len + pad > end || len > 0xffff - hdr) {
			metrics_inc(w->m, M_DROP_TOO_BIG);
			worker_ref_release(w, ref);
			return;
		}
		random_txid(w, txid);
		start = p - hdr;
		stun_build(&b, start, hdr, TURN_DATA, STUN_INDICATION, txid);
		stun_put_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, peer, true);
		/* The DATA attribute's header alone: its value is already in place. */
		start[b.len] = (uint8_t)(STUN_ATTR_DATA >> 8);
		start[b.len + 1] = (uint8_t)STUN_ATTR_DATA;
		start[b.len + 2] = (uint8_t)(len >> 8);
		start[b.len + 3] = (uint8_t)len;
		memset(p + len, 0, pad);
		total = hdr + len + pad;
		start[2] = (uint8_t)((total - STUN_HEADER_LEN) >> 8);
		start[3] = (uint8_t)(total - STUN_HEADER_LEN);
	}
	metrics_inc(w->m, M_FWD_TO_CLIENT);
	if (a->transport == IPPROTO_TCP) {
		if (a->via < w->n_conns && w->conns[a->via].state == CONN_OPEN)
			tcp_send(w, &w->conns[a->via], start, total, ref);
		else
			worker_ref_release(w, ref);
	} else {
		const struct listener *l = &w->lst[a->via];

		worker_send_udp(w, l->udp_fd, start, total, &a->client, l->wildcard ? &a->local : NULL,
				ref);
	}
}

/* ---- RFC 6062 messages the links send ----------------------------------- */

/* A TX slot for a message to allocation a's control connection; NULL
 * when there is no open one or no slot (counted). */
static uint8_t *control_begin(struct worker *w, const struct alloc *a, struct conn **c,
			      struct buf_ref *ref)
{
	uint8_t *buf;

	if (a->transport != IPPROTO_TCP || a->via >= w->n_conns)
		return NULL;
	*c = &w->conns[a->via];
	if ((*c)->state != CONN_OPEN)
		return NULL;
	*ref = (struct buf_ref){ .kind = REF_TX };
	buf = worker_tx_get(w, &ref->id);
	if (!buf)
		metrics_inc(w->m, M_DROP_NO_TX_BUFFER);
	return buf;
}

/* Queues the message of len bytes (or gives the slot back on -1). */
static void control_send(struct worker *w, struct conn *c, uint8_t *buf, int len,
			 struct buf_ref ref)
{
	if (len < 0)
		worker_ref_release(w, ref);
	else
		tcp_send(w, c, buf, (uint32_t)len, ref);
}

void relay_connect_answer(struct worker *w, struct alloc *a, const uint8_t txid[STUN_TXID_LEN],
			  bool sha256, bool fingerprint, int code, uint32_t id)
{
	struct stun_builder b;
	struct buf_ref ref;
	struct conn *c;
	uint8_t *buf = control_begin(w, a, &c, &ref);

	if (!buf)
		return;
	stun_build(&b, buf, WORKER_TX_SLOT, TURN_CONNECT, code ? STUN_ERROR : STUN_SUCCESS, txid);
	if (code) {
		metrics_inc(w->m, M_ERROR_RESPONSES);
		stun_put_error(&b, code, NULL);
	} else {
		stun_put_u32(&b, STUN_ATTR_CONNECTION_ID, id);
	}
	control_send(w, c, buf, message_finish(w, &b, a->key, sha256, fingerprint), ref);
}

void relay_connection_attempt(struct worker *w, struct alloc *a, uint32_t id,
			      const union addr *peer)
{
	uint8_t txid[STUN_TXID_LEN];
	struct stun_builder b;
	struct buf_ref ref;
	struct conn *c;
	uint8_t *buf = control_begin(w, a, &c, &ref);

	if (!buf)
		return;
	random_txid(w, txid);
	stun_build(&b, buf, WORKER_TX_SLOT, TURN_CONNECTION_ATTEMPT, STUN_INDICATION, txid);
	stun_put_u32(&b, STUN_ATTR_CONNECTION_ID, id);
	stun_put_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, peer, true);
	/* Indications carry no integrity under long-term credentials
	 * (RFC 8656 §5). */
	control_send(w, c, buf, message_finish(w, &b, NULL, false, true), ref);
}

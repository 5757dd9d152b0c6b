/* tcp-alloc: drives one TURN TCP allocation (RFC 6062) through a server on
 * loopback, playing both the client and the peer, for the integration
 * tests.
 *
 *   tcp-alloc --server IP:PORT --user NAME:PASS --scenario NAME
 *             [--bytes N] [--timeout S] [--initiator client|peer]
 *             [--rate KIB] [--slack BYTES] [--seed S]
 *
 * The peer is a TCP listener on 127.0.0.1 (port 0). A link is made in
 * one of two ways: the client sends Connect to the peer's address and
 * the peer accepts the connection that arrives from the relayed address
 * (client-initiated, RFC 6062 §4.3), or the client permits 127.0.0.1,
 * the peer connects to the relayed address and the client reads the
 * ConnectionAttempt off its control connection (peer-initiated, §4.4).
 * Either way the client then opens a data connection and binds it with
 * ConnectionBind. Scenarios (see scenarios[]) then move bytes, half-close,
 * reset, or check an error answer.
 *
 * The whole run shares one deadline (--timeout, default 20 s); every wait
 * is a poll bounded by it. At the end one line per step goes to stdout;
 * the exit status is 0 on success, 1 with the single line
 * "tcp-alloc: SCENARIO: what failed" on stderr, 2 on a bad command line. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto/addr.h"
#include "proto/cred.h"
#include "proto/stun.h"

#define MAX_MSG 4096               /* a response or indication, header included */
#define MAX_STEPS 48
#define STEP_LEN 320
#define MAX_PENDING 8              /* ConnectionAttempts read while waiting for a response */
#define MAX_TRIES 4                /* a request answered 401/438 is retried this often */
#define UDP_RETRANSMIT_MS 500
#define IO_CHUNK 65536
#define TRANSPORT_TCP 6            /* REQUESTED-TRANSPORT: IANA protocol number */
#define QUIET_MS 1000              /* no-permission: how long no ConnectionAttempt may come */
#define TICK_MS 100                /* slow readers read --rate KiB per tick */
#define HALF_UP 100000             /* half-close: bytes before the first shutdown */
#define HALF_BACK 50000            /* half-close: bytes the other side answers with */
#define RESET_BYTES 65536          /* reset: bytes that must arrive before the reset */
#define RESET_TAIL 16384           /* reset: bytes written just before it, may be lost */

/* Back-pressure in the slow-reader scenarios. When the writer's last
 * write completes, the bytes written and not yet read are in four socket
 * buffers and the relay: the writer's send queue, the server's receive
 * queue on the writer's connection, the pipe or copy area of the
 * direction (64 KiB at most), the server's send queue on the reader's
 * connection, and the reader's receive queue. The tool measures its own
 * two queues (SIOCOUTQNSD, SIOCINQ) at that moment; the rest is the
 * server's share, which a relay with stop-and-wait forwarding keeps
 * within one receive and one send buffer: TCP autotuning caps those at
 * net.ipv4.tcp_rmem[2] and tcp_wmem[2] (the server does not set
 * SO_RCVBUF/SO_SNDBUF on TCP sockets). The bound is their sum plus
 * SLACK_MARGIN for the relay's area and the buffers' accounting; a relay
 * that read on regardless of its writes would hold nearly everything.
 * A fixed "N minus 8 MiB" would not do: with this host's 32 MiB
 * tcp_rmem[2] the server's receive queue alone was seen at 12.6 MiB and
 * up to 18.6 MiB in flight in all; so N must be well above the bound
 * (default 64 MiB, and a run with less fails as inconclusive). */
#define SLACK_MARGIN (1u << 20)
#define SLACK_FALLBACK ((6u << 20) + (4u << 20))  /* Linux's older defaults */
#define SLOW_BYTES_DEFAULT (64ull << 20)
#define SLOW_RATE_DEFAULT (1024u * 1024u)         /* per TICK_MS: 10 MiB/s */
#define SLOW_MIN_MARGIN (8ull << 20)              /* N - bound must be at least this */

/* ---- small things ------------------------------------------------------ */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* splitmix64's finaliser: the pattern and the transaction ids. */
static uint64_t mix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

/* The byte stream of a direction is a function of (seed, offset), so a
 * reader checks every byte where it lands without keeping a copy, and a
 * lost, repeated or reordered chunk shows as a mismatch. */
static void pat_fill(uint64_t seed, uint64_t off, uint8_t *p, size_t n)
{
	uint64_t word = mix64(seed ^ (off >> 3));

	for (size_t i = 0; i < n; i++, off++) {
		if (i && (off & 7) == 0)
			word = mix64(seed ^ (off >> 3));
		p[i] = (uint8_t)(word >> ((off & 7) * 8));
	}
}

/* Index of the first byte of p that is not the pattern at off, or n. */
static size_t pat_check(uint64_t seed, uint64_t off, const uint8_t *p, size_t n)
{
	uint64_t word = mix64(seed ^ (off >> 3));

	for (size_t i = 0; i < n; i++, off++) {
		if (i && (off & 7) == 0)
			word = mix64(seed ^ (off >> 3));
		if (p[i] != (uint8_t)(word >> ((off & 7) * 8)))
			return i;
	}
	return n;
}

/* ---- the run: options, deadline, steps, credentials --------------------- */

/* A ConnectionAttempt indication (RFC 6062 §4.4). */
struct attempt {
	uint32_t id;
	union addr peer;
};

struct run {
	const char *scenario;
	union addr server;
	const char *user, *pass;
	uint64_t bytes;            /* --bytes; 0 = the scenario's default */
	uint64_t seed;             /* pattern seed; each direction derives its own */
	uint32_t rate;             /* slow reader: bytes per TICK_MS */
	uint64_t slack;            /* back-pressure bound, see SLACK_MARGIN; 0 = from sysctls */
	int initiator;             /* 'c' or 'p'; 0 = the scenario's default */
	uint64_t t0, deadline;     /* ns, CLOCK_MONOTONIC */
	uint64_t txid_ctr;

	/* Long-term credentials learned from the first 401 (RFC 8489 §9.2). */
	char realm[256], nonce[256];
	size_t realm_len, nonce_len;
	uint8_t key[CRED_KEY_LEN];
	bool have_key;

	struct attempt pending[MAX_PENDING];
	int n_pending;

	char steps[MAX_STEPS][STEP_LEN];
	int n_steps;
};

static void print_steps(const struct run *r)
{
	for (int i = 0; i < r->n_steps; i++)
		printf("tcp-alloc: %s: %s\n", r->scenario, r->steps[i]);
	fflush(stdout);
}

/* Records one step: "[ms since start] text". */
static void step(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void step(struct run *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->n_steps == MAX_STEPS)
		return;
	n = snprintf(r->steps[r->n_steps], STEP_LEN, "[%7.1f ms] ",
		     (double)(now_ns() - r->t0) / 1e6);
	va_start(ap, fmt);
	vsnprintf(r->steps[r->n_steps] + n, STEP_LEN - (size_t)n, fmt, ap);
	va_end(ap);
	r->n_steps++;
}

/* Prints the steps so far and the one failure line; exits 1. */
static void fail(struct run *r, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));

static void fail(struct run *r, const char *fmt, ...)
{
	va_list ap;

	print_steps(r);
	fprintf(stderr, "tcp-alloc: %s: ", r->scenario);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Milliseconds left before the deadline (at least 0). */
static int ms_left(const struct run *r)
{
	uint64_t now = now_ns();

	return now >= r->deadline ? 0 : (int)((r->deadline - now + 999999) / 1000000);
}

static const char *fmt_addr(const union addr *a, char buf[ADDR_STRLEN])
{
	return addr_format(a, buf, ADDR_STRLEN);
}

/* ---- sockets: everything non-blocking, every wait bounded --------------- */

/* Polls fd for ev until the deadline; fails naming what when it passes. */
static short wait_fd(struct run *r, int fd, short ev, const char *what)
{
	struct pollfd p = { .fd = fd, .events = ev };

	for (;;) {
		int n = poll(&p, 1, ms_left(r));

		if (n > 0)
			return p.revents;
		if (n < 0 && errno != EINTR)
			fail(r, "%s: poll: %s", what, strerror(errno));
		if (n == 0)
			fail(r, "%s: timed out", what);
	}
}

static int tcp_socket(struct run *r, int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		fail(r, "socket: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int tcp_connect(struct run *r, const union addr *to, const char *what)
{
	int fd = tcp_socket(r, to->sa.sa_family), err = 0;
	socklen_t len = sizeof(err);

	if (connect(fd, &to->sa, addr_len(to)) && errno != EINPROGRESS)
		fail(r, "%s: connect: %s", what, strerror(errno));
	wait_fd(r, fd, POLLOUT, what);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) || err)
		fail(r, "%s: connect: %s", what, strerror(err ? err : errno));
	return fd;
}

static int tcp_listen(struct run *r, union addr *bound)
{
	int fd = tcp_socket(r, AF_INET);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	addr_parse("127.0.0.1:0", 0, bound);
	if (bind(fd, &bound->sa, addr_len(bound)) || listen(fd, 8) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) ||
	    addr_from_sockaddr((struct sockaddr *)&ss, sl, bound))
		fail(r, "peer listener: %s", strerror(errno));
	return fd;
}

static int tcp_accept(struct run *r, int lfd, union addr *from, const char *what)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd;

	for (;;) {
		wait_fd(r, lfd, POLLIN, what);
		sl = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			break;
		if (errno != EAGAIN && errno != EINTR)
			fail(r, "%s: accept: %s", what, strerror(errno));
	}
	if (addr_from_sockaddr((struct sockaddr *)&ss, sl, from))
		fail(r, "%s: accepted an unknown address family", what);
	return fd;
}

static void local_addr(struct run *r, int fd, union addr *out)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) ||
	    addr_from_sockaddr((struct sockaddr *)&ss, sl, out))
		fail(r, "getsockname: %s", strerror(errno));
}

static void send_all(struct run *r, int fd, const uint8_t *p, size_t n, const char *what)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			wait_fd(r, fd, POLLOUT, what);
			continue;
		}
		if (w <= 0)
			fail(r, "%s: send: %s", what, w < 0 ? strerror(errno) : "sent nothing");
		p += w;
		n -= (size_t)w;
	}
}

/* Reads exactly n bytes: a STUN frame is read to its last byte and not
 * one further, so what follows a ConnectionBind success stays in the
 * socket for the data phase. */
static void recv_exact(struct run *r, int fd, uint8_t *p, size_t n, const char *what)
{
	while (n) {
		ssize_t got = recv(fd, p, n, 0);

		if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
			wait_fd(r, fd, POLLIN, what);
			continue;
		}
		if (got == 0)
			fail(r, "%s: the server closed the connection", what);
		if (got < 0)
			fail(r, "%s: recv: %s", what, strerror(errno));
		p += got;
		n -= (size_t)got;
	}
}

/* Closes with SO_LINGER {1, 0}: the other end gets a RST, not a FIN. */
static void close_reset(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/* ---- STUN over a connection --------------------------------------------- */

/* Reads one STUN frame off a TCP stream (RFC 8656 §12.5 framing) into
 * buf and parses it into m; returns its length. */
static size_t read_frame(struct run *r, int fd, uint8_t buf[MAX_MSG], struct stun_msg *m,
			 const char *what)
{
	int flen, err;

	recv_exact(r, fd, buf, STUN_HEADER_LEN, what);
	flen = stun_frame_len(buf, STUN_HEADER_LEN);
	if (flen < 0 || !stun_is_stun(buf, STUN_HEADER_LEN))
		fail(r, "%s: the server sent something that is not STUN (%02x %02x %02x %02x)",
		     what, buf[0], buf[1], buf[2], buf[3]);
	if (flen > MAX_MSG)
		fail(r, "%s: a %d-byte message, more than %d expected", what, flen, MAX_MSG);
	recv_exact(r, fd, buf + STUN_HEADER_LEN, (size_t)flen - STUN_HEADER_LEN, what);
	err = stun_parse(buf, (size_t)flen, m);
	if (err != STUN_OK)
		fail(r, "%s: the server sent a malformed message (%s)", what,
		     stun_parse_error_name(err));
	return (size_t)flen;
}

/* True (and *a filled) when m is a well-formed ConnectionAttempt. */
static bool parse_attempt(struct run *r, const uint8_t *buf, const struct stun_msg *m,
			  struct attempt *a)
{
	if (m->method != TURN_CONNECTION_ATTEMPT || m->cls != STUN_INDICATION)
		return false;
	if (!m->connection_id || !m->n_peers ||
	    stun_get_addr(buf, m, m->peers[0], m->peers_len[0], true, &a->peer))
		fail(r, "ConnectionAttempt without CONNECTION-ID or XOR-PEER-ADDRESS");
	a->id = stun_get_u32(buf, m->connection_id);
	return true;
}

/* What a request carries besides its credentials. */
struct req {
	uint16_t method;
	uint8_t transport;            /* REQUESTED-TRANSPORT protocol; 0 = none */
	const union addr *peer;       /* XOR-PEER-ADDRESS; NULL = none */
	bool has_id;
	uint32_t id;                  /* CONNECTION-ID */
};

struct resp {
	uint8_t buf[MAX_MSG];
	struct stun_msg m;
	int code;                     /* 0 = success, else the ERROR-CODE */
};

static const char *method_name(uint16_t method)
{
	switch (method) {
	case TURN_ALLOCATE: return "Allocate";
	case TURN_CREATE_PERMISSION: return "CreatePermission";
	case TURN_CONNECT: return "Connect";
	case TURN_CONNECTION_BIND: return "ConnectionBind";
	default: return "request";
	}
}

static size_t build_req(struct run *r, const struct req *q, uint8_t txid[STUN_TXID_LEN],
			uint8_t *buf)
{
	struct stun_builder b;
	uint64_t t[2];
	int len;

	/* Transaction ids need only be unique here (the pattern is what
	 * the seed repeats). */
	r->txid_ctr++;
	t[0] = mix64(r->t0 ^ ((uint64_t)getpid() << 32) ^ r->txid_ctr);
	t[1] = mix64(t[0]);
	memcpy(txid, t, STUN_TXID_LEN);
	stun_build(&b, buf, MAX_MSG, q->method, STUN_REQUEST, txid);
	if (q->transport)
		stun_put_u32(&b, STUN_ATTR_REQUESTED_TRANSPORT, (uint32_t)q->transport << 24);
	if (q->peer)
		stun_put_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, q->peer, true);
	if (q->has_id)
		stun_put_u32(&b, STUN_ATTR_CONNECTION_ID, q->id);
	if (r->have_key) {
		stun_put(&b, STUN_ATTR_USERNAME, r->user, strlen(r->user));
		stun_put(&b, STUN_ATTR_REALM, r->realm, r->realm_len);
		stun_put(&b, STUN_ATTR_NONCE, r->nonce, r->nonce_len);
		stun_put_integrity(&b, r->key, CRED_KEY_LEN);
	}
	stun_put_fingerprint(&b);
	len = stun_finish(&b);
	if (len < 0)
		fail(r, "building a %s: %s", method_name(q->method), strerror(-len));
	return (size_t)len;
}

/* UDP: sends the request and retransmits it every UDP_RETRANSMIT_MS
 * until a datagram with its transaction id arrives. */
static void udp_exchange(struct run *r, int fd, const uint8_t *msg, size_t len,
			 const uint8_t *txid, struct resp *out, const char *what)
{
	for (;;) {
		uint64_t next = now_ns() + UDP_RETRANSMIT_MS * 1000000ull;

		if (send(fd, msg, len, 0) != (ssize_t)len)
			fail(r, "%s: send: %s", what, strerror(errno));
		while (now_ns() < next) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			int left = ms_left(r);
			ssize_t n;

			if (!left)
				fail(r, "%s: no answer", what);
			if (poll(&p, 1, left < UDP_RETRANSMIT_MS ? left : UDP_RETRANSMIT_MS) <= 0)
				continue;
			n = recv(fd, out->buf, sizeof(out->buf), 0);
			if (n < 0)
				fail(r, "%s: recv: %s", what, strerror(errno));
			if (stun_parse(out->buf, (size_t)n, &out->m) == STUN_OK &&
			    !memcmp(out->m.txid, txid, STUN_TXID_LEN))
				return;
		}
	}
}

/* Sends request q on fd (TCP, or UDP when udp) and returns the final
 * answer's code (0 for success) with the answer in *out. A 401 or 438
 * carrying REALM and NONCE teaches the credentials and the request goes
 * again (RFC 8489 §9.2.4); a ConnectionAttempt read while waiting is kept
 * for wait_attempt. Success responses must carry a valid
 * MESSAGE-INTEGRITY. */
static int transact(struct run *r, int fd, bool udp, const struct req *q, struct resp *out)
{
	const char *what = method_name(q->method);

	for (int tries = 0; tries < MAX_TRIES; tries++) {
		uint8_t msg[MAX_MSG], txid[STUN_TXID_LEN];
		size_t len = build_req(r, q, txid, msg);
		bool signed_req = r->have_key;

		if (udp) {
			udp_exchange(r, fd, msg, len, txid, out, what);
		} else {
			send_all(r, fd, msg, len, what);
			for (;;) {
				struct attempt a;

				read_frame(r, fd, out->buf, &out->m, what);
				if (!memcmp(out->m.txid, txid, STUN_TXID_LEN))
					break;
				if (parse_attempt(r, out->buf, &out->m, &a) &&
				    r->n_pending < MAX_PENDING)
					r->pending[r->n_pending++] = a;
			}
		}
		if (out->m.method != q->method)
			fail(r, "%s: answered with method 0x%03x", what, out->m.method);
		if (out->m.cls == STUN_SUCCESS) {
			if (!stun_check_integrity(out->buf, &out->m, r->key, CRED_KEY_LEN))
				fail(r, "%s: success response without valid MESSAGE-INTEGRITY", what);
			out->code = 0;
			return 0;
		}
		if (out->m.cls != STUN_ERROR)
			fail(r, "%s: answered with class %d", what, out->m.cls);
		out->code = stun_get_error_code(out->buf, &out->m);
		if (out->code < 0)
			fail(r, "%s: error response with a malformed ERROR-CODE", what);
		if (out->code != STUN_ERR_UNAUTHORIZED && out->code != STUN_ERR_STALE_NONCE)
			return out->code;
		if (out->code == STUN_ERR_UNAUTHORIZED && signed_req)
			fail(r, "%s: 401 to a signed request: wrong --user?", what);
		if (!out->m.realm || !out->m.nonce || out->m.realm_len >= sizeof(r->realm) ||
		    out->m.nonce_len >= sizeof(r->nonce))
			fail(r, "%s: %d without a usable REALM and NONCE", what, out->code);
		memcpy(r->realm, out->buf + out->m.realm, out->m.realm_len);
		r->realm_len = out->m.realm_len;
		memcpy(r->nonce, out->buf + out->m.nonce, out->m.nonce_len);
		r->nonce_len = out->m.nonce_len;
		if (cred_longterm_key(r->user, strlen(r->user), r->realm, r->realm_len, r->pass,
				      strlen(r->pass), r->key))
			fail(r, "long-term key: failed");
		r->have_key = true;
	}
	fail(r, "%s: still challenged after %d tries", what, MAX_TRIES);
}

/* Sends q and fails unless the answer is a success. */
static void transact_ok(struct run *r, int fd, const struct req *q, struct resp *out)
{
	int code = transact(r, fd, false, q, out);

	if (code)
		fail(r, "%s: error %d, expected success", method_name(q->method), code);
}

/* Waits until wait_ms have passed (or the deadline) for a
 * ConnectionAttempt on the control connection. */
static bool wait_attempt(struct run *r, int ctrl, int wait_ms, struct attempt *a)
{
	uint64_t until = now_ns() + (uint64_t)wait_ms * 1000000ull;

	if (r->n_pending) {
		*a = r->pending[0];
		memmove(r->pending, r->pending + 1, (size_t)--r->n_pending * sizeof(*a));
		return true;
	}
	for (;;) {
		struct pollfd p = { .fd = ctrl, .events = POLLIN };
		uint64_t now = now_ns();
		uint8_t buf[MAX_MSG];
		struct stun_msg m;
		int t;

		if (now >= until || !ms_left(r))
			return false;
		t = (int)((until - now) / 1000000ull) + 1;
		if (poll(&p, 1, t < ms_left(r) ? t : ms_left(r)) <= 0)
			continue;
		read_frame(r, ctrl, buf, &m, "control connection");
		if (parse_attempt(r, buf, &m, a))
			return true;
		fail(r, "control connection: unexpected message 0x%03x class %d", m.method, m.cls);
	}
}

/* ---- TURN steps --------------------------------------------------------- */

/* A TCP allocation on a new control connection; returns its socket. */
static int allocate(struct run *r, union addr *relayed)
{
	struct req q = { .method = TURN_ALLOCATE, .transport = TRANSPORT_TCP };
	int ctrl = tcp_connect(r, &r->server, "control connection");
	char a[ADDR_STRLEN];
	struct resp s;

	transact_ok(r, ctrl, &q, &s);
	if (!s.m.xor_relayed ||
	    stun_get_addr(s.buf, &s.m, s.m.xor_relayed, s.m.xor_relayed_len, true, relayed))
		fail(r, "Allocate: success without XOR-RELAYED-ADDRESS");
	step(r, "Allocate (TCP) on control connection: relayed address %s", fmt_addr(relayed, a));
	return ctrl;
}

static void create_permission(struct run *r, int ctrl, const char *ip)
{
	struct req q = { .method = TURN_CREATE_PERMISSION };
	union addr peer;
	struct resp s;

	addr_parse(ip, 0, &peer);
	q.peer = &peer;
	transact_ok(r, ctrl, &q, &s);
	step(r, "CreatePermission %s: success", ip);
}

/* Connect to peer; returns the code (0 success) and sets *id. */
static int connect_peer(struct run *r, int ctrl, const union addr *peer, uint32_t *id)
{
	struct req q = { .method = TURN_CONNECT, .peer = peer };
	char a[ADDR_STRLEN];
	struct resp s;
	int code = transact(r, ctrl, false, &q, &s);

	if (code) {
		step(r, "Connect %s: error %d", fmt_addr(peer, a), code);
		return code;
	}
	if (!s.m.connection_id)
		fail(r, "Connect: success without CONNECTION-ID");
	*id = stun_get_u32(s.buf, s.m.connection_id);
	step(r, "Connect %s: success, CONNECTION-ID 0x%08x", fmt_addr(peer, a), *id);
	return 0;
}

/* A new data connection with ConnectionBind for id; returns the code and
 * the socket in *fd (closed and -1 unless the bind succeeded). */
static int bind_data(struct run *r, uint32_t id, int *fd)
{
	struct req q = { .method = TURN_CONNECTION_BIND, .has_id = true, .id = id };
	struct resp s;
	int code;

	*fd = tcp_connect(r, &r->server, "data connection");
	code = transact(r, *fd, false, &q, &s);
	if (code) {
		step(r, "ConnectionBind 0x%08x on a new data connection: error %d", id, code);
		close(*fd);
		*fd = -1;
		return code;
	}
	step(r, "ConnectionBind 0x%08x on a new data connection: success", id);
	return 0;
}

/* A bound link: control and data connections, the peer's socket. */
struct link {
	int ctrl, data, peer;
	union addr relayed;
	uint32_t id;
};

static void link_open(struct run *r, struct link *L)
{
	union addr listen_at, from, mine;
	char a[ADDR_STRLEN], b[ADDR_STRLEN];
	int lfd;

	L->ctrl = allocate(r, &L->relayed);
	if (r->initiator == 'c') {
		lfd = tcp_listen(r, &listen_at);
		if (connect_peer(r, L->ctrl, &listen_at, &L->id))
			fail(r, "Connect to the peer listener %s failed", fmt_addr(&listen_at, a));
		L->peer = tcp_accept(r, lfd, &from, "peer: accepting the relay's connection");
		close(lfd);
		/* RFC 6062 §5.2: the connection comes from the relayed address. */
		if (!addr_equal(&from, &L->relayed))
			fail(r, "peer: the relay connected from %s, not the relayed address %s",
			     fmt_addr(&from, a), fmt_addr(&L->relayed, b));
		step(r, "peer accepted the relay's connection from %s", fmt_addr(&from, a));
	} else {
		struct attempt at;

		create_permission(r, L->ctrl, "127.0.0.1");
		L->peer = tcp_connect(r, &L->relayed, "peer: connecting to the relayed address");
		local_addr(r, L->peer, &mine);
		if (!wait_attempt(r, L->ctrl, ms_left(r), &at))
			fail(r, "no ConnectionAttempt for the peer's connection");
		if (!addr_equal(&at.peer, &mine))
			fail(r, "ConnectionAttempt names peer %s, the peer is %s",
			     fmt_addr(&at.peer, a), fmt_addr(&mine, b));
		L->id = at.id;
		step(r, "peer %s connected; ConnectionAttempt CONNECTION-ID 0x%08x",
		     fmt_addr(&mine, a), at.id);
	}
	if (bind_data(r, L->id, &L->data))
		fail(r, "ConnectionBind for 0x%08x failed", L->id);
}

static void link_close(struct link *L)
{
	if (L->data >= 0)
		close(L->data);
	if (L->peer >= 0)
		close(L->peer);
	close(L->ctrl);
}

/* ---- moving bytes ------------------------------------------------------- */

enum flow_end { END_NONE, END_SHUT, END_CLOSE };

/* One direction: total pattern bytes written to wfd and read from rfd. */
struct flow {
	const char *name;          /* "client->peer" */
	int wfd, rfd;
	uint64_t total, seed;
	enum flow_end end;         /* after the last write: shutdown(SHUT_WR), close, nothing */
	bool expect_eof;           /* the reader must see EOF right after total */
	uint32_t rate;             /* reader: bytes per TICK_MS, 0 = as fast as it can */

	uint64_t sent, recvd;
	bool ended, eof;
	uint64_t t_start, t_sent;  /* when it started, when the last write completed */
	uint64_t recvd_at_sent;    /* what the reader had then */
	int wq_at_sent, rq_at_sent;/* bytes then in the writer's send queue (not yet sent)
	                              and in the reader's receive queue */
	uint64_t blocked_ns;       /* time the writer had bytes and the socket took none */
};

static void flow_init(struct flow *f, const char *name, int wfd, int rfd, uint64_t total,
		      uint64_t seed, enum flow_end end)
{
	memset(f, 0, sizeof(*f));
	f->name = name;
	f->wfd = wfd;
	f->rfd = rfd;
	f->total = total;
	f->seed = seed;
	f->end = end;
	f->expect_eof = end != END_NONE;
}

static bool flow_done(const struct flow *f)
{
	return f->sent == f->total && f->ended && f->recvd == f->total &&
	       (!f->expect_eof || f->eof);
}

/* Bytes the reader may still take now (rate-limited readers). */
static uint64_t flow_allowance(const struct flow *f, uint64_t now)
{
	uint64_t ticks;

	if (!f->rate)
		return IO_CHUNK;
	ticks = (now - f->t_start) / (TICK_MS * 1000000ull) + 1;
	return ticks * f->rate > f->recvd ? ticks * f->rate - f->recvd : 0;
}

static void flow_write(struct run *r, struct flow *f)
{
	static uint8_t buf[IO_CHUNK];
	size_t n = f->total - f->sent < IO_CHUNK ? (size_t)(f->total - f->sent) : IO_CHUNK;
	ssize_t w;

	pat_fill(f->seed, f->sent, buf, n);
	w = send(f->wfd, buf, n, MSG_NOSIGNAL);
	if (w < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (w <= 0)
		fail(r, "%s: write after %llu of %llu bytes: %s", f->name,
		     (unsigned long long)f->sent, (unsigned long long)f->total,
		     w < 0 ? strerror(errno) : "wrote nothing");
	f->sent += (uint64_t)w;
	if (f->sent == f->total) {
		f->t_sent = now_ns();
		f->recvd_at_sent = f->recvd;
		if (ioctl(f->wfd, SIOCOUTQNSD, &f->wq_at_sent) ||
		    ioctl(f->rfd, SIOCINQ, &f->rq_at_sent))
			fail(r, "%s: queue sizes: %s", f->name, strerror(errno));
	}
}

static void flow_read(struct run *r, struct flow *f, uint64_t allowance)
{
	static uint8_t buf[IO_CHUNK];
	size_t want = allowance < IO_CHUNK ? (size_t)allowance : IO_CHUNK, bad;
	ssize_t n;

	/* One byte more than expected may be asked for: it must not come. */
	if (f->recvd == f->total)
		want = 1;
	n = recv(f->rfd, buf, want, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0)
		fail(r, "%s: read after %llu of %llu bytes: %s", f->name,
		     (unsigned long long)f->recvd, (unsigned long long)f->total, strerror(errno));
	if (n == 0) {
		if (f->recvd < f->total)
			fail(r, "%s: EOF after %llu of %llu bytes", f->name,
			     (unsigned long long)f->recvd, (unsigned long long)f->total);
		if (!f->expect_eof)
			fail(r, "%s: unexpected EOF after all %llu bytes", f->name,
			     (unsigned long long)f->total);
		f->eof = true;
		return;
	}
	if (f->recvd + (uint64_t)n > f->total)
		fail(r, "%s: %llu bytes arrived, %llu were sent", f->name,
		     (unsigned long long)(f->recvd + (uint64_t)n), (unsigned long long)f->total);
	bad = pat_check(f->seed, f->recvd, buf, (size_t)n);
	if (bad < (size_t)n)
		fail(r, "%s: byte %llu differs from what was sent", f->name,
		     (unsigned long long)(f->recvd + bad));
	f->recvd += (uint64_t)n;
}

#define MAX_FLOWS 2

/* Runs the flows (at most MAX_FLOWS) together until each is done: every
 * byte written, the end applied, every byte read and checked, EOF seen
 * where expected. */
static void run_flows(struct run *r, struct flow *fl, int n)
{
	uint64_t t = now_ns();

	if (n > MAX_FLOWS)
		fail(r, "run_flows: %d flows, at most %d", n, MAX_FLOWS);

	for (int i = 0; i < n; i++)
		fl[i].t_start = t;
	for (;;) {
		struct pollfd p[2 * MAX_FLOWS];
		int wi[MAX_FLOWS], ri[MAX_FLOWS], np = 0, timeout = ms_left(r);
		bool all = true;
		uint64_t t0, t1;

		t0 = now_ns();
		for (int i = 0; i < n; i++) {
			struct flow *f = &fl[i];

			wi[i] = ri[i] = -1;
			if (f->sent == f->total && !f->ended) {
				if (f->end == END_SHUT && shutdown(f->wfd, SHUT_WR))
					fail(r, "%s: shutdown: %s", f->name, strerror(errno));
				if (f->end == END_CLOSE)
					close(f->wfd);
				f->ended = true;
				if (f->total == 0) {
					f->t_sent = t0;
					f->recvd_at_sent = 0;
				}
			}
			if (flow_done(f))
				continue;
			all = false;
			if (f->sent < f->total) {
				wi[i] = np;
				p[np++] = (struct pollfd){ .fd = f->wfd, .events = POLLOUT };
			}
			if (!f->eof && (f->recvd < f->total || f->expect_eof)) {
				if (flow_allowance(f, t0)) {
					ri[i] = np;
					p[np++] = (struct pollfd){ .fd = f->rfd, .events = POLLIN };
				} else {
					/* Sleep until the reader's next tick. */
					uint64_t tick = TICK_MS * 1000000ull;
					uint64_t next = f->t_start + ((t0 - f->t_start) / tick + 1) * tick;
					int ms = (int)((next - t0) / 1000000ull) + 1;

					if (ms < timeout)
						timeout = ms;
				}
			}
		}
		if (all)
			return;
		if (!ms_left(r)) {
			for (int i = 0; i < n; i++)
				if (!flow_done(&fl[i]))
					fail(r, "%s: timed out: %llu of %llu bytes written, %llu read%s",
					     fl[i].name, (unsigned long long)fl[i].sent,
					     (unsigned long long)fl[i].total,
					     (unsigned long long)fl[i].recvd,
					     fl[i].expect_eof && !fl[i].eof ? ", no EOF" : "");
		}
		if (poll(p, (nfds_t)np, timeout) < 0 && errno != EINTR)
			fail(r, "poll: %s", strerror(errno));
		t1 = now_ns();
		for (int i = 0; i < n; i++) {
			struct flow *f = &fl[i];

			if (wi[i] >= 0) {
				if (p[wi[i]].revents)
					flow_write(r, f);
				else
					f->blocked_ns += t1 - t0;
			}
			if (ri[i] >= 0 && p[ri[i]].revents)
				flow_read(r, f, flow_allowance(f, t1));
		}
	}
}

static void flow_step(struct run *r, const struct flow *f)
{
	step(r, "%s: %llu bytes written and verified in %.1f ms%s", f->name,
	     (unsigned long long)f->total, (double)(now_ns() - f->t_start) / 1e6,
	     f->expect_eof ? ", then EOF" : "");
}

/* Reads from fd until it reports an error; a clean EOF, or nothing
 * within the deadline, fails. Bytes that arrive first must be the flow's
 * pattern continuing at f->recvd. Returns the errno. */
static int expect_reset(struct run *r, int fd, struct flow *f, const char *who)
{
	for (;;) {
		uint8_t buf[IO_CHUNK];
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (!ms_left(r))
				fail(r, "%s: no reset within the timeout", who);
			wait_fd(r, fd, POLLIN, who);
			continue;
		}
		if (n < 0) {
			int e = errno;

			if (e != ECONNRESET && e != EPIPE)
				fail(r, "%s: read: %s, expected a reset", who, strerror(e));
			return e;
		}
		if (n == 0)
			fail(r, "%s: clean EOF after %llu bytes, expected a reset", who,
			     (unsigned long long)f->recvd);
		if (pat_check(f->seed, f->recvd, buf, (size_t)n) < (size_t)n)
			fail(r, "%s: bytes before the reset differ from what was sent", who);
		f->recvd += (uint64_t)n;
	}
}

/* ---- scenarios ---------------------------------------------------------- */

static uint64_t bytes_or(const struct run *r, uint64_t dflt)
{
	return r->bytes ? r->bytes : dflt;
}

static void sc_echo(struct run *r)
{
	uint64_t n = bytes_or(r, 1u << 20);
	struct flow f[2];
	struct link L;

	link_open(r, &L);
	flow_init(&f[0], "client->peer", L.data, L.peer, n, r->seed ^ 1, END_SHUT);
	flow_init(&f[1], "peer->client", L.peer, L.data, n, r->seed ^ 2, END_SHUT);
	run_flows(r, f, 2);
	flow_step(r, &f[0]);
	flow_step(r, &f[1]);
	link_close(&L);
}

/* The third field of a net.ipv4.tcp_[rw]mem sysctl, 0 if unreadable. */
static uint64_t sysctl_max(const char *path)
{
	unsigned long long lo, dflt, hi;
	FILE *f = fopen(path, "r");
	int n;

	if (!f)
		return 0;
	n = fscanf(f, "%llu %llu %llu", &lo, &dflt, &hi);
	fclose(f);
	return n == 3 ? hi : 0;
}

/* What the server may hold of a slow-reader flow (see SLACK_MARGIN). */
static uint64_t server_bound(void)
{
	uint64_t rmem = sysctl_max("/proc/sys/net/ipv4/tcp_rmem");
	uint64_t wmem = sysctl_max("/proc/sys/net/ipv4/tcp_wmem");

	return rmem && wmem ? rmem + wmem + SLACK_MARGIN : SLACK_FALLBACK + SLACK_MARGIN;
}

/* A fast writer and a reader taking --rate bytes per TICK_MS. When the
 * writer's last write completes, what the server holds of the flow must
 * be within its bound. */
static void slow_reader(struct run *r, bool peer_slow)
{
	uint64_t n = bytes_or(r, SLOW_BYTES_DEFAULT), bound = r->slack ? r->slack : server_bound();
	uint64_t ahead, held;
	struct flow f;
	struct link L;

	if (n < bound + SLOW_MIN_MARGIN)
		fail(r, "%llu bytes cannot show back-pressure here: the server may hold %llu "
			"(tcp_rmem + tcp_wmem maxima); use --bytes %llu or more",
		     (unsigned long long)n, (unsigned long long)bound,
		     (unsigned long long)(bound + SLOW_MIN_MARGIN));
	link_open(r, &L);
	if (peer_slow)
		flow_init(&f, "client->peer", L.data, L.peer, n, r->seed ^ 3, END_SHUT);
	else
		flow_init(&f, "peer->client", L.peer, L.data, n, r->seed ^ 4, END_SHUT);
	f.rate = r->rate;
	run_flows(r, &f, 1);
	flow_step(r, &f);
	ahead = n - f.recvd_at_sent;
	if (ahead < (uint64_t)f.wq_at_sent + (uint64_t)f.rq_at_sent)
		fail(r, "queue sizes (%d, %d) larger than the %llu bytes in flight", f.wq_at_sent,
		     f.rq_at_sent, (unsigned long long)ahead);
	held = ahead - (uint64_t)f.wq_at_sent - (uint64_t)f.rq_at_sent;
	step(r, "writer blocked %.0f of %.0f ms; at its last write the reader had %llu bytes, "
		"%llu in flight: writer's send queue %d, reader's receive queue %d, "
		"server %llu (bound %llu)",
	     (double)f.blocked_ns / 1e6, (double)(f.t_sent - f.t_start) / 1e6,
	     (unsigned long long)f.recvd_at_sent, (unsigned long long)ahead, f.wq_at_sent,
	     f.rq_at_sent, (unsigned long long)held, (unsigned long long)bound);
	if (held > bound)
		fail(r, "no back-pressure: the server held %llu bytes when the writer finished "
			"(bound %llu)", (unsigned long long)held, (unsigned long long)bound);
	link_close(&L);
}

static void sc_slow_peer(struct run *r)
{
	slow_reader(r, true);
}

static void sc_slow_client(struct run *r)
{
	slow_reader(r, false);
}

/* One side sends HALF_UP bytes and shuts down; the other reads them and
 * EOF, answers HALF_BACK bytes and closes; the first reads those and EOF. */
static void half_close(struct run *r, bool client_first)
{
	struct flow f;
	struct link L;
	int a, b;

	link_open(r, &L);
	a = client_first ? L.data : L.peer;
	b = client_first ? L.peer : L.data;
	flow_init(&f, client_first ? "client->peer, then shutdown(SHUT_WR)"
				   : "peer->client, then shutdown(SHUT_WR)",
		  a, b, HALF_UP, r->seed ^ 5, END_SHUT);
	run_flows(r, &f, 1);
	flow_step(r, &f);
	flow_init(&f, client_first ? "peer->client after the half-close, then close"
				   : "client->peer after the half-close, then close",
		  b, a, HALF_BACK, r->seed ^ 6, END_CLOSE);
	run_flows(r, &f, 1);
	flow_step(r, &f);
	if (client_first)
		L.peer = -1;
	else
		L.data = -1;
	link_close(&L);
}

static void sc_half_close_client(struct run *r)
{
	half_close(r, true);
}

static void sc_half_close_peer(struct run *r)
{
	half_close(r, false);
}

/* One side sends RESET_BYTES (all read by the other), RESET_TAIL more,
 * then resets; the other must see a reset, not an EOF. */
static void reset(struct run *r, bool client_resets)
{
	const char *name = client_resets ? "client->peer" : "peer->client";
	uint8_t tail[RESET_TAIL];
	struct flow f;
	struct link L;
	int a, b, e;

	link_open(r, &L);
	a = client_resets ? L.data : L.peer;
	b = client_resets ? L.peer : L.data;
	flow_init(&f, name, a, b, RESET_BYTES, r->seed ^ 7, END_NONE);
	run_flows(r, &f, 1);
	flow_step(r, &f);
	pat_fill(f.seed, RESET_BYTES, tail, sizeof(tail));
	send_all(r, a, tail, sizeof(tail), name);
	close_reset(a);
	step(r, "%s wrote %d bytes more and closed with SO_LINGER 0 (RST)",
	     client_resets ? "client" : "peer", RESET_TAIL);
	e = expect_reset(r, b, &f, client_resets ? "peer" : "client");
	step(r, "%s got %s after %llu more bytes", client_resets ? "peer" : "client",
	     e == ECONNRESET ? "ECONNRESET" : "EPIPE",
	     (unsigned long long)(f.recvd - RESET_BYTES));
	if (client_resets)
		L.data = -1;
	else
		L.peer = -1;
	link_close(&L);
}

static void sc_reset_client(struct run *r)
{
	reset(r, true);
}

static void sc_reset_peer(struct run *r)
{
	reset(r, false);
}

static void sc_connect_refused(struct run *r)
{
	union addr relayed, nobody;
	int ctrl = allocate(r, &relayed);
	int fd = tcp_socket(r, AF_INET);
	uint32_t id;
	int code;

	/* Bound and not listening: the port stays ours, and a SYN to it is
	 * answered with RST. */
	addr_parse("127.0.0.1:0", 0, &nobody);
	if (bind(fd, &nobody.sa, addr_len(&nobody)))
		fail(r, "bind: %s", strerror(errno));
	local_addr(r, fd, &nobody);
	code = connect_peer(r, ctrl, &nobody, &id);
	if (code != STUN_ERR_CONNECTION_TIMEOUT)
		fail(r, "Connect to a port without a listener: %s %d, expected error 447",
		     code ? "error" : "success", code);
	close(fd);
	close(ctrl);
}

static void sc_connect_twice(struct run *r)
{
	union addr relayed, listen_at;
	int ctrl = allocate(r, &relayed);
	int lfd = tcp_listen(r, &listen_at);
	uint32_t id, id2;
	int code;

	if (connect_peer(r, ctrl, &listen_at, &id))
		fail(r, "first Connect failed");
	code = connect_peer(r, ctrl, &listen_at, &id2);
	if (code != STUN_ERR_CONNECTION_ALREADY_EXISTS)
		fail(r, "second Connect to the same peer: %s %d, expected error 446",
		     code ? "error" : "success", code);
	close(lfd);
	close(ctrl);
}

static void sc_bad_id(struct run *r)
{
	/* Made-up ids aimed at workers 0, 1 and one past any plausible
	 * worker (6 worker bits, then 10 generation bits, 16 slot bits),
	 * then an id that was issued and is already bound. */
	uint32_t ids[] = { 0x00000000u, 0x0000ffffu, 0x043ff123u, 0xfc0000a5u, 0 };
	struct link L;
	int fd;

	r->initiator = 'c';
	link_open(r, &L);
	ids[4] = L.id;
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		int code;

		if (i < 4 && ids[i] == L.id)
			continue;
		code = bind_data(r, ids[i], &fd);
		if (code != STUN_ERR_BAD_REQUEST)
			fail(r, "ConnectionBind with %s CONNECTION-ID 0x%08x: %s %d, expected "
				"error 400", i < 4 ? "a never issued" : "an already bound", ids[i],
			     code ? "error" : "success", code);
	}
	/* The link itself still works. */
	send_all(r, L.data, (const uint8_t *)"ping", 4, "client->peer");
	{
		uint8_t got[4];

		recv_exact(r, L.peer, got, 4, "peer: reading after the bad binds");
		if (memcmp(got, "ping", 4))
			fail(r, "peer: the link carried the wrong bytes");
	}
	step(r, "the bound link still carries bytes");
	link_close(&L);
}

/* Connected to the relayed address, fd must be closed by the server
 * without one byte. */
static void expect_refused(struct run *r, int fd, const char *who)
{
	uint8_t b;
	ssize_t n;

	for (;;) {
		n = recv(fd, &b, 1, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			wait_fd(r, fd, POLLIN, who);
			continue;
		}
		break;
	}
	if (n > 0)
		fail(r, "%s: the server sent bytes instead of closing", who);
	if (n < 0 && errno != ECONNRESET)
		fail(r, "%s: %s, expected EOF or a reset", who, strerror(errno));
	step(r, "%s: closed by the server (%s), no byte", who, n ? "reset" : "EOF");
}

static void sc_no_permission(struct run *r)
{
	union addr relayed;
	struct attempt at;
	int ctrl = allocate(r, &relayed), fd;

	fd = tcp_connect(r, &relayed, "peer: connecting without a permission");
	expect_refused(r, fd, "peer without a permission");
	close(fd);
	if (wait_attempt(r, ctrl, QUIET_MS, &at))
		fail(r, "a ConnectionAttempt (0x%08x) for a peer without a permission", at.id);
	step(r, "no ConnectionAttempt within %d ms", QUIET_MS);

	/* A permission for another IP does not admit this one. */
	create_permission(r, ctrl, "127.0.0.2");
	fd = tcp_connect(r, &relayed, "peer: connecting with a permission for another IP");
	expect_refused(r, fd, "peer with a permission for 127.0.0.2 only");
	close(fd);
	if (wait_attempt(r, ctrl, QUIET_MS, &at))
		fail(r, "a ConnectionAttempt (0x%08x) for a peer without a permission", at.id);
	step(r, "no ConnectionAttempt within %d ms", QUIET_MS);

	/* And the refusals were for the permission: with one, it is let in. */
	create_permission(r, ctrl, "127.0.0.1");
	fd = tcp_connect(r, &relayed, "peer: connecting with a permission");
	if (!wait_attempt(r, ctrl, ms_left(r), &at))
		fail(r, "no ConnectionAttempt once 127.0.0.1 has a permission");
	step(r, "with a permission: ConnectionAttempt 0x%08x", at.id);
	close(fd);
	close(ctrl);
}

static void sc_broken_frame(struct run *r)
{
	uint8_t junk[64], buf[MAX_MSG], b;
	struct req q = { .method = STUN_BINDING };
	int fd = tcp_connect(r, &r->server, "control connection");
	uint8_t txid[STUN_TXID_LEN];
	struct stun_msg m;
	size_t len;
	ssize_t n;

	/* A working connection first: the Binding request is answered. */
	len = build_req(r, &q, txid, buf);
	send_all(r, fd, buf, len, "Binding");
	read_frame(r, fd, buf, &m, "Binding");
	if (m.method != STUN_BINDING || m.cls != STUN_SUCCESS || !m.xor_mapped)
		fail(r, "Binding: no success with XOR-MAPPED-ADDRESS");
	step(r, "Binding on a TCP connection: success");
	memset(junk, 0xff, sizeof(junk));
	send_all(r, fd, junk, sizeof(junk), "garbage");
	for (;;) {
		n = recv(fd, &b, 1, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			wait_fd(r, fd, POLLIN, "waiting for the server to close");
			continue;
		}
		break;
	}
	if (n > 0)
		fail(r, "the server answered %zu bytes of 0xff instead of closing", sizeof(junk));
	if (n < 0 && errno != ECONNRESET)
		fail(r, "after garbage: %s, expected EOF or a reset", strerror(errno));
	step(r, "%zu bytes of 0xff: the server closed the connection (%s)", sizeof(junk),
	     n ? "reset" : "EOF");
	close(fd);
}

static void sc_udp_alloc(struct run *r)
{
	struct req q = { .method = TURN_ALLOCATE, .transport = TRANSPORT_TCP };
	int fd = socket(r->server.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct resp s;
	int code;

	if (fd < 0 || connect(fd, &r->server.sa, addr_len(&r->server)))
		fail(r, "udp socket: %s", strerror(errno));
	code = transact(r, fd, true, &q, &s);
	step(r, "Allocate REQUESTED-TRANSPORT=6 over UDP: %s %d", code ? "error" : "success",
	     code);
	if (code != STUN_ERR_BAD_REQUEST)
		fail(r, "Allocate REQUESTED-TRANSPORT=6 over UDP: %s %d, expected error 400",
		     code ? "error" : "success", code);
	close(fd);
}

struct scenario {
	const char *name;
	void (*run)(struct run *r);
	int initiator;             /* default for scenarios that make a link, else 0 */
};

static const struct scenario scenarios[] = {
	{ "echo", sc_echo, 'c' },
	{ "slow-peer", sc_slow_peer, 'c' },
	{ "slow-client", sc_slow_client, 'p' },
	{ "half-close-client", sc_half_close_client, 'c' },
	{ "half-close-peer", sc_half_close_peer, 'p' },
	{ "reset-client", sc_reset_client, 'p' },
	{ "reset-peer", sc_reset_peer, 'c' },
	{ "connect-refused", sc_connect_refused, 0 },
	{ "connect-twice", sc_connect_twice, 0 },
	{ "bad-id", sc_bad_id, 0 },
	{ "no-permission", sc_no_permission, 0 },
	{ "broken-frame", sc_broken_frame, 0 },
	{ "udp-alloc", sc_udp_alloc, 0 },
};

#define N_SCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

/* ---- command line ------------------------------------------------------- */

static void usage(FILE *f)
{
	fputs("usage: tcp-alloc --server IP:PORT --user NAME:PASS --scenario NAME [options]\n"
	      "Drives a TURN TCP allocation (RFC 6062) through a server on loopback,\n"
	      "as both the client and the peer.\n"
	      "  --server IP:PORT        the server's TCP/UDP listener; loopback only\n"
	      "  --user NAME:PASS        long-term credentials\n"
	      "  --scenario NAME         one of:",
	      f);
	for (size_t i = 0; i < N_SCENARIOS; i++)
		fprintf(f, " %s", scenarios[i].name);
	fputs("\n"
	      "  --bytes N               bytes per direction (echo: 1 MiB; slow-*: 64 MiB)\n"
	      "  --timeout S             the whole run's deadline (default 20)\n"
	      "  --initiator client|peer who opens the link (default: per scenario)\n"
	      "  --rate KIB              slow reader: KiB per 100 ms (default 1024)\n"
	      "  --slack BYTES           slow-*: bytes the server may hold when the writer is\n"
	      "                          done (default tcp_rmem[2] + tcp_wmem[2] + 1 MiB)\n"
	      "  --seed S                pattern seed (default 1)\n",
	      f);
}

static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static int bad_arg(const char *opt, const char *val, const char *expected)
{
	fprintf(stderr, "tcp-alloc: --%s '%s': expected %s\n", opt, val, expected);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "user", required_argument, NULL, 'u' },
		{ "scenario", required_argument, NULL, 'S' },
		{ "bytes", required_argument, NULL, 'b' },
		{ "timeout", required_argument, NULL, 't' },
		{ "initiator", required_argument, NULL, 'i' },
		{ "rate", required_argument, NULL, 'r' },
		{ "slack", required_argument, NULL, 'k' },
		{ "seed", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct run r;
	const struct scenario *sc = NULL;
	const char *server = NULL;
	uint64_t timeout = 20, v;
	char *colon;
	int opt;

	r.seed = 1;
	r.rate = SLOW_RATE_DEFAULT;
	r.scenario = "?";
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			server = optarg;
			break;
		case 'u':
			colon = strchr(optarg, ':');
			if (!colon || colon == optarg || !colon[1])
				return bad_arg("user", optarg, "NAME:PASS");
			*colon = '\0';
			r.user = optarg;
			r.pass = colon + 1;
			break;
		case 'S':
			for (size_t i = 0; i < N_SCENARIOS; i++)
				if (!strcmp(optarg, scenarios[i].name))
					sc = &scenarios[i];
			if (!sc)
				return bad_arg("scenario", optarg, "a scenario name (see --help)");
			r.scenario = sc->name;
			break;
		case 'b':
			if (!parse_u64(optarg, 1, 1ull << 34, &r.bytes))
				return bad_arg("bytes", optarg, "a number from 1 to 2^34");
			break;
		case 't':
			if (!parse_u64(optarg, 1, 3600, &timeout))
				return bad_arg("timeout", optarg, "seconds from 1 to 3600");
			break;
		case 'i':
			if (strcmp(optarg, "client") && strcmp(optarg, "peer"))
				return bad_arg("initiator", optarg, "client or peer");
			r.initiator = optarg[0];
			break;
		case 'r':
			if (!parse_u64(optarg, 1, 1u << 20, &v))
				return bad_arg("rate", optarg, "KiB per 100 ms, 1 to 1048576");
			r.rate = (uint32_t)v * 1024;
			break;
		case 'k':
			if (!parse_u64(optarg, 1, 1ull << 34, &r.slack))
				return bad_arg("slack", optarg, "a number of bytes");
			break;
		case 'e':
			if (!parse_u64(optarg, 0, UINT64_MAX, &r.seed))
				return bad_arg("seed", optarg, "a number");
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || !server || !r.user || !sc) {
		usage(stderr);
		return 2;
	}
	/* The peer side listens on 127.0.0.1 and the relay must reach it:
	 * this tool is for a server on this host. */
	if (addr_parse(server, 0, &r.server) || addr_port(&r.server) == 0 ||
	    addr_classify(&r.server) != ADDR_LOOPBACK || r.server.sa.sa_family != AF_INET)
		return bad_arg("server", server, "a 127.0.0.0/8 IP:PORT");
	if (!r.initiator)
		r.initiator = sc->initiator;

	signal(SIGPIPE, SIG_IGN);
	r.t0 = now_ns();
	r.deadline = r.t0 + timeout * 1000000000ull;
	sc->run(&r);
	step(&r, "OK");
	print_steps(&r);
	return 0;
}

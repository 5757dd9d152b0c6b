/* stun-garbage: sends hostile and malformed STUN/TURN/ChannelData to a
 * server on loopback, for the integration tests' bad-input burst.
 *
 *   stun-garbage --target 127.0.0.1:PORT [--tcp] [--count N] [--seed S]
 *
 * UDP (default): N datagrams, cycling through the kinds in udp_kinds[]
 * (each aimed at one of the server's drop reasons or error paths), paced
 * to at most 20k packets/s. --tcp: N connections, cycling through
 * tcp_kinds[]; each sends its broken stream, half-closes, and waits (at
 * most 2 s) for the server to close. Everything is bounded by N; the
 * only destination is the loopback target given, anything else is
 * refused. Prints one summary line; exits 0 when every packet went out,
 * 1 on a socket error (a server that died makes sends fail), 2 on a bad
 * command line. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto/addr.h"
#include "proto/stun.h"

#define MAX_PACKET 4096
#define OVERSIZED_LEN 3000        /* > the server's 2048-byte receive buffers */
#define MAX_RATE_PPS 20000
#define MAX_COUNT 1000000
#define TCP_CLOSE_WAIT_MS 2000
#define ANSWER_WAIT_MS 200

/* xorshift64*: deterministic per seed, so a failing run can be repeated. */
struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545F4914F6CDD1Dull;
}

static uint32_t rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)(rng_next(r) % n);
}

static void rng_fill(struct rng *r, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rng_next(r);
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- message makers ----------------------------------------------------- */

/* Each maker writes one packet into buf (MAX_PACKET bytes) and returns
 * its length. The comment names the drop reason (metric label) or the
 * answer the server should give. */

static void start(struct stun_builder *b, struct rng *r, uint8_t *buf, size_t cap,
		  uint16_t method, uint8_t cls)
{
	uint8_t txid[STUN_TXID_LEN];

	rng_fill(r, txid, sizeof(txid));
	stun_build(b, buf, cap, method, cls, txid);
}

/* A well-formed Binding request with a SOFTWARE attribute: the base the
 * broken ones are cut from. */
static size_t binding(struct rng *r, uint8_t *buf, bool fingerprint)
{
	struct stun_builder b;

	start(&b, r, buf, MAX_PACKET, STUN_BINDING, STUN_REQUEST);
	stun_put(&b, STUN_ATTR_SOFTWARE, "stun-garbage", 12);
	if (fingerprint)
		stun_put_fingerprint(&b);
	return (size_t)stun_finish(&b);
}

/* stun_short / not_stun_or_channel / channel_*: whatever the bytes say. */
static size_t make_random(struct rng *r, uint8_t *buf)
{
	size_t n = 1 + rng_below(r, 300);

	rng_fill(r, buf, n);
	return n;
}

/* stun_short: the first 1..19 bytes of a header. */
static size_t make_short_header(struct rng *r, uint8_t *buf)
{
	binding(r, buf, false);
	return 1 + rng_below(r, STUN_HEADER_LEN - 1);
}

/* not_stun_or_channel: a STUN-shaped message with the wrong cookie. */
static size_t make_bad_cookie(struct rng *r, uint8_t *buf)
{
	size_t n = binding(r, buf, false);

	buf[4 + rng_below(r, 4)] ^= (uint8_t)(1 + rng_below(r, 255));
	return n;
}

/* stun_length: the length field promises more than the datagram has. */
static size_t make_length_over(struct rng *r, uint8_t *buf)
{
	size_t n = binding(r, buf, false);

	wr16(buf + 2, (uint16_t)(n - STUN_HEADER_LEN + 4 * (1 + rng_below(r, 64))));
	return n;
}

/* stun_length: a length that is not a multiple of 4 (and matches the
 * datagram, so only the alignment is wrong). */
static size_t make_length_unaligned(struct rng *r, uint8_t *buf)
{
	uint16_t len = (uint16_t)(4 * rng_below(r, 16) + 1 + rng_below(r, 3));

	binding(r, buf, false);
	wr16(buf + 2, len);
	memset(buf + STUN_HEADER_LEN, 0, len);
	return STUN_HEADER_LEN + len;
}

/* stun_attribute: the SOFTWARE attribute claims more than is left. */
static size_t make_attr_overrun(struct rng *r, uint8_t *buf)
{
	size_t n = binding(r, buf, false);

	/* 12 bytes of value are there; claim 13 to 212. */
	wr16(buf + STUN_HEADER_LEN + 2, (uint16_t)(13 + rng_below(r, 200)));
	return n;
}

/* stun_fingerprint: one bit of the CRC flipped. */
static size_t make_bad_fingerprint(struct rng *r, uint8_t *buf)
{
	size_t n = binding(r, buf, true);

	buf[n - 1 - rng_below(r, 4)] ^= (uint8_t)(1u << rng_below(r, 8));
	return n;
}

/* An Allocate with USERNAME, REALM, a made-up NONCE and a
 * MESSAGE-INTEGRITY under a random key: answered 438 (the nonce is not
 * the server's) or 401, never an allocation. */
static size_t make_bad_integrity(struct rng *r, uint8_t *buf)
{
	static const char hex[] = "0123456789abcdef";
	struct stun_builder b;
	uint8_t key[16];
	char nonce[32];

	for (size_t i = 0; i < sizeof(nonce); i++)
		nonce[i] = hex[rng_below(r, 16)];
	rng_fill(r, key, sizeof(key));
	start(&b, r, buf, MAX_PACKET, TURN_ALLOCATE, STUN_REQUEST);
	stun_put_u32(&b, STUN_ATTR_REQUESTED_TRANSPORT, 17u << 24);
	stun_put(&b, STUN_ATTR_USERNAME, "garbage", 7);
	stun_put(&b, STUN_ATTR_REALM, "parley", 6);
	stun_put(&b, STUN_ATTR_NONCE, nonce, sizeof(nonce));
	stun_put_integrity(&b, key, sizeof(key));
	stun_put_fingerprint(&b);
	return (size_t)stun_finish(&b);
}

static uint16_t some_channel(struct rng *r)
{
	return (uint16_t)(TURN_CHANNEL_MIN + rng_below(r, 0x1000));
}

/* no_allocation: well-formed ChannelData from a client without one. */
static size_t make_channel_no_alloc(struct rng *r, uint8_t *buf)
{
	uint16_t len = (uint16_t)(4 + rng_below(r, 200));

	turn_channel_header(buf, some_channel(r), len);
	rng_fill(r, buf + TURN_CHANNEL_HEADER_LEN, len);
	return TURN_CHANNEL_HEADER_LEN + (size_t)len;
}

/* channel_data_malformed: the length field exceeds the datagram. */
static size_t make_channel_overlong(struct rng *r, uint8_t *buf)
{
	uint16_t have = (uint16_t)rng_below(r, 100);

	turn_channel_header(buf, some_channel(r), (uint16_t)(have + 1 + rng_below(r, 1000)));
	rng_fill(r, buf + TURN_CHANNEL_HEADER_LEN, have);
	return TURN_CHANNEL_HEADER_LEN + (size_t)have;
}

/* truncated: a datagram bigger than the receive buffer. Its start is a
 * consistent STUN header, so only the size can be the reason to drop. */
static size_t make_oversized(struct rng *r, uint8_t *buf)
{
	struct stun_builder b;
	uint8_t pad[OVERSIZED_LEN];

	memset(pad, 0, sizeof(pad));
	start(&b, r, buf, MAX_PACKET, STUN_BINDING, STUN_REQUEST);
	stun_put(&b, STUN_ATTR_PADDING, pad, OVERSIZED_LEN - STUN_HEADER_LEN - 4);
	return (size_t)stun_finish(&b);
}

/* unexpected_message: a success response, which a server never asked for. */
static size_t make_success_response(struct rng *r, uint8_t *buf)
{
	struct stun_builder b;
	union addr a;

	addr_parse("127.0.0.1:1", 0, &a);
	start(&b, r, buf, MAX_PACKET, STUN_BINDING, STUN_SUCCESS);
	stun_put_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, &a, true);
	return (size_t)stun_finish(&b);
}

/* no_allocation: a Send indication from a client without an allocation. */
static size_t make_send_no_alloc(struct rng *r, uint8_t *buf)
{
	struct stun_builder b;
	uint8_t data[64];
	union addr peer;

	addr_parse("127.0.0.1:9", 0, &peer);
	rng_fill(r, data, sizeof(data));
	start(&b, r, buf, MAX_PACKET, TURN_SEND, STUN_INDICATION);
	stun_put_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, &peer, true);
	stun_put(&b, STUN_ATTR_DATA, data, 1 + rng_below(r, sizeof(data)));
	return (size_t)stun_finish(&b);
}

struct kind {
	const char *name;
	size_t (*make)(struct rng *r, uint8_t *buf);
};

static const struct kind udp_kinds[] = {
	{ "random", make_random },
	{ "short_header", make_short_header },
	{ "bad_cookie", make_bad_cookie },
	{ "length_over", make_length_over },
	{ "length_unaligned", make_length_unaligned },
	{ "attr_overrun", make_attr_overrun },
	{ "bad_fingerprint", make_bad_fingerprint },
	{ "bad_integrity", make_bad_integrity },
	{ "channel_no_alloc", make_channel_no_alloc },
	{ "channel_overlong", make_channel_overlong },
	{ "oversized", make_oversized },
	{ "success_response", make_success_response },
	{ "send_no_alloc", make_send_no_alloc },
};

#define N_UDP_KINDS (sizeof(udp_kinds) / sizeof(udp_kinds[0]))

/* ---- TCP streams -------------------------------------------------------- */

/* Each writes a whole stream into buf and returns its length; *split is
 * where to pause between two writes (0 = one write), so the server also
 * sees a frame arrive in pieces. The server should close every one of
 * them: tcp_framing for all but partial_frame, which ends at our EOF. */

/* Junk whose first byte has the top bit set: neither STUN nor ChannelData. */
static size_t put_junk(struct rng *r, uint8_t *p)
{
	size_t n = 16 + rng_below(r, 200);

	rng_fill(r, p, n);
	p[0] |= 0x80;
	return n;
}

static size_t tcp_junk(struct rng *r, uint8_t *buf, size_t *split)
{
	*split = 0;
	return put_junk(r, buf);
}

static size_t tcp_bad_cookie(struct rng *r, uint8_t *buf, size_t *split)
{
	*split = 6;
	return make_bad_cookie(r, buf);
}

static size_t tcp_length_unaligned(struct rng *r, uint8_t *buf, size_t *split)
{
	*split = 0;
	return make_length_unaligned(r, buf);
}

/* A frame longer than the server's per-connection receive area. */
static size_t tcp_huge_frame(struct rng *r, uint8_t *buf, size_t *split)
{
	size_t n = binding(r, buf, false);

	*split = 0;
	wr16(buf + 2, 0xfffc);
	return n;
}

/* A Binding request the server answers, then junk. */
static size_t tcp_valid_then_junk(struct rng *r, uint8_t *buf, size_t *split)
{
	size_t n = binding(r, buf, true);

	*split = 3;
	return n + put_junk(r, buf + n);
}

/* ChannelData without an allocation (no_allocation), then junk. */
static size_t tcp_channel_then_junk(struct rng *r, uint8_t *buf, size_t *split)
{
	uint16_t len = (uint16_t)(1 + rng_below(r, 100));
	size_t n = TURN_CHANNEL_HEADER_LEN + (((size_t)len + 3) & ~(size_t)3);

	turn_channel_header(buf, some_channel(r), len);
	memset(buf + TURN_CHANNEL_HEADER_LEN, 0xab, n - TURN_CHANNEL_HEADER_LEN);
	*split = 2;
	return n + put_junk(r, buf + n);
}

/* A header promising 100 bytes, 20 of them sent, then EOF. */
static size_t tcp_partial_frame(struct rng *r, uint8_t *buf, size_t *split)
{
	binding(r, buf, false);
	wr16(buf + 2, 100);
	memset(buf + STUN_HEADER_LEN, 0, 20);
	*split = 0;
	return STUN_HEADER_LEN + 20;
}

struct tcp_kind {
	const char *name;
	size_t (*make)(struct rng *r, uint8_t *buf, size_t *split);
};

static const struct tcp_kind tcp_kinds[] = {
	{ "junk", tcp_junk },
	{ "bad_cookie", tcp_bad_cookie },
	{ "length_unaligned", tcp_length_unaligned },
	{ "huge_frame", tcp_huge_frame },
	{ "valid_then_junk", tcp_valid_then_junk },
	{ "channel_then_junk", tcp_channel_then_junk },
	{ "partial_frame", tcp_partial_frame },
};

#define N_TCP_KINDS (sizeof(tcp_kinds) / sizeof(tcp_kinds[0]))

/* ---- sending ------------------------------------------------------------ */

struct counts {
	uint64_t sent[N_UDP_KINDS > N_TCP_KINDS ? N_UDP_KINDS : N_TCP_KINDS];
	uint64_t answers;        /* STUN messages the server sent back */
	uint64_t answers_error;  /* of which error responses */
	uint64_t closed;         /* TCP: connections the server closed */
	uint64_t kept_open;      /* TCP: still open after TCP_CLOSE_WAIT_MS */
	uint64_t errors;         /* socket calls that failed */
};

/* Reads whatever answers are waiting (wait_ms > 0: until quiet that
 * long) and counts them. */
static void drain_answers(int fd, int wait_ms, struct counts *c)
{
	uint8_t buf[MAX_PACKET];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	for (;;) {
		struct stun_msg m;
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0) {
			if ((errno != EAGAIN && errno != EWOULDBLOCK) || wait_ms <= 0 ||
			    poll(&pfd, 1, wait_ms) <= 0)
				return;
			continue;
		}
		if (stun_parse(buf, (size_t)n, &m) == STUN_OK) {
			c->answers++;
			if (m.cls == STUN_ERROR)
				c->answers_error++;
		}
	}
}

/* Sleeps so that packet i is not sent before start + i / MAX_RATE_PPS. */
static void pace(uint64_t start_ns, uint64_t i)
{
	uint64_t due = start_ns + i * (1000000000ull / MAX_RATE_PPS);
	uint64_t now = now_ns();

	if (now < due) {
		struct timespec ts = { .tv_sec = (time_t)((due - now) / 1000000000ull),
				       .tv_nsec = (long)((due - now) % 1000000000ull) };

		nanosleep(&ts, NULL);
	}
}

static int run_udp(const union addr *target, uint64_t count, struct rng *r, struct counts *c)
{
	static uint8_t buf[MAX_PACKET];
	int fd = socket(target->sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint64_t t0 = now_ns();

	if (fd < 0 || connect(fd, &target->sa, addr_len(target))) {
		perror("stun-garbage: udp socket");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (uint64_t i = 0; i < count; i++) {
		size_t k = i % N_UDP_KINDS;
		size_t n = udp_kinds[k].make(r, buf);

		pace(t0, i);
		if (send(fd, buf, n, 0) != (ssize_t)n) {
			/* ECONNREFUSED here means the server is gone. */
			if (c->errors++ == 0)
				fprintf(stderr, "stun-garbage: send (%s): %s\n", udp_kinds[k].name,
					strerror(errno));
			continue;
		}
		c->sent[k]++;
		if (i % 64 == 63)
			drain_answers(fd, 0, c);
	}
	drain_answers(fd, ANSWER_WAIT_MS, c);
	close(fd);
	return 0;
}

static bool write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Waits for the server to close (EOF or reset), counting STUN answers on
 * the way; false when it kept the connection open. */
static bool wait_closed(int fd, struct counts *c)
{
	uint8_t buf[MAX_PACKET];
	uint64_t deadline = now_ns() + TCP_CLOSE_WAIT_MS * 1000000ull;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	for (;;) {
		uint64_t now = now_ns();
		ssize_t n;

		if (now >= deadline || poll(&pfd, 1, (int)((deadline - now) / 1000000ull) + 1) <= 0)
			return false;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			return true;
		/* Answers may share a read; the first one is enough to know
		 * the server spoke before closing. */
		if (n >= STUN_HEADER_LEN && stun_is_stun(buf, (size_t)n))
			c->answers++;
	}
}

static int run_tcp(const union addr *target, uint64_t count, struct rng *r, struct counts *c)
{
	static uint8_t buf[MAX_PACKET];

	for (uint64_t i = 0; i < count; i++) {
		size_t k = i % N_TCP_KINDS, split;
		size_t n = tcp_kinds[k].make(r, buf, &split);
		int fd = socket(target->sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool ok;

		if (fd < 0 || connect(fd, &target->sa, addr_len(target))) {
			perror("stun-garbage: tcp connect");
			if (fd >= 0)
				close(fd);
			return -1;
		}
		if (split) {
			/* The pause lets the server read the first piece alone. */
			struct timespec ms = { .tv_nsec = 2000000 };

			ok = write_all(fd, buf, split);
			nanosleep(&ms, NULL);
			ok = ok && write_all(fd, buf + split, n - split);
		} else {
			ok = write_all(fd, buf, n);
		}
		/* The server may close on the first bad byte and reset the
		 * rest: a failed write after some were sent is not our error. */
		if (!ok && errno != EPIPE && errno != ECONNRESET) {
			if (c->errors++ == 0)
				fprintf(stderr, "stun-garbage: tcp send (%s): %s\n",
					tcp_kinds[k].name, strerror(errno));
		} else {
			c->sent[k]++;
		}
		shutdown(fd, SHUT_WR);
		if (wait_closed(fd, c))
			c->closed++;
		else
			c->kept_open++;
		close(fd);
	}
	return 0;
}

/* ---- command line ------------------------------------------------------- */

static void usage(FILE *f)
{
	fputs("usage: stun-garbage --target IP:PORT [--tcp] [--count N] [--seed S]\n"
	      "Sends malformed STUN/TURN/ChannelData to a server on loopback.\n"
	      "  --target IP:PORT  the server; loopback only (127.0.0.0/8, ::1)\n"
	      "  --tcp             N TCP connections with broken framing instead of N datagrams\n"
	      "  --count N         datagrams or connections (default 1000, at most 1000000)\n"
	      "  --seed S          random seed (default 1)\n",
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "target", required_argument, NULL, 't' },
		{ "tcp", no_argument, NULL, 'T' },
		{ "count", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *target_s = NULL;
	uint64_t count = 1000, seed = 1;
	struct counts c;
	union addr target;
	bool tcp = false;
	struct rng r;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			target_s = optarg;
			break;
		case 'T':
			tcp = true;
			break;
		case 'n':
			if (!parse_u64(optarg, 1, MAX_COUNT, &count)) {
				fprintf(stderr, "stun-garbage: --count '%s': expected 1 to %d\n",
					optarg, MAX_COUNT);
				return 2;
			}
			break;
		case 's':
			if (!parse_u64(optarg, 0, UINT64_MAX, &seed)) {
				fprintf(stderr, "stun-garbage: --seed '%s': expected a number\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || !target_s) {
		usage(stderr);
		return 2;
	}
	/* This tool exists to abuse a server; it must never be pointed
	 * anywhere but at one on this host. */
	if (addr_parse(target_s, 0, &target) || addr_port(&target) == 0 ||
	    addr_classify(&target) != ADDR_LOOPBACK) {
		fprintf(stderr, "stun-garbage: --target '%s': expected a loopback IP:PORT "
				"(127.0.0.0/8 or [::1])\n", target_s);
		return 2;
	}

	memset(&c, 0, sizeof(c));
	/* xorshift must not start at 0. */
	r.s = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
	if (!r.s)
		r.s = 1;
	ret = tcp ? run_tcp(&target, count, &r, &c) : run_udp(&target, count, &r, &c);
	if (ret)
		return 1;

	printf("stun-garbage: %s %s:", tcp ? "tcp" : "udp", target_s);
	for (size_t k = 0; k < (tcp ? N_TCP_KINDS : N_UDP_KINDS); k++)
		printf(" %s=%llu", tcp ? tcp_kinds[k].name : udp_kinds[k].name,
		       (unsigned long long)c.sent[k]);
	if (tcp)
		printf(" closed_by_server=%llu kept_open=%llu", (unsigned long long)c.closed,
		       (unsigned long long)c.kept_open);
	printf(" answers=%llu errors_answered=%llu send_errors=%llu\n",
	       (unsigned long long)c.answers, (unsigned long long)c.answers_error,
	       (unsigned long long)c.errors);
	return c.errors ? 1 : 0;
}

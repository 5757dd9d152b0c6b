#include "src/sn/config.h"
#include "src/sn/tcplink.h"
#include "src/common/flags.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PARLEY_VERSION "0.1.0"

enum {
	OPT_LISTEN = 256, OPT_WORKERS, OPT_REALM, OPT_USER, OPT_AUTH_SECRET,
	OPT_RELAY_PORTS, OPT_RELAY_IP, OPT_ALLOW_LOOPBACK, OPT_ALLOW_PEER, OPT_DENY_PEER,
	OPT_METRICS, OPT_LOG_LEVEL, OPT_MAX_ALLOCS, OPT_MAX_ALLOCS_USER, OPT_MAX_LIFETIME,
	OPT_NONCE_TTL, OPT_AUTH_FAIL_RATE, OPT_TCP_IDLE, OPT_MAX_TCP, OPT_BUFFERS,
	OPT_SOCKET_BUFFER, OPT_MAX_QUEUE_DELAY, OPT_MAX_TCP_PEERS, OPT_MAX_PEER_CONNS, OPT_TCP_FORWARD, OPT_OVERLAY, OPT_PEER,
	OPT_OVERLAY_PERIOD,
	 OPT_NO_TCP, OPT_SOFTWARE, OPT_HELP, OPT_VERSION,
};

static const struct option options[] = {
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "workers", required_argument, NULL, OPT_WORKERS },
	{ "realm", required_argument, NULL, OPT_REALM },
	{ "user", required_argument, NULL, OPT_USER },
	{ "auth-secret", required_argument, NULL, OPT_AUTH_SECRET },
	{ "relay-ports", required_argument, NULL, OPT_RELAY_PORTS },
	{ "relay-ip", required_argument, NULL, OPT_RELAY_IP },
	{ "allow-loopback-peers", no_argument, NULL, OPT_ALLOW_LOOPBACK },
	{ "allow-peer", required_argument, NULL, OPT_ALLOW_PEER },
	{ "deny-peer", required_argument, NULL, OPT_DENY_PEER },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "max-allocations", required_argument, NULL, OPT_MAX_ALLOCS },
	{ "max-allocations-per-user", required_argument, NULL, OPT_MAX_ALLOCS_USER },
	{ "max-lifetime", required_argument, NULL, OPT_MAX_LIFETIME },
	{ "nonce-ttl", required_argument, NULL, OPT_NONCE_TTL },
	{ "auth-fail-rate", required_argument, NULL, OPT_AUTH_FAIL_RATE },
	{ "tcp-idle", required_argument, NULL, OPT_TCP_IDLE },
	{ "max-tcp", required_argument, NULL, OPT_MAX_TCP },
	{ "max-tcp-peers", required_argument, NULL, OPT_MAX_TCP_PEERS },
	{ "max-peer-connections", required_argument, NULL, OPT_MAX_PEER_CONNS },
	{ "tcp-forward", required_argument, NULL, OPT_TCP_FORWARD },
	{ "overlay", required_argument, NULL, OPT_OVERLAY },
	{ "peer", required_argument, NULL, OPT_PEER },
	{ "overlay-period", required_argument, NULL, OPT_OVERLAY_PERIOD },
	{ "buffers", required_argument, NULL, OPT_BUFFERS },
	{ "socket-buffer", required_argument, NULL, OPT_SOCKET_BUFFER },
	{ "max-queue-delay", required_argument, NULL, OPT_MAX_QUEUE_DELAY },
	{ "no-tcp", no_argument, NULL, OPT_NO_TCP },
	{ "software", required_argument, NULL, OPT_SOFTWARE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

void config_usage(FILE *f)
{
	fputs("usage: parley-sn [options]\n"
	      "STUN/TURN relay (RFC 8489, RFC 8656) for the parley network.\n\n"
	      "  --listen ADDR:PORT          UDP and TCP listener (default 0.0.0.0:3478); repeatable\n"
	      "  --workers N                 worker threads, one io_uring each (default: online CPUs)\n"
	      "  --realm R                   authentication realm (default parley)\n"
	      "  --user NAME:PASS            a static long-term credential; repeatable\n"
	      "  --auth-secret S             accept time-limited credentials: user EXPIRY:NAME,\n"
	      "                              password base64(HMAC-SHA1(S, user))\n"
	      "  --relay-ports LO-HI         relay port range (default 49152-65535)\n"
	      "  --relay-ip ADDR             relayed address to use (per family; default: the\n"
	      "                              address the client reached)\n"
	      "  --allow-loopback-peers      allow relaying to 127.0.0.0/8 and ::1 (tests only)\n"
	      "  --allow-peer CIDR           allow peers in CIDR even if private; repeatable\n"
	      "  --deny-peer CIDR            refuse peers in CIDR; repeatable; wins over allow\n"
	      "  --metrics ADDR:PORT         serve Prometheus metrics at http://ADDR:PORT/metrics\n"
	      "  --log-level L               error, warn, info (default) or debug\n"
	      "  --max-allocations N         total allocations (default 65536)\n"
	      "  --max-allocations-per-user N  (default 1024; 0 = unlimited)\n"
	      "  --max-lifetime S            longest allocation lifetime granted (default 3600)\n"
	      "  --nonce-ttl S               nonce validity (default 600)\n"
	      "  --auth-fail-rate N          failed authentications per second per source\n"
	      "                              before it is ignored (default 10, burst 4x)\n"
	      "  --tcp-idle S                close TCP clients idle this long without an\n"
	      "                              allocation (default 60)\n"
	      "  --max-tcp N                 TCP client connections (default 16384)\n"
"  --max-tcp-peers N           peer connections of TCP allocations (RFC 6062),\n"
	      "                              all users (default 16384)\n"
	      "  --max-peer-connections N    peer connections per TCP allocation (default 32;\n"
	      "                              with --max-allocations-per-user, the per-user bound)\n"
	      "  --tcp-forward E             how TCP allocations move bytes: copy (io_uring\n"
	      "                              receive and send through 16 KiB; default), splice\n"
	      "                              (through a pipe, kernel to kernel) or uring-splice\n"
	      "                              (the same in io_uring's io-wq)\n"
	      "  --overlay ADDR:PORT         join the supernode overlay on this UDP address\n"
	      "  --peer ADDR:PORT            a supernode's overlay address to join through;\n"
	      "                              repeatable (none: this one starts an overlay)\n"
	      "  --overlay-period MS         membership protocol period (default 500)\n"
	      "  --buffers N                 receive buffers per worker, power of two (default 4096)\n"
	      "  --socket-buffer BYTES       SO_RCVBUF/SO_SNDBUF of UDP sockets and of TCP\n"
	      "                              allocations' connections (default 1 MiB)\n"
	      "  --max-queue-delay MS        drop datagrams that waited longer than this in\n"
	      "                              the server's queues (default 50; 0 = never)\n"
	      "  --no-tcp                    do not listen on TCP\n"
	      "  --software TEXT             SOFTWARE attribute in responses (default none)\n"
	      "  --help, --version\n",
	      f);
}

static int bad(const char *flag, const char *value, const char *expected)
{
	fprintf(stderr, "parley-sn: --%s '%s': expected %s\n", flag, value ? value : "", expected);
	return -EINVAL;
}

static void defaults(struct sn_config *c)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	memset(c, 0, sizeof(*c));
	c->workers = n > 0 ? (n < TCPLINK_MAX_WORKERS ? (int)n : TCPLINK_MAX_WORKERS) : 1;
	c->realm = "parley";
	c->relay_lo = 49152;
	c->relay_hi = 65535;
	c->log_level = LOG_INFO;
	c->max_allocs = 65536;
	c->max_allocs_per_user = 1024;
	c->max_lifetime_s = 3600;
	c->default_lifetime_s = 600;   /* RFC 8656 §3.2 default */
	c->nonce_ttl_s = 600;
	c->auth_fail_rate = 10;
	c->auth_fail_burst = 40;
	c->tcp_idle_s = 60;
	c->max_tcp = 16384;
	c->max_tcp_peers = 16384;
	c->max_peer_conns = 32;
	/* Copy, not splice, by measurement (bench/tcp-vs-coturn.sh): for
	 * media-sized frames the two splice(2) calls per transfer cost more
	 * than io_uring's receive and send through a small area. */
	c->tcp_engine = TCPLINK_COPY;
	/* Queues absorb bursts but, past saturation, every queued packet is
	 * latency: with 8192 buffers and 4 MiB socket buffers an overloaded
	 * worker delayed media by 160-280 ms (p50), with these by ~60 ms,
	 * and neither lost a packet below saturation (bench/, README). */
	c->buffers = 4096;
	c->socket_buffer = 1 << 20;
	c->max_queue_delay_ms = 50;
}

int config_parse(struct sn_config *c, int argc, char **argv)
{
	uint32_t v;
	int opt;

	defaults(c);
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":", options, NULL)) != -1) {
		switch (opt) {
		case OPT_LISTEN:
			if (c->n_listen == CONFIG_MAX_LISTEN)
				return bad("listen", optarg, "at most 8 listeners");
			if (addr_parse(optarg, 3478, &c->listen[c->n_listen]))
				return bad("listen", optarg, "IP:PORT, e.g. 0.0.0.0:3478 or [::]:3478");
			c->n_listen++;
			break;
		case OPT_WORKERS:
			/* A CONNECTION-ID names its worker in 6 bits. */
			if (flags_parse_u32(optarg, 1, TCPLINK_MAX_WORKERS, &v))
				return bad("workers", optarg, "a number of threads from 1 to 64");
			c->workers = (int)v;
			break;
		case OPT_REALM:
			if (!*optarg || strlen(optarg) > 127)
				return bad("realm", optarg, "a non-empty realm of at most 127 bytes");
			c->realm = optarg;
			break;
		case OPT_USER:
			if (c->n_users == CONFIG_MAX_USERS)
				return bad("user", optarg, "at most 1024 static users");
			if (!strchr(optarg, ':') || optarg[0] == ':' || strchr(optarg, ':')[1] == '\0')
				return bad("user", optarg, "NAME:PASSWORD");
			c->users[c->n_users++] = optarg;
			break;
		case OPT_AUTH_SECRET:
			if (!*optarg)
				return bad("auth-secret", optarg, "a non-empty secret");
			c->auth_secret = optarg;
			break;
		case OPT_RELAY_PORTS: {
			uint32_t lo, hi;
			char tmp[32], *dash;

			if (strlen(optarg) >= sizeof(tmp))
				return bad("relay-ports", optarg, "LO-HI, e.g. 49152-65535");
			strcpy(tmp, optarg);
			dash = strchr(tmp, '-');
			if (!dash)
				return bad("relay-ports", optarg, "LO-HI, e.g. 49152-65535");
			*dash = '\0';
			if (flags_parse_u32(tmp, 1024, 65535, &lo) || flags_parse_u32(dash + 1, 1024, 65535, &hi) || lo > hi)
				return bad("relay-ports", optarg, "LO-HI with 1024 <= LO <= HI <= 65535");
			c->relay_lo = (uint16_t)lo;
			c->relay_hi = (uint16_t)hi;
			break;
		}
		case OPT_RELAY_IP: {
			union addr a;

			if (addr_parse(optarg, 0, &a) || addr_port(&a) != 0 || addr_is_any(&a))
				return bad("relay-ip", optarg, "a specific IP address without port");
			c->relay_ip[a.sa.sa_family == AF_INET6] = a;
			break;
		}
		case OPT_ALLOW_LOOPBACK:
			c->allow_loopback_peers = true;
			break;
		case OPT_ALLOW_PEER:
		case OPT_DENY_PEER: {
			struct addr_prefix p;
			bool allow = opt == OPT_ALLOW_PEER;
			int *n = allow ? &c->n_allow_peer : &c->n_deny_peer;

			if (addr_prefix_parse(optarg, &p))
				return bad(allow ? "allow-peer" : "deny-peer", optarg,
					   "a CIDR prefix, e.g. 10.0.0.0/8 or fd00::/8");
			if (*n == CONFIG_MAX_PREFIXES)
				return bad(allow ? "allow-peer" : "deny-peer", optarg, "at most 64 prefixes");
			(allow ? c->allow_peer : c->deny_peer)[(*n)++] = optarg;
			break;
		}
		case OPT_METRICS:
			if (addr_parse(optarg, 0, &c->metrics) || addr_port(&c->metrics) == 0)
				return bad("metrics", optarg, "IP:PORT, e.g. 127.0.0.1:9641");
			break;
		case OPT_LOG_LEVEL:
			if (log_level_parse(optarg, &c->log_level))
				return bad("log-level", optarg, "error, warn, info or debug");
			break;
		case OPT_MAX_ALLOCS:
			if (flags_parse_u32(optarg, 1, 4000000, &c->max_allocs))
				return bad("max-allocations", optarg, "a number from 1 to 4000000");
			break;
		case OPT_MAX_ALLOCS_USER:
			if (flags_parse_u32(optarg, 0, 4000000, &c->max_allocs_per_user))
				return bad("max-allocations-per-user", optarg, "a number (0 = unlimited)");
			break;
		case OPT_MAX_LIFETIME:
			if (flags_parse_u32(optarg, 60, 86400, &c->max_lifetime_s))
				return bad("max-lifetime", optarg, "seconds from 60 to 86400");
			break;
		case OPT_NONCE_TTL:
			if (flags_parse_u32(optarg, 10, 86400, &c->nonce_ttl_s))
				return bad("nonce-ttl", optarg, "seconds from 10 to 86400");
			break;
		case OPT_AUTH_FAIL_RATE:
			if (flags_parse_u32(optarg, 1, 1000000, &c->auth_fail_rate))
				return bad("auth-fail-rate", optarg, "failures per second, at least 1");
			c->auth_fail_burst = c->auth_fail_rate * 4;
			break;
		case OPT_TCP_IDLE:
			if (flags_parse_u32(optarg, 1, 86400, &c->tcp_idle_s))
				return bad("tcp-idle", optarg, "seconds from 1 to 86400");
			break;
		case OPT_MAX_TCP:
			if (flags_parse_u32(optarg, 1, 1000000, &c->max_tcp))
				return bad("max-tcp", optarg, "a number from 1 to 1000000");
			break;
		case OPT_MAX_TCP_PEERS:
			if (flags_parse_u32(optarg, 1, 1000000, &c->max_tcp_peers))
				return bad("max-tcp-peers", optarg, "a number from 1 to 1000000");
			break;
		case OPT_MAX_PEER_CONNS:
			if (flags_parse_u32(optarg, 1, 65536, &c->max_peer_conns))
				return bad("max-peer-connections", optarg, "a number from 1 to 65536");
			break;
		case OPT_TCP_FORWARD:
			if (!strcmp(optarg, "splice"))
				c->tcp_engine = TCPLINK_SPLICE;
			else if (!strcmp(optarg, "uring-splice"))
				c->tcp_engine = TCPLINK_URING_SPLICE;
			else if (!strcmp(optarg, "copy"))
				c->tcp_engine = TCPLINK_COPY;
			else
				return bad("tcp-forward", optarg, "splice, uring-splice or copy");
			break;
		case OPT_OVERLAY:
			if (addr_parse(optarg, 0, &c->overlay) || !addr_port(&c->overlay) ||
			    addr_is_any(&c->overlay))
				return bad("overlay", optarg, "IP:PORT with a specific IP (others reach us there)");
			break;
		case OPT_PEER:
			if (c->n_peers == CONFIG_MAX_PEERS)
				return bad("peer", optarg, "at most 16 seeds");
			if (addr_parse(optarg, 0, &c->peers[c->n_peers]) || !addr_port(&c->peers[c->n_peers]))
				return bad("peer", optarg, "IP:PORT of another supernode's --overlay");
			c->n_peers++;
			break;
		case OPT_OVERLAY_PERIOD:
			if (flags_parse_u32(optarg, 50, 60000, &c->overlay_period_ms))
				return bad("overlay-period", optarg, "milliseconds from 50 to 60000");
			break;
		case OPT_BUFFERS:
			if (flags_parse_u32(optarg, 64, 32768, &c->buffers) || (c->buffers & (c->buffers - 1)))
				return bad("buffers", optarg, "a power of two from 64 to 32768");
			break;
		case OPT_SOCKET_BUFFER:
			if (flags_parse_u32(optarg, 0, 1u << 30, &v))
				return bad("socket-buffer", optarg, "bytes (0 = kernel default)");
			c->socket_buffer = (int)v;
			break;
		case OPT_MAX_QUEUE_DELAY:
			if (flags_parse_u32(optarg, 0, 60000, &c->max_queue_delay_ms))
				return bad("max-queue-delay", optarg, "milliseconds from 0 to 60000");
			break;
		case OPT_NO_TCP:
			c->no_tcp = true;
			break;
		case OPT_SOFTWARE:
			if (strlen(optarg) > 127)
				return bad("software", optarg, "at most 127 bytes");
			c->software = optarg;
			break;
		case OPT_HELP:
			config_usage(stdout);
			return 1;
		case OPT_VERSION:
			printf("parley-sn %s\n", PARLEY_VERSION);
			return 1;
		case ':':
			fprintf(stderr, "parley-sn: %s: needs a value (see --help)\n", argv[optind - 1]);
			return -EINVAL;
		default:
			fprintf(stderr, "parley-sn: unknown option '%s' (see --help)\n", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "parley-sn: unexpected argument '%s' (see --help)\n", argv[optind]);
		return -EINVAL;
	}
	if (c->n_listen == 0) {
		addr_parse("0.0.0.0:3478", 0, &c->listen[0]);
		c->n_listen = 1;
	}
	if (c->n_peers && c->overlay.sa.sa_family == AF_UNSPEC) {
		fprintf(stderr, "parley-sn: --peer needs --overlay ADDR:PORT (our own overlay address)\n");
		return -EINVAL;
	}
	if (c->n_users == 0 && !c->auth_secret) {
		fprintf(stderr, "parley-sn: no credentials: give --user NAME:PASS or --auth-secret S "
				"(TURN without authentication would be an open relay)\n");
		return -EINVAL;
	}
	return 0;
}

/* config: parley-sn's command line. Every flag is checked here, at
 * start-up, so a mistake is named in one line before anything runs. */
#ifndef PARLEY_SN_CONFIG_H
#define PARLEY_SN_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "proto/addr.h"
#include "src/common/log.h"

#define CONFIG_MAX_LISTEN 8
#define CONFIG_MAX_USERS 1024
#define CONFIG_MAX_PREFIXES 64
#define CONFIG_MAX_PEERS 16

struct sn_config {
	union addr listen[CONFIG_MAX_LISTEN]; /* UDP+TCP listeners */
	int n_listen;
	int workers;                 /* worker threads (default: online CPUs) */
	const char *realm;
	const char *users[CONFIG_MAX_USERS]; /* "NAME:PASS" as given (argv) */
	int n_users;
	const char *auth_secret;
	uint16_t relay_lo, relay_hi; /* relay port range */
	union addr relay_ip[2];      /* --relay-ip: one per family, AF_UNSPEC = the address the client reached */
	bool allow_loopback_peers;
	const char *allow_peer[CONFIG_MAX_PREFIXES];
	int n_allow_peer;
	const char *deny_peer[CONFIG_MAX_PREFIXES];
	int n_deny_peer;
	union addr metrics;          /* AF_UNSPEC = no metrics endpoint */
	enum log_level log_level;
	uint32_t max_allocs;         /* total allocations (all workers) */
	uint32_t max_allocs_per_user;
	uint32_t max_lifetime_s;     /* cap on requested LIFETIME */
	uint32_t default_lifetime_s; /* when LIFETIME is absent */
	uint32_t nonce_ttl_s;
	uint32_t auth_fail_rate;     /* failed authentications per second per source */
	uint32_t auth_fail_burst;
	uint32_t tcp_idle_s;         /* a TCP client with no allocation and no traffic is closed */
	uint32_t max_tcp;            /* total TCP client connections */
	uint32_t max_tcp_peers;      /* total RFC 6062 peer connections */
	uint32_t max_peer_conns;     /* peer connections per TCP allocation */
	int tcp_engine;              /* enum tcplink_engine: splice or copy */
	uint32_t buffers;            /* receive buffers per worker (power of two) */
	uint32_t max_queue_delay_ms; /* drop datagrams that waited longer; 0 = off */
	int socket_buffer;           /* SO_RCVBUF/SO_SNDBUF bytes, 0 = kernel default */
	bool no_tcp;                 /* do not listen on TCP */
	const char *software;        /* SOFTWARE attribute value, NULL = none */
	union addr overlay;          /* --overlay: UDP address among supernodes, AF_UNSPEC = none */
	union addr peers[CONFIG_MAX_PEERS]; /* --peer: supernodes to join through */
	int n_peers;
	uint32_t overlay_period_ms;  /* membership protocol period (0: default) */
};

/* Parses argv into cfg (pointers into argv are kept). Returns 0; 1 when
 * --help or --version was printed (exit 0); -EINVAL after printing one
 * line naming the bad flag and what was expected (exit 2). */
int config_parse(struct sn_config *cfg, int argc, char **argv);

void config_usage(FILE *f);

#endif

/* config: parley-sn's command line, parsed from argv arrays as main()
 * would see them. What it prints is captured (stdout and stderr are
 * swapped for memory streams, which glibc allows: they are plain
 * variables there) so each test can check that a bad flag is named in
 * exactly one line and that --help prints the usage. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "src/sn/config.h"

#define MAX_ARGS 64

/* What the last parse printed to stdout (freed by the next parse). */
static char *last_out;

/* Parses "parley-sn" followed by the NULL-terminated arguments. getopt
 * may permute argv, so it gets a fresh array each call; the strings are
 * literals and outlive cfg, which keeps pointers to them. What
 * config_parse prints to stderr lands in *err (caller frees), what it
 * prints to stdout in last_out. */
static int parse_v(struct sn_config *cfg, char **err, va_list ap)
{
	static char *argv[MAX_ARGS + 2];
	FILE *saved_err = stderr, *saved_out = stdout, *mem_err, *mem_out;
	size_t err_len = 0, out_len = 0;
	int argc = 0, ret;
	const char *s;

	argv[argc++] = "parley-sn";
	while ((s = va_arg(ap, const char *)) != NULL) {
		cr_assert_lt(argc, MAX_ARGS, "too many arguments for the test helper");
		argv[argc++] = (char *)s;
	}
	argv[argc] = NULL;

	*err = NULL;
	free(last_out);
	last_out = NULL;
	mem_err = open_memstream(err, &err_len);
	mem_out = open_memstream(&last_out, &out_len);
	cr_assert(mem_err && mem_out);
	stderr = mem_err;
	stdout = mem_out;
	ret = config_parse(cfg, argc, argv);
	stderr = saved_err;
	stdout = saved_out;
	fclose(mem_err);
	fclose(mem_out);
	return ret;
}

static int parse(struct sn_config *cfg, char **err, ...)
{
	va_list ap;
	int ret;

	va_start(ap, err);
	ret = parse_v(cfg, err, ap);
	va_end(ap);
	return ret;
}

/* Expects -EINVAL and exactly one line on stderr that contains want (the
 * flag's name). */
static void expect_bad(const char *want, ...)
{
	struct sn_config cfg;
	char *err, *nl;
	va_list ap;
	int ret;

	va_start(ap, want);
	ret = parse_v(&cfg, &err, ap);
	va_end(ap);
	cr_assert_eq(ret, -EINVAL, "expected -EINVAL for %s, got %d", want, ret);
	cr_assert_not_null(err);
	nl = strchr(err, '\n');
	cr_assert_not_null(nl, "no error line for %s", want);
	cr_assert_eq(nl[1], '\0', "more than one line for %s: \"%s\"", want, err);
	cr_assert_not_null(strstr(err, want), "\"%s\" does not name %s", err, want);
	free(err);
}

static void expect_addr(const union addr *a, const char *want)
{
	char buf[ADDR_STRLEN];

	addr_format(a, buf, sizeof(buf));
	cr_assert_str_eq(buf, want);
}

/* ------------------------------------------------------------------ */

Test(config, defaults)
{
	struct sn_config cfg;
	char *err;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	cr_assert_eq(parse(&cfg, &err, "--user", "alice:pw", NULL), 0);
	cr_assert_str_empty(err);
	free(err);
	cr_assert_eq(cfg.n_listen, 1);
	expect_addr(&cfg.listen[0], "0.0.0.0:3478");
	cr_assert_eq(cfg.workers, cpus > 0 ? cpus : 1);
	cr_assert_str_eq(cfg.realm, "parley");
	cr_assert_eq(cfg.n_users, 1);
	cr_assert_str_eq(cfg.users[0], "alice:pw");
	cr_assert_null(cfg.auth_secret);
	cr_assert_eq(cfg.relay_lo, 49152);
	cr_assert_eq(cfg.relay_hi, 65535);
	cr_assert_eq(cfg.relay_ip[0].sa.sa_family, AF_UNSPEC);
	cr_assert_eq(cfg.relay_ip[1].sa.sa_family, AF_UNSPEC);
	cr_assert_not(cfg.allow_loopback_peers);
	cr_assert_eq(cfg.n_allow_peer, 0);
	cr_assert_eq(cfg.n_deny_peer, 0);
	cr_assert_eq(cfg.metrics.sa.sa_family, AF_UNSPEC);
	cr_assert_eq(cfg.log_level, LOG_INFO);
	cr_assert_eq(cfg.max_allocs, 65536);
	cr_assert_eq(cfg.max_allocs_per_user, 1024);
	cr_assert_eq(cfg.max_lifetime_s, 3600);
	cr_assert_eq(cfg.default_lifetime_s, 600);
	cr_assert_eq(cfg.nonce_ttl_s, 600);
	cr_assert_eq(cfg.auth_fail_rate, 10);
	cr_assert_eq(cfg.auth_fail_burst, 40);
	cr_assert_eq(cfg.tcp_idle_s, 60);
	cr_assert_eq(cfg.max_tcp, 16384);
	cr_assert_eq(cfg.buffers, 4096);
	cr_assert_eq(cfg.socket_buffer, 1 << 20);
	cr_assert_eq(cfg.max_queue_delay_ms, 50);
	cr_assert_not(cfg.no_tcp);
	cr_assert_null(cfg.software);
}

Test(config, auth_secret_alone_is_enough)
{
	struct sn_config cfg;
	char *err;

	cr_assert_eq(parse(&cfg, &err, "--auth-secret", "s3cret", NULL), 0);
	free(err);
	cr_assert_str_eq(cfg.auth_secret, "s3cret");
	cr_assert_eq(cfg.n_users, 0);
}

Test(config, every_flag)
{
	struct sn_config cfg;
	char *err;
	struct in6_addr v6;

	cr_assert_eq(parse(&cfg, &err,
			   "--listen", "127.0.0.1:5000",
			   "--listen", "[::1]:5001",
			   "--workers", "3",
			   "--realm", "example.org",
			   "--user", "alice:a",
			   "--user", "bob:b:c",
			   "--auth-secret", "s3cret",
			   "--relay-ports", "40000-40100",
			   "--relay-ip", "192.0.2.10",
			   "--relay-ip", "2001:db8::10",
			   "--allow-loopback-peers",
			   "--allow-peer", "10.0.0.0/8",
			   "--allow-peer", "fd00::/8",
			   "--deny-peer", "10.1.0.0/16",
			   "--metrics", "127.0.0.1:9641",
			   "--log-level", "debug",
			   "--max-allocations", "100",
			   "--max-allocations-per-user", "0",
			   "--max-lifetime", "120",
			   "--nonce-ttl", "30",
			   "--auth-fail-rate", "7",
			   "--tcp-idle", "9",
			   "--max-tcp", "50",
			   "--buffers", "256",
			   "--socket-buffer", "65536",
			   "--no-tcp",
			   "--software", "parley-test",
			   NULL),
		     0);
	cr_assert_str_empty(err);
	free(err);

	cr_assert_eq(cfg.n_listen, 2);
	expect_addr(&cfg.listen[0], "127.0.0.1:5000");
	expect_addr(&cfg.listen[1], "[::1]:5001");
	cr_assert_eq(cfg.workers, 3);
	cr_assert_str_eq(cfg.realm, "example.org");
	cr_assert_eq(cfg.n_users, 2);
	cr_assert_str_eq(cfg.users[0], "alice:a");
	cr_assert_str_eq(cfg.users[1], "bob:b:c");
	cr_assert_str_eq(cfg.auth_secret, "s3cret");
	cr_assert_eq(cfg.relay_lo, 40000);
	cr_assert_eq(cfg.relay_hi, 40100);
	/* One relay IP per family, each in its own slot. */
	cr_assert_eq(cfg.relay_ip[0].sa.sa_family, AF_INET);
	cr_assert_eq(cfg.relay_ip[0].v4.sin_addr.s_addr, htonl(0xc000020a));
	cr_assert_eq(cfg.relay_ip[1].sa.sa_family, AF_INET6);
	inet_pton(AF_INET6, "2001:db8::10", &v6);
	cr_assert_eq(memcmp(&cfg.relay_ip[1].v6.sin6_addr, &v6, 16), 0);
	cr_assert(cfg.allow_loopback_peers);
	cr_assert_eq(cfg.n_allow_peer, 2);
	cr_assert_str_eq(cfg.allow_peer[0], "10.0.0.0/8");
	cr_assert_str_eq(cfg.allow_peer[1], "fd00::/8");
	cr_assert_eq(cfg.n_deny_peer, 1);
	cr_assert_str_eq(cfg.deny_peer[0], "10.1.0.0/16");
	expect_addr(&cfg.metrics, "127.0.0.1:9641");
	cr_assert_eq(cfg.log_level, LOG_DEBUG);
	cr_assert_eq(cfg.max_allocs, 100);
	cr_assert_eq(cfg.max_allocs_per_user, 0);
	cr_assert_eq(cfg.max_lifetime_s, 120);
	cr_assert_eq(cfg.nonce_ttl_s, 30);
	cr_assert_eq(cfg.auth_fail_rate, 7);
	cr_assert_eq(cfg.auth_fail_burst, 28, "the burst follows the rate (4x)");
	cr_assert_eq(cfg.tcp_idle_s, 9);
	cr_assert_eq(cfg.max_tcp, 50);
	cr_assert_eq(cfg.buffers, 256);
	cr_assert_eq(cfg.socket_buffer, 65536);
	cr_assert(cfg.no_tcp);
	cr_assert_str_eq(cfg.software, "parley-test");
}

Test(config, listen_without_port_takes_3478)
{
	struct sn_config cfg;
	char *err;

	cr_assert_eq(parse(&cfg, &err, "--listen", "127.0.0.2", "--user", "a:b", NULL), 0);
	free(err);
	cr_assert_eq(cfg.n_listen, 1);
	expect_addr(&cfg.listen[0], "127.0.0.2:3478");
}

Test(config, parsing_twice_starts_over)
{
	struct sn_config cfg;
	char *err;

	/* main() parses once, but config_parse must not depend on getopt's
	 * leftovers nor on a previous result. */
	cr_assert_eq(parse(&cfg, &err, "--workers", "2", "--user", "a:b", "--no-tcp", NULL), 0);
	free(err);
	cr_assert_eq(parse(&cfg, &err, "--user", "c:d", NULL), 0);
	free(err);
	cr_assert_eq(cfg.n_users, 1);
	cr_assert_str_eq(cfg.users[0], "c:d");
	cr_assert_not(cfg.no_tcp);
	cr_assert_eq(cfg.relay_lo, 49152);
}

Test(config, help_and_version)
{
	struct sn_config cfg;
	char *err;

	cr_assert_eq(parse(&cfg, &err, "--help", NULL), 1);
	cr_assert_str_empty(err);
	free(err);
	cr_assert(strncmp(last_out, "usage: parley-sn", 16) == 0, "--help printed \"%.40s\"",
		  last_out);
	/* --help wins even without credentials and with other flags. */
	cr_assert_eq(parse(&cfg, &err, "--workers", "2", "--help", NULL), 1);
	cr_assert_str_empty(err);
	free(err);
	cr_assert(strncmp(last_out, "usage: parley-sn", 16) == 0);
	cr_assert_eq(parse(&cfg, &err, "--version", NULL), 1);
	cr_assert_str_empty(err);
	free(err);
	cr_assert(strncmp(last_out, "parley-sn ", 10) == 0, "--version printed \"%s\"", last_out);
}

Test(config, usage_lists_every_flag)
{
	static const char *const flags[] = {
		"--listen", "--workers", "--realm", "--user", "--auth-secret", "--relay-ports",
		"--relay-ip", "--allow-loopback-peers", "--allow-peer", "--deny-peer",
		"--metrics", "--log-level", "--max-allocations", "--max-allocations-per-user",
		"--max-lifetime", "--nonce-ttl", "--auth-fail-rate", "--tcp-idle", "--max-tcp",
		"--buffers", "--socket-buffer", "--max-queue-delay", "--no-tcp", "--software", "--help",
	};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	cr_assert_not_null(f);
	config_usage(f);
	fclose(f);
	cr_assert(strncmp(text, "usage: parley-sn", 16) == 0);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		cr_assert_not_null(strstr(text, flags[i]), "usage does not mention %s", flags[i]);
	free(text);
}

/* ------------------------------------------------------------------ */
/* each mistake is refused with one line naming the flag               */
/* ------------------------------------------------------------------ */

Test(config, bad_listen)
{
	expect_bad("--listen", "--listen", "nonsense", "--user", "a:b", NULL);
	expect_bad("--listen", "--listen", "1.2.3.4:99999", "--user", "a:b", NULL);
	expect_bad("--listen", "--listen", "example.org:3478", "--user", "a:b", NULL);
	expect_bad("--listen", "--listen", "", "--user", "a:b", NULL);
}

Test(config, too_many_listeners)
{
	expect_bad("--listen", "--user", "a:b",
		   "--listen", "127.0.0.1:1", "--listen", "127.0.0.1:2", "--listen", "127.0.0.1:3",
		   "--listen", "127.0.0.1:4", "--listen", "127.0.0.1:5", "--listen", "127.0.0.1:6",
		   "--listen", "127.0.0.1:7", "--listen", "127.0.0.1:8", "--listen", "127.0.0.1:9",
		   NULL);
}

Test(config, bad_workers)
{
	expect_bad("--workers", "--workers", "0", "--user", "a:b", NULL);
	expect_bad("--workers", "--workers", "x", "--user", "a:b", NULL);
	expect_bad("--workers", "--workers", "-1", "--user", "a:b", NULL);
	expect_bad("--workers", "--workers", "257", "--user", "a:b", NULL);
	expect_bad("--workers", "--workers", "2x", "--user", "a:b", NULL);
	expect_bad("--workers", "--workers", "", "--user", "a:b", NULL);
}

Test(config, bad_relay_ports)
{
	expect_bad("--relay-ports", "--relay-ports", "5000-4000", "--user", "a:b", NULL);
	expect_bad("--relay-ports", "--relay-ports", "5-4", "--user", "a:b", NULL);
	/* Privileged ports are not ours to take. */
	expect_bad("--relay-ports", "--relay-ports", "100-200", "--user", "a:b", NULL);
	expect_bad("--relay-ports", "--relay-ports", "abc", "--user", "a:b", NULL);
	expect_bad("--relay-ports", "--relay-ports", "40000", "--user", "a:b", NULL);
	expect_bad("--relay-ports", "--relay-ports", "40000-", "--user", "a:b", NULL);
	expect_bad("--relay-ports", "--relay-ports", "40000-70000", "--user", "a:b", NULL);
	expect_bad("--relay-ports", "--relay-ports", "0000000000000000000000040000-40001",
		   "--user", "a:b", NULL);
}

Test(config, relay_ports_single_port_is_fine)
{
	struct sn_config cfg;
	char *err;

	cr_assert_eq(parse(&cfg, &err, "--relay-ports", "40000-40000", "--user", "a:b", NULL), 0);
	free(err);
	cr_assert_eq(cfg.relay_lo, 40000);
	cr_assert_eq(cfg.relay_hi, 40000);
}

Test(config, bad_prefixes)
{
	expect_bad("--allow-peer", "--allow-peer", "1.2.3.4/99", "--user", "a:b", NULL);
	expect_bad("--allow-peer", "--allow-peer", "10.0.0.0/", "--user", "a:b", NULL);
	expect_bad("--allow-peer", "--allow-peer", "nope", "--user", "a:b", NULL);
	expect_bad("--deny-peer", "--deny-peer", "2001:db8::/129", "--user", "a:b", NULL);
	expect_bad("--deny-peer", "--deny-peer", "10.0.0.0/8x", "--user", "a:b", NULL);
}

Test(config, bad_buffers)
{
	expect_bad("--buffers", "--buffers", "100", "--user", "a:b", NULL);
	expect_bad("--buffers", "--buffers", "1000", "--user", "a:b", NULL);
	expect_bad("--buffers", "--buffers", "32", "--user", "a:b", NULL);
	expect_bad("--buffers", "--buffers", "65536", "--user", "a:b", NULL);
	expect_bad("--buffers", "--buffers", "0", "--user", "a:b", NULL);
}

Test(config, other_bad_values)
{
	expect_bad("--user", "--user", "nocolon", NULL);
	expect_bad("--user", "--user", ":pw", NULL);
	expect_bad("--user", "--user", "name:", NULL);
	expect_bad("--realm", "--realm", "", "--user", "a:b", NULL);
	expect_bad("--auth-secret", "--auth-secret", "", NULL);
	expect_bad("--relay-ip", "--relay-ip", "192.0.2.1:5", "--user", "a:b", NULL);
	expect_bad("--relay-ip", "--relay-ip", "0.0.0.0", "--user", "a:b", NULL);
	expect_bad("--metrics", "--metrics", "127.0.0.1", "--user", "a:b", NULL);
	expect_bad("--log-level", "--log-level", "loud", "--user", "a:b", NULL);
	expect_bad("--max-allocations", "--max-allocations", "0", "--user", "a:b", NULL);
	expect_bad("--max-lifetime", "--max-lifetime", "59", "--user", "a:b", NULL);
	expect_bad("--nonce-ttl", "--nonce-ttl", "9", "--user", "a:b", NULL);
	expect_bad("--auth-fail-rate", "--auth-fail-rate", "0", "--user", "a:b", NULL);
	expect_bad("--tcp-idle", "--tcp-idle", "0", "--user", "a:b", NULL);
	expect_bad("--max-tcp", "--max-tcp", "0", "--user", "a:b", NULL);
	expect_bad("--socket-buffer", "--socket-buffer", "-5", "--user", "a:b", NULL);
	expect_bad("--max-queue-delay", "--max-queue-delay", "60001", "--user", "a:b", NULL);
	expect_bad("--max-queue-delay", "--max-queue-delay", "5ms", "--user", "a:b", NULL);
}

Test(config, max_queue_delay_zero_turns_it_off)
{
	struct sn_config cfg;
	char *err;

	cr_assert_eq(parse(&cfg, &err, "--max-queue-delay", "0", "--user", "a:b", NULL), 0);
	cr_assert_eq(cfg.max_queue_delay_ms, 0);
	free(err);
}

Test(config, unknown_option)
{
	expect_bad("--bogus", "--bogus", "--user", "a:b", NULL);
	expect_bad("--bogus", "--user", "a:b", "--bogus", NULL);
	expect_bad("-x", "-x", "--user", "a:b", NULL);
	/* A flag that takes no value given one. */
	expect_bad("--no-tcp", "--no-tcp=yes", "--user", "a:b", NULL);
}

Test(config, missing_value)
{
	expect_bad("--workers", "--user", "a:b", "--workers", NULL);
	expect_bad("--listen", "--user", "a:b", "--listen", NULL);
}

Test(config, stray_argument)
{
	expect_bad("stray", "--user", "a:b", "stray", NULL);
	expect_bad("stray", "stray", "--user", "a:b", NULL);
}

Test(config, no_credentials)
{
	/* TURN without credentials is an open relay: refuse to start. */
	expect_bad("--user", NULL);
	expect_bad("--auth-secret", "--listen", "127.0.0.1:3478", NULL);
}

/* parley-load: the load generator. Simulates TURN calls (relay mode) or
 * STUN Binding traffic (stun mode) against a server, on per-core io_uring
 * workers (engine.c), and measures what comes back: loss, reordering,
 * duplicates, one-way latency, jitter, set-up rate and failures.
 *
 * This file: the command line and the run's phases (set-up, media,
 * drain); report.c shows and writes the figures. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <openssl/rand.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "proto/cred.h"
#include "src/common/flags.h"
#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/load/engine.h"
#include "src/load/report.h"
#include "src/load/stats.h"

#define PROG "parley-load"
#define VERSION "0.1.0"
#define MAIN_POLL_MS 50

/* ---- command line ----------------------------------------------------- */

enum {
	OPT_TARGET = 256, OPT_MODE, OPT_TRANSPORT, OPT_CALLS, OPT_DURATION, OPT_PPS, OPT_SIZE,
	OPT_RAMP, OPT_SETUP_TIMEOUT, OPT_REFRESH, OPT_SEND_IND, OPT_TCP_ALLOC, OPT_RAW, OPT_RAW_PORT_BASE, OPT_USER, OPT_PASSWORD,
	OPT_AUTH_SECRET, OPT_RATE, OPT_SOCKETS, OPT_WORKERS, OPT_JSON, OPT_CSV, OPT_QUIET,
	OPT_ALLOW_REMOTE, OPT_HELP, OPT_VERSION,
};

static const struct option options[] = {
	{ "target", required_argument, NULL, OPT_TARGET },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "transport", required_argument, NULL, OPT_TRANSPORT },
	{ "calls", required_argument, NULL, OPT_CALLS },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "pps", required_argument, NULL, OPT_PPS },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "ramp", required_argument, NULL, OPT_RAMP },
	{ "setup-timeout", required_argument, NULL, OPT_SETUP_TIMEOUT },
	{ "refresh", required_argument, NULL, OPT_REFRESH },
	{ "send-indications", no_argument, NULL, OPT_SEND_IND },
	{ "tcp-allocations", no_argument, NULL, OPT_TCP_ALLOC },
	{ "raw", no_argument, NULL, OPT_RAW },
	{ "raw-port-base", required_argument, NULL, OPT_RAW_PORT_BASE },
	{ "user", required_argument, NULL, OPT_USER },
	{ "password", required_argument, NULL, OPT_PASSWORD },
	{ "auth-secret", required_argument, NULL, OPT_AUTH_SECRET },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "sockets", required_argument, NULL, OPT_SOCKETS },
	{ "workers", required_argument, NULL, OPT_WORKERS },
	{ "json", required_argument, NULL, OPT_JSON },
	{ "csv", required_argument, NULL, OPT_CSV },
	{ "quiet", no_argument, NULL, OPT_QUIET },
	{ "allow-remote", no_argument, NULL, OPT_ALLOW_REMOTE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fputs("usage: parley-load --target ADDR:PORT [options]\n"
	      "\n"
	      "Simulated TURN calls (relay mode) or STUN Binding load (stun mode) against a\n"
	      "STUN/TURN server, with loss, reordering, latency and jitter measured.\n"
	      "\n"
	      "  --target ADDR:PORT     the server (required; loopback only unless\n"
	      "                         --allow-remote)\n"
	      "  --mode relay|stun      default relay\n"
	      "  --transport udp|tcp    to the server (default udp; TCP framing: RFC 8656 §12.5)\n"
	      "  --workers N            threads, each with its own io_uring (default 1)\n"
	      "  --duration S           media phase in seconds (default 10)\n"
	      "  --json FILE            all final figures as one JSON object\n"
	      "  --csv FILE             one line per second:\n"
	      "                         t,calls_up,pps_out,pps_in,loss_pct,p50_us,p99_us\n"
	      "  --quiet                no progress and no summary (errors still printed)\n"
	      "  --allow-remote         allow a target that is not a loopback address\n"
	      "\n"
	      "relay mode: two TURN clients per call, each sending to the other through its relay\n"
	      "  --calls N              concurrent calls (default 10)\n"
	      "  --pps P                packets per second per stream (default 50)\n"
	      "  --size B               RTP packet bytes, 28..1200 (default 172: a 20 ms Opus\n"
	      "                         frame with RTP and SRTP overhead)\n"
	      "  --ramp S               bring calls up evenly over S seconds (default 0)\n"
	      "  --setup-timeout S      after the ramp, calls not up by then fail (default 10)\n"
	      "  --refresh S            refresh allocations and channels every S seconds\n"
	      "                         (default: at half their lifetime)\n"
	      "  --send-indications     CreatePermission + Send indications, not channels\n"
	      "  --tcp-allocations      TCP relays (RFC 6062; implies --transport tcp): one\n"
	      "                         leg Connects to the other's relayed address, both\n"
	      "                         bind data connections, media is RFC 4571-framed\n"
	      "  --raw                  no TURN: plain UDP legs on port pairs, for the raw\n"
	      "                         floor forwarder (bench/floor.c), which sends a\n"
	      "                         packet from port p on to port p^1\n"
	      "  --raw-port-base N      first local port of --raw legs (default 61000)\n"
	      "  --user U --password P  long-term credentials (or --user U:P)\n"
	      "  --auth-secret S        shared secret: username EXPIRY:U, password\n"
	      "                         base64(HMAC-SHA1(S, username)), as coturn's REST API\n"
	      "\n"
	      "stun mode:\n"
	      "  --rate R               Binding requests per second, all sockets (default 1000)\n"
	      "  --sockets K            sockets the requests are spread over (default 64)\n"
	      "\n"
	      "Exit status: 0 the run completed (loss is a measurement, not a failure),\n"
	      "1 no call came up (stun: no answer) or the run could not start, 2 usage error.\n",
	      f);
}

static int bad(const char *flag, const char *value, const char *expected)
{
	fprintf(stderr, PROG ": --%s '%s': expected %s\n", flag, value ? value : "", expected);
	return -EINVAL;
}

/* Seconds with an optional fraction, into ms. */
static int parse_seconds(const char *s, double lo, double hi, uint32_t *out_ms)
{
	char *end;
	double v;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < lo || v > hi)
		return -EINVAL;
	*out_ms = (uint32_t)llround(v * 1000.0);
	return 0;
}

struct cli {
	struct load_config cfg;
	const char *json, *csv;
	const char *user, *password, *secret;
	bool have_target, quiet, allow_remote;
};

/* Returns 0, 1 (--help/--version: exit 0) or -EINVAL (message printed). */
static int parse_args(struct cli *o, int argc, char **argv)
{
	struct load_config *c = &o->cfg;
	int opt;

	memset(o, 0, sizeof(*o));
	c->mode = LOAD_RELAY;
	c->calls = 10;
	c->duration_ms = 10000;
	c->pps = 50;
	c->size = 172;
	c->setup_timeout_ms = 10000;
	c->raw_port_base = 61000;
	c->rate = 1000;
	c->sockets = 64;
	c->workers = 1;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":", options, NULL)) != -1) {
		switch (opt) {
		case OPT_TARGET:
			if (addr_parse(optarg, 3478, &c->target) || addr_port(&c->target) == 0)
				return bad("target", optarg,
					   "IP:PORT, e.g. 127.0.0.1:3478 or [::1]:3478");
			o->have_target = true;
			break;
		case OPT_MODE:
			if (!strcmp(optarg, "relay"))
				c->mode = LOAD_RELAY;
			else if (!strcmp(optarg, "stun"))
				c->mode = LOAD_STUN;
			else
				return bad("mode", optarg, "relay or stun");
			break;
		case OPT_TRANSPORT:
			if (!strcmp(optarg, "udp"))
				c->tcp = false;
			else if (!strcmp(optarg, "tcp"))
				c->tcp = true;
			else
				return bad("transport", optarg, "udp or tcp");
			break;
		case OPT_CALLS:
			if (flags_parse_u32(optarg, 1, 1000000, &c->calls))
				return bad("calls", optarg, "a number of calls from 1 to 1000000");
			break;
		case OPT_DURATION:
			if (parse_seconds(optarg, 0.1, 86400, &c->duration_ms))
				return bad("duration", optarg, "seconds from 0.1 to 86400");
			break;
		case OPT_PPS:
			if (flags_parse_u32(optarg, 1, 1000, &c->pps))
				return bad("pps", optarg,
					   "packets per second per stream from 1 to 1000");
			break;
		case OPT_SIZE:
			if (flags_parse_u32(optarg, CLIENT_PACKET_MIN, CLIENT_PACKET_MAX, &c->size))
				return bad("size", optarg, "RTP packet bytes from 28 to 1200");
			break;
		case OPT_RAMP:
			if (parse_seconds(optarg, 0, 3600, &c->ramp_ms))
				return bad("ramp", optarg, "seconds from 0 to 3600");
			break;
		case OPT_SETUP_TIMEOUT:
			if (parse_seconds(optarg, 0.1, 3600, &c->setup_timeout_ms))
				return bad("setup-timeout", optarg, "seconds from 0.1 to 3600");
			break;
		case OPT_REFRESH:
			if (parse_seconds(optarg, 1, 3000, &c->refresh_ms))
				return bad("refresh", optarg, "seconds from 1 to 3000");
			break;
		case OPT_SEND_IND:
			c->send_indications = true;
			break;
		case OPT_TCP_ALLOC:
			c->tcp_alloc = true;
			c->tcp = true;
			break;
		case OPT_RAW:
			c->raw = true;
			break;
		case OPT_RAW_PORT_BASE: {
			uint32_t v;

			if (flags_parse_u32(optarg, 1024, 65534, &v) || (v & 1))
				return bad("raw-port-base", optarg, "an even port from 1024 to 65534");
			c->raw_port_base = (uint16_t)v;
			break;
		}
		case OPT_USER:
			if (!*optarg || strlen(optarg) > 255)
				return bad("user", optarg, "a user name of 1 to 255 bytes");
			o->user = optarg;
			break;
		case OPT_PASSWORD:
			if (strlen(optarg) > 255)
				return bad("password", "...", "at most 255 bytes");
			o->password = optarg;
			break;
		case OPT_AUTH_SECRET:
			if (!*optarg)
				return bad("auth-secret", optarg, "a non-empty secret");
			o->secret = optarg;
			break;
		case OPT_RATE:
			if (flags_parse_u32(optarg, 1, 10000000, &c->rate))
				return bad("rate", optarg,
					   "requests per second from 1 to 10000000");
			break;
		case OPT_SOCKETS:
			if (flags_parse_u32(optarg, 1, 65536, &c->sockets))
				return bad("sockets", optarg,
					   "a number of sockets from 1 to 65536");
			break;
		case OPT_WORKERS:
			if (flags_parse_u32(optarg, 1, 256, &c->workers))
				return bad("workers", optarg, "a number of threads from 1 to 256");
			break;
		case OPT_JSON:
			o->json = optarg;
			break;
		case OPT_CSV:
			o->csv = optarg;
			break;
		case OPT_QUIET:
			o->quiet = true;
			break;
		case OPT_ALLOW_REMOTE:
			o->allow_remote = true;
			break;
		case OPT_HELP:
			usage(stdout);
			return 1;
		case OPT_VERSION:
			printf(PROG " %s\n", VERSION);
			return 1;
		case ':':
			fprintf(stderr, PROG ": %s: needs a value (see --help)\n",
				argv[optind - 1]);
			return -EINVAL;
		default:
			fprintf(stderr, PROG ": unknown option '%s' (see --help)\n",
				argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s' (see --help)\n", argv[optind]);
		return -EINVAL;
	}
	if (!o->have_target) {
		fprintf(stderr, PROG ": --target ADDR:PORT is required (see --help)\n");
		return -EINVAL;
	}
	if (!o->allow_remote && addr_classify(&c->target) != ADDR_LOOPBACK) {
		char a[ADDR_STRLEN];

		fprintf(stderr,
			PROG ": --target %s is not a loopback address; pass --allow-remote to load "
			     "a server elsewhere\n",
			addr_format(&c->target, a, sizeof(a)));
		return -EINVAL;
	}
	if (c->mode == LOAD_STUN)
		return 0;
	if (c->tcp_alloc && (c->send_indications || c->raw)) {
		fprintf(stderr, PROG ": --tcp-allocations relays streams: no --send-indications "
				     "or --raw with it\n");
		return -EINVAL;
	}
	if (c->raw) {
		if (c->tcp || c->send_indications) {
			fprintf(stderr, PROG ": --raw sends plain UDP: no --transport tcp or "
					     "--send-indications with it\n");
			return -EINVAL;
		}
		if ((uint64_t)c->raw_port_base + 2ull * c->calls > 65536) {
			fprintf(stderr, PROG ": --raw: %u calls need ports %u-%llu, past 65535\n",
				c->calls, c->raw_port_base,
				(unsigned long long)c->raw_port_base + 2ull * c->calls - 1);
			return -EINVAL;
		}
		return 0;
	}
	if (o->secret) {
		char pass[CRED_SECRET_PASSWORD_LEN + 1];
		uint64_t expiry = clock_real_s() + 86400u +
				  (c->ramp_ms + c->setup_timeout_ms + c->duration_ms) / 1000u;

		snprintf(c->username, sizeof(c->username), "%llu:%s", (unsigned long long)expiry,
			 o->user ? o->user : "load");
		if (cred_secret_password((const uint8_t *)o->secret, strlen(o->secret), c->username,
					 strlen(c->username), pass, sizeof(pass))) {
			fprintf(stderr, PROG ": cannot derive the password from --auth-secret\n");
			return -EINVAL;
		}
		snprintf(c->password, sizeof(c->password), "%s", pass);
		cred_wipe(pass, sizeof(pass));
		return 0;
	}
	if (o->user && !o->password && strchr(o->user, ':') && strchr(o->user, ':') != o->user) {
		const char *colon = strchr(o->user, ':');

		snprintf(c->username, sizeof(c->username), "%.*s", (int)(colon - o->user), o->user);
		snprintf(c->password, sizeof(c->password), "%s", colon + 1);
		return 0;
	}
	if (!o->user || !o->password) {
		fprintf(stderr, PROG ": relay mode needs credentials: --user U --password P "
				"(or --user U:P), or --auth-secret S\n");
		return -EINVAL;
	}
	snprintf(c->username, sizeof(c->username), "%s", o->user);
	snprintf(c->password, sizeof(c->password), "%s", o->password);
	return 0;
}

/* ---- the run ---------------------------------------------------------- */

static bool all_finished(struct engine **eng, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		int s = atomic_load(&eng[i]->status);

		if (s != ENGINE_DONE && s != ENGINE_FAILED)
			return false;
	}
	return true;
}

/* Calls resolved (up or failed) over all workers. */
static uint64_t calls_settled(struct engine **eng, uint32_t n)
{
	uint64_t v = 0;

	for (uint32_t i = 0; i < n; i++)
		v += stats_read(&eng[i]->stats->c[STATS_CALLS_UP]) +
		     stats_read(&eng[i]->stats->c[STATS_CALLS_FAILED]);
	return v;
}

static int raise_fd_limit(const struct load_config *cfg)
{
	/* Two clients per call; with TCP allocations each has a control and
	 * a data connection. */
	uint64_t need = (cfg->mode == LOAD_RELAY ? (cfg->tcp_alloc ? 4ull : 2ull) * cfg->calls
						 : cfg->sockets) +
			32ull * cfg->workers + 64;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur) {
		fprintf(stderr,
			PROG ": this run needs about %llu file descriptors but the limit is %llu; "
			     "raise it (ulimit -Hn) or lower --calls/--sockets\n",
			(unsigned long long)need, (unsigned long long)rl.rlim_cur);
		return -EMFILE;
	}
	return 0;
}

/* Creates and starts the workers; each takes an even share of the calls
 * (or sockets). Returns 0 or -errno (message printed). */
static int start_workers(struct engine **eng, uint32_t n, const struct load_config *cfg,
			 struct load_run *run, uint64_t seed)
{
	uint32_t total = cfg->mode == LOAD_RELAY ? cfg->calls : cfg->sockets;

	for (uint32_t i = 0; i < n; i++) {
		struct engine *e = aligned_alloc(64, (sizeof(struct engine) + 63) & ~(size_t)63);
		struct stats_block *sb = aligned_alloc(64, sizeof(struct stats_block));
		int ret;

		if (!e || !sb) {
			free(e);
			free(sb);
			fprintf(stderr, PROG ": out of memory\n");
			return -ENOMEM;
		}
		memset(e, 0, sizeof(*e));
		memset(sb, 0, sizeof(*sb));
		e->id = (int)i;
		e->cfg = cfg;
		e->run = run;
		e->stats = sb;
		e->first = (uint32_t)((uint64_t)total * i / n);
		e->count = (uint32_t)((uint64_t)total * (i + 1) / n) - e->first;
		e->seed = seed ^ ((uint64_t)i + 1) * 0x9E3779B97F4A7C15ull;
		eng[i] = e;
		ret = pthread_create(&e->thread, NULL, engine_main, e);
		if (ret) {
			eng[i] = NULL;
			free(e);
			free(sb);
			fprintf(stderr, PROG ": worker thread: %s\n", strerror(ret));
			return -ret;
		}
	}
	return 0;
}

/* Waits for every worker to finish its set-up. False when one failed. */
static bool workers_started(struct engine **eng, uint32_t n)
{
	for (;;) {
		bool starting = false;

		for (uint32_t i = 0; i < n; i++) {
			int s = atomic_load(&eng[i]->status);

			if (s == ENGINE_FAILED)
				return false;
			starting |= s == ENGINE_STARTING;
		}
		if (!starting)
			return true;
		usleep(1000);
	}
}

static void announce(const struct load_config *cfg)
{
	char a[ADDR_STRLEN];

	addr_format(&cfg->target, a, sizeof(a));
	if (cfg->mode == LOAD_RELAY)
		fprintf(stderr,
			PROG ": %u calls (%u streams of %u pps) to %s over %s, %u worker%s\n",
			cfg->calls, 2 * cfg->calls, cfg->pps, a,
			cfg->tcp_alloc ? "TCP with TCP allocations" : cfg->tcp ? "TCP" : "UDP",
			cfg->workers, cfg->workers == 1 ? "" : "s");
	else
		fprintf(stderr, PROG ": %u Binding requests/s over %u sockets to %s over %s\n",
			cfg->rate, cfg->sockets, a, cfg->tcp ? "TCP" : "UDP");
}

/* The main thread while the workers run: ends set-up when every call is
 * settled or its time is up (media_end_ms tells the workers), turns
 * signals into an early end (a second one skips the drain), and reports
 * once a second. Returns the set-up end (monotonic ms). */
static uint64_t supervise(struct report *rep, struct load_run *run, int sfd, bool quiet)
{
	const struct load_config *cfg = run->cfg;
	uint64_t setup_end_ms = cfg->mode == LOAD_STUN ? run->start_ms : 0;
	uint64_t next_tick_ms = run->start_ms + 1000;
	int signals = 0;

	while (!all_finished(rep->eng, rep->n)) {
		struct pollfd pfd = { .fd = sfd, .events = POLLIN };
		uint64_t now = clock_mono_ms();
		uint64_t end = atomic_load(&run->media_end_ms);
		int wait = next_tick_ms > now ? (int)(next_tick_ms - now) : 0;

		if (poll(&pfd, 1, wait > MAIN_POLL_MS ? MAIN_POLL_MS : wait) > 0) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGPIPE)
					continue;
				now = clock_mono_ms();
				signals++;
				if (!setup_end_ms)
					setup_end_ms = now;
				if (signals > 1)
					end = now - ENGINE_DRAIN_MS;
				else if (!end || end > now)
					end = now;
				atomic_store(&run->media_end_ms, end);
			}
		}
		now = clock_mono_ms();
		if (!end && (calls_settled(rep->eng, rep->n) >= cfg->calls ||
			     now >= run->start_ms + cfg->ramp_ms + cfg->setup_timeout_ms)) {
			uint64_t up = 0;

			for (uint32_t i = 0; i < rep->n; i++)
				up += stats_read(&rep->eng[i]->stats->c[STATS_CALLS_UP]);
			setup_end_ms = now;
			/* Nothing to measure without a call: straight to the drain. */
			atomic_store(&run->media_end_ms, up ? now + cfg->duration_ms : now);
			if (!quiet) {
				report_break_line(rep);
				fprintf(stderr,
					PROG ": set-up over after %.3f s: %llu of %u calls up%s\n",
					(double)(now - run->start_ms) / 1e3, (unsigned long long)up,
					cfg->calls, up ? "; media phase starts" : "");
			}
		}
		if (now >= next_tick_ms) {
			report_tick(rep, now);
			next_tick_ms += 1000;
			if (next_tick_ms <= now)
				next_tick_ms = now + 1000;
		}
	}
	return setup_end_ms;
}

int main(int argc, char **argv)
{
	struct report_result res;
	struct report rep;
	struct load_run run;
	struct cli o;
	struct engine **eng;
	FILE *csv = NULL;
	uint64_t setup_end_ms = 0, seed;
	sigset_t sigs;
	int ret, sfd, status = 0;
	uint32_t n;

	log_set_tag(PROG);
	ret = parse_args(&o, argc, argv);
	if (ret)
		return ret > 0 ? 0 : 2;
	if (raise_fd_limit(&o.cfg))
		return 1;
	n = o.cfg.workers;
	memset(&run, 0, sizeof(run));
	memset(&res, 0, sizeof(res));
	run.cfg = &o.cfg;
	if (RAND_bytes((unsigned char *)&seed, sizeof(seed)) != 1 ||
	    RAND_bytes((unsigned char *)&run.salt, sizeof(run.salt)) != 1) {
		fprintf(stderr, PROG ": no randomness\n");
		return 1;
	}
	if (o.csv) {
		csv = fopen(o.csv, "w");
		if (!csv) {
			fprintf(stderr, PROG ": --csv %s: %s\n", o.csv, strerror(errno));
			return 2;
		}
		fputs("t,calls_up,pps_out,pps_in,loss_pct,p50_us,p99_us\n", csv);
	}

	/* Signals reach a signalfd the main thread polls; workers never see
	 * them (blocked before any thread starts). */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	eng = calloc(n, sizeof(*eng));
	res.b = aligned_alloc(64, sizeof(struct stats_block));
	run.start_ms = clock_mono_ms();
	if (sfd < 0 || !eng || !res.b ||
	    report_init(&rep, &o.cfg, eng, n, &run, isatty(STDERR_FILENO), o.quiet, csv)) {
		fprintf(stderr, PROG ": start-up: %s\n",
			sfd < 0 ? strerror(errno) : "out of memory");
		return 1;
	}
	if (o.cfg.mode == LOAD_STUN)
		atomic_store(&run.media_end_ms, run.start_ms + o.cfg.duration_ms);

	if (start_workers(eng, n, &o.cfg, &run, seed) || !workers_started(eng, n)) {
		/* Whoever started ends at once. */
		atomic_store(&run.media_end_ms, 1);
		status = 1;
	} else {
		if (!o.quiet)
			announce(&o.cfg);
		setup_end_ms = supervise(&rep, &run, sfd, o.quiet);
	}
	for (uint32_t i = 0; i < n; i++)
		if (eng[i])
			pthread_join(eng[i]->thread, NULL);
	report_break_line(&rep);
	for (uint32_t i = 0; i < n; i++) {
		if (eng[i] && atomic_load(&eng[i]->status) == ENGINE_FAILED) {
			fprintf(stderr, PROG ": worker %u failed: %s\n", i,
				strerror(-eng[i]->error));
			status = 1;
		}
	}

	if (!status) {
		report_finish(&rep, &res, setup_end_ms, atomic_load(&run.media_end_ms));
		if (!o.quiet)
			report_print(&rep, &res);
		if (o.json && report_json(&rep, &res, o.json))
			status = 1;
		if (o.cfg.mode == LOAD_RELAY && res.calls_up == 0) {
			fprintf(stderr, PROG ": no call came up\n");
			status = 1;
		} else if (o.cfg.mode == LOAD_STUN && res.received == 0) {
			fprintf(stderr, PROG ": no request was answered\n");
			status = 1;
		}
	}
	if (csv)
		fclose(csv);
	for (uint32_t i = 0; i < n; i++) {
		if (eng[i]) {
			free(eng[i]->stats);
			free(eng[i]);
		}
	}
	free(eng);
	free(res.b);
	report_fini(&rep);
	cred_wipe(o.cfg.password, sizeof(o.cfg.password));
	close(sfd);
	return status;
}

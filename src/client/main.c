/* parley: the client. This part: logging in (a password once per device,
 * then a signature challenge), the state it keeps, and its status.
 * Search, buddies, calls and conferences come with the overlay. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "io/sock.h"
#include "proto/cert.h"
#include "proto/cred.h"
#include "proto/ovl.h"
#include "proto/sig.h"
#include "src/client/state.h"
#include "src/common/clock.h"
#include "src/common/tls.h"

#define PROG "parley"
#define TIMEOUT_MS 5000
#define PASSWORD_MAX 1024

struct opts {
	const char *state_dir;
	const char *server;
	const char *server_key;
	const char *password_file;
};

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* ---- talking to the login server --------------------------------------- */

static int connect_to(const char *hostport, int *fd_out)
{
	char host[256], *colon;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
	union addr a;
	int fd = -1, err = 0;

	if (!addr_parse(hostport, 4433, &a)) {
		fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		tls_set_timeouts(fd, TIMEOUT_MS);
		sock_tcp_nodelay(fd);
		if (connect(fd, &a.sa, addr_len(&a))) {
			err = -errno;
			close(fd);
			return err;
		}
		*fd_out = fd;
		return 0;
	}
	snprintf(host, sizeof(host), "%s", hostport);
	colon = strrchr(host, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &res))
		return -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		tls_set_timeouts(fd, TIMEOUT_MS);
		sock_tcp_nodelay(fd);
		if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		err = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return err ? err : -EHOSTUNREACH;
	*fd_out = fd;
	return 0;
}

/* Checks the server's key against --server-key, else the pinned one,
 * else pins it (trust on first use). */
static int check_server_key(struct state *st, const struct opts *o, const uint8_t got[SIG_PUB_LEN])
{
	uint8_t want[SIG_PUB_LEN];
	char hex[65], text[80];
	int n;

	sig_pub_hex(got, hex);
	if (o->server_key) {
		if (sig_pub_parse_hex(o->server_key, want))
			return fail("--server-key '%s': expected 64 hex digits", o->server_key);
	} else {
		n = state_read_file(st, "server.pub", text, sizeof(text) - 1);
		if (n == -ENOENT) {
			fprintf(stderr, PROG ": trusting login server key %s on first use\n", hex);
			snprintf(text, sizeof(text), "%s\n", hex);
			return state_write_file(st, "server.pub", text, strlen(text)) ? 1 : 0;
		}
		if (n < 0)
			return fail("%s/server.pub: %s", st->dir, strerror(-n));
		text[n] = '\0';
		text[strcspn(text, "\n")] = '\0';
		if (sig_pub_parse_hex(text, want))
			return fail("%s/server.pub is malformed", st->dir);
	}
	if (!cred_equal(want, got, SIG_PUB_LEN))
		return fail("the login server's key %s is not the pinned one: refusing to log in", hex);
	if (o->server_key) {
		snprintf(text, sizeof(text), "%s\n", hex);
		state_write_file(st, "server.pub", text, strlen(text));
	}
	return 0;
}

static int read_password(const char *path, char *out, size_t cap, size_t *len)
{
	FILE *f = path ? fopen(path, "r") : stdin;

	if (!f)
		return fail("--password-file %s: %s", path, strerror(errno));
	if (!path && isatty(0))
		fprintf(stderr, "password: ");
	if (!fgets(out, (int)cap, f)) {
		if (path)
			fclose(f);
		return fail("no password given");
	}
	if (path)
		fclose(f);
	*len = strcspn(out, "\r\n");
	out[*len] = '\0';
	return 0;
}

/* Reads the answer; an ERROR becomes one line. Returns 0 with *m filled,
 * or 1 after printing why. */
static int expect(SSL *ssl, uint8_t *buf, size_t cap, struct ovl_msg *m, uint8_t type, int *code)
{
	int n = tls_read_msg(ssl, buf, cap);

	*code = 0;
	if (n <= 0)
		return fail("login server: %s", n == -ETIMEDOUT ? "no answer in time"
							       : "connection lost");
	if (ovl_parse(buf, (size_t)n, m))
		return fail("login server: malformed answer");
	if (m->type == OVL_ERROR) {
		*code = ovl_get_u16(buf, m, OVL_A_ERROR_CODE);
		if (*code == OVL_E_UNKNOWN_DEVICE)
			return 1;   /* the caller falls back to the password */
		return fail("login refused: %.*s", (int)m->alen[OVL_A_TEXT],
			    (const char *)buf + m->off[OVL_A_TEXT]);
	}
	if (m->type != type)
		return fail("login server: unexpected answer");
	return 0;
}

/* Stores what LOGIN_OK carries after checking the certificate. */
static int take_login(struct state *st, const uint8_t *buf, const struct ovl_msg *m,
		      const uint8_t server_pub[SIG_PUB_LEN], const uint8_t device_pub[SIG_PUB_LEN],
		      struct cert *c)
{
	uint64_t now = (uint64_t)time(NULL);
	int ret;

	if (!ovl_has(m, OVL_A_CERT) ||
	    cert_decode(buf + m->off[OVL_A_CERT], m->alen[OVL_A_CERT], c))
		return fail("login server sent no valid certificate");
	ret = cert_verify(c, server_pub, now);
	if (ret || c->user_len != strlen(st->user) || memcmp(c->user, st->user, c->user_len) ||
	    memcmp(c->device_key, device_pub, SIG_PUB_LEN))
		return fail("login server's certificate does not check out (%s)",
			    ret ? strerror(-ret) : "not for this user and device");
	if (state_write_file(st, "cert", buf + m->off[OVL_A_CERT], m->alen[OVL_A_CERT]))
		return fail("cannot write %s/cert", st->dir);
	st->turn_user[0] = '\0';
	if (ovl_has(m, OVL_A_TURN_USER) && ovl_has(m, OVL_A_TURN_PASSWORD)) {
		snprintf(st->turn_user, sizeof(st->turn_user), "%.*s", (int)m->alen[OVL_A_TURN_USER],
			 (const char *)buf + m->off[OVL_A_TURN_USER]);
		snprintf(st->turn_password, sizeof(st->turn_password), "%.*s",
			 (int)m->alen[OVL_A_TURN_PASSWORD],
			 (const char *)buf + m->off[OVL_A_TURN_PASSWORD]);
		st->turn_expires = ovl_get_u64(buf, m, OVL_A_EXPIRES);
	}
	for (unsigned i = 0; i < m->n_addrs; i++) {
		union addr a;

		if (!ovl_get_addr(buf, m, i, &a))
			state_host_add(st, &a);
	}
	return 0;
}

static int device_key(struct state *st, uint8_t seed[SIG_SEED_LEN], uint8_t pub[SIG_PUB_LEN])
{
	char path[STATE_PATH_MAX];
	int ret = sig_seed_load(state_path(st, "device.key", path, sizeof(path)), seed);

	if (ret == -ENOENT) {
		ret = sig_keygen(seed, pub);
		if (!ret)
			ret = sig_seed_save(path, seed);
		st->registered = false;
	}
	if (ret)
		return fail("device key %s: %s", path,
			    ret == -EPERM ? "readable by others (chmod 600 it)" : strerror(-ret));
	return sig_pub_from_seed(seed, pub) ? fail("device key %s is unusable", path) : 0;
}

static int cmd_login(const char *user, const struct opts *o)
{
	uint8_t seed[SIG_SEED_LEN], dev[SIG_PUB_LEN], srv[SIG_PUB_LEN], buf[OVL_MAX_LEN];
	uint64_t t0 = clock_mono_ns();
	bool by_device = false;
	struct ovl_builder b;
	struct ovl_msg m;
	struct state st;
	struct cert c;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	int fd = -1, ret = 1, n, code = 0;

	if (!cert_user_valid(user, strlen(user)))
		return fail("user name '%s': 1-64 of a-z 0-9 . _ - starting with a letter or digit", user);
	if (state_open(&st, o->state_dir) || state_load(&st))
		return 1;
	if (!o->server && !st.server[0])
		return fail("no login server: give --server HOST:PORT");
	if (o->server)
		snprintf(st.server, sizeof(st.server), "%s", o->server);
	if (strcmp(st.user, user))
		st.registered = false;   /* registered for someone else */
	snprintf(st.user, sizeof(st.user), "%s", user);
	if (device_key(&st, seed, dev))
		return 1;
	n = connect_to(st.server, &fd);
	if (n) {
		ret = fail("cannot reach the login server at %s: %s", st.server, strerror(-n));
		goto out;
	}
	ctx = tls_client_ctx();
	ssl = ctx ? SSL_new(ctx) : NULL;
	if (!ssl || !SSL_set_fd(ssl, fd) || SSL_connect(ssl) != 1) {
		char e[256];

		ret = fail("TLS with the login server at %s failed: %s", st.server,
			   tls_error_string(e, sizeof(e)));
		goto out;
	}
	if (tls_peer_key(ssl, srv)) {
		ret = fail("the login server presented no Ed25519 key");
		goto out;
	}
	if (check_server_key(&st, o, srv))
		goto out;
	if (st.registered) {
		/* Device login: the key signs the server's challenge. */
		ovl_build(&b, buf, sizeof(buf), OVL_LOGIN_DEVICE, 1);
		ovl_put_str(&b, OVL_A_USER, user);
		ovl_put(&b, OVL_A_DEVICE_KEY, dev, sizeof(dev));
		n = ovl_finish(&b);
		if (n < 0 || tls_write_all(ssl, buf, (size_t)n)) {
			ret = fail("login server: connection lost");
			goto out;
		}
		if (expect(ssl, buf, sizeof(buf), &m, OVL_CHALLENGE, &code)) {
			if (code != OVL_E_UNKNOWN_DEVICE)
				goto out;
			fprintf(stderr, PROG ": this device is no longer registered: using the password\n");
			st.registered = false;
		} else {
			uint8_t sig[SIG_LEN], bound[32];

			if (!ovl_has(&m, OVL_A_NONCE) ||
			    tls_bind_nonce(ssl, buf + m.off[OVL_A_NONCE], bound) ||
			    cert_challenge_sign(seed, bound, user, strlen(user), sig)) {
				ret = fail("cannot answer the login challenge");
				goto out;
			}
			ovl_build(&b, buf, sizeof(buf), OVL_LOGIN_PROOF, 2);
			ovl_put(&b, OVL_A_SIGNATURE, sig, sizeof(sig));
			n = ovl_finish(&b);
			if (n < 0 || tls_write_all(ssl, buf, (size_t)n) ||
			    expect(ssl, buf, sizeof(buf), &m, OVL_LOGIN_OK, &code))
				goto out;
			by_device = true;
		}
	}
	if (!by_device) {
		char pw[PASSWORD_MAX + 2];
		size_t pwlen = 0;

		if (code == OVL_E_UNKNOWN_DEVICE) {
			/* The server closed after its error: start over. */
			SSL_free(ssl);
			close(fd);
			ssl = NULL;
			fd = -1;
			if (connect_to(st.server, &fd) || !(ssl = SSL_new(ctx)) || !SSL_set_fd(ssl, fd) ||
			    SSL_connect(ssl) != 1 || tls_peer_key(ssl, srv) || check_server_key(&st, o, srv)) {
				ret = fail("cannot reach the login server at %s again", st.server);
				goto out;
			}
		}
		if (read_password(o->password_file, pw, sizeof(pw), &pwlen))
			goto out;
		ovl_build(&b, buf, sizeof(buf), OVL_LOGIN_PASSWORD, 3);
		ovl_put_str(&b, OVL_A_USER, user);
		ovl_put(&b, OVL_A_PASSWORD, pw, pwlen);
		ovl_put(&b, OVL_A_DEVICE_KEY, dev, sizeof(dev));
		n = ovl_finish(&b);
		cred_wipe(pw, sizeof(pw));
		if (n < 0 || tls_write_all(ssl, buf, (size_t)n)) {
			cred_wipe(buf, sizeof(buf));
			ret = fail("login server: connection lost");
			goto out;
		}
		cred_wipe(buf, sizeof(buf));
		if (expect(ssl, buf, sizeof(buf), &m, OVL_LOGIN_OK, &code))
			goto out;
		st.registered = true;
	}
	if (take_login(&st, buf, &m, srv, dev, &c) || state_save(&st))
		goto out;
	{
		double ms = (double)(clock_mono_ns() - t0) / 1e6;
		time_t exp = (time_t)c.expires;
		char when[64];

		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&exp));
		printf("logged in as %s (%s login, %.1f ms); certificate valid until %s; "
		       "%d supernode%s in the host cache\n",
		       user, by_device ? "device" : "password", ms, when, st.n_hosts,
		       st.n_hosts == 1 ? "" : "s");
	}
	ret = 0;
out:
	cred_wipe(seed, sizeof(seed));
	if (ssl) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	return ret;
}

static int cmd_status(const struct opts *o)
{
	uint8_t buf[CERT_MAX_LEN], srv[SIG_PUB_LEN];
	char text[80], when[64], hex[65];
	uint64_t now = (uint64_t)time(NULL);
	struct state st;
	struct cert c;
	time_t exp;
	int n, ret;

	if (state_open(&st, o->state_dir) || state_load(&st))
		return 1;
	if (!st.user[0])
		return fail("not logged in (state in %s): run parley login USER --server HOST:PORT",
			    st.dir);
	printf("user            %s\nlogin server    %s\n", st.user, st.server);
	n = state_read_file(&st, "server.pub", text, sizeof(text) - 1);
	if (n < 0)
		return fail("%s/server.pub: %s", st.dir, strerror(-n));
	text[n] = '\0';
	text[strcspn(text, "\n")] = '\0';
	if (sig_pub_parse_hex(text, srv))
		return fail("%s/server.pub is malformed", st.dir);
	printf("server key      %s\n", text);
	n = state_read_file(&st, "cert", buf, sizeof(buf));
	if (n < 0)
		return fail("no certificate in %s: run parley login", st.dir);
	if (cert_decode(buf, (size_t)n, &c))
		return fail("certificate in %s/cert is malformed: run parley login", st.dir);
	sig_pub_hex(c.device_key, hex);
	printf("device key      %s\n", hex);
	exp = (time_t)c.expires;
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&exp));
	ret = cert_verify(&c, srv, now);
	if (ret == -EKEYEXPIRED)
		return fail("certificate expired at %s: run parley login", when);
	if (ret)
		return fail("certificate in %s does not verify (%s): run parley login", st.dir,
			    strerror(-ret));
	printf("certificate     valid until %s (%" PRIu64 " s left)\n", when, c.expires - now);
	if (st.turn_user[0])
		printf("TURN            %s, %s\n", st.turn_user,
		       st.turn_expires > now ? "valid" : "expired");
	printf("host cache      %d supernodes\n", st.n_hosts);
	for (int i = 0; i < st.n_hosts && i < 7; i++) {
		char a[ADDR_STRLEN];

		printf("                %s\n", addr_format(&st.hosts[i], a, sizeof(a)));
	}
	return 0;
}

/* ---- command line -------------------------------------------------------- */

static void usage(FILE *f)
{
	fputs("usage: parley [--state DIR] COMMAND [options]\n\n"
	      "  login USER [--server HOST:PORT] [--server-key HEX] [--password-file F]\n"
	      "        log in: with the password the first time on this device (stdin or\n"
	      "        --password-file), with the device's key afterwards; the server's key\n"
	      "        is pinned at first use unless --server-key gives it\n"
	      "  status\n"
	      "        user, login server, certificate expiry, host cache\n\n"
	      "  --state DIR   where keys, certificate and caches live (default\n"
	      "                $XDG_STATE_HOME/parley or ~/.local/state/parley)\n",
	      f);
}

enum { OPT_STATE = 256, OPT_SERVER, OPT_SERVER_KEY, OPT_PASSWORD_FILE, OPT_HELP, OPT_VERSION };

static const struct option options[] = {
	{ "state", required_argument, NULL, OPT_STATE },
	{ "server", required_argument, NULL, OPT_SERVER },
	{ "server-key", required_argument, NULL, OPT_SERVER_KEY },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	const char *cmd;
	int opt;

	signal(SIGPIPE, SIG_IGN);
	opterr = 0;
	/* Options may come before or after the command (GNU getopt permutes). */
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_STATE:
			o.state_dir = optarg;
			break;
		case OPT_SERVER:
			o.server = optarg;
			break;
		case OPT_SERVER_KEY:
			o.server_key = optarg;
			break;
		case OPT_PASSWORD_FILE:
			o.password_file = optarg;
			break;
		case OPT_HELP:
			usage(stdout);
			return 0;
		case OPT_VERSION:
			puts(PROG " 0.1.0");
			return 0;
		default:
			if (optopt)
				return fail("%s: missing value", argv[optind - 1]) + 1;
			return fail("unknown option %s (see --help)", argv[optind - 1]) + 1;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind++];
	if (!strcmp(cmd, "login")) {
		if (optind + 1 != argc)
			return fail("login takes one user name (see --help)") + 1;
		return cmd_login(argv[optind], &o);
	}
	if (!strcmp(cmd, "status")) {
		if (optind != argc)
			return fail("status takes no arguments") + 1;
		return cmd_status(&o);
	}
	return fail("unknown command '%s' (login, status; see --help)", cmd) + 1;
}

/* parley-login: the network's one central component. Accounts, the
 * password check, the user certificates, the bootstrap supernode list
 * (server.h); and the administration of accounts from the command line. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/cred.h"
#include "proto/sig.h"
#include "src/common/flags.h"
#include "src/common/log.h"
#include "src/login/accounts.h"
#include "src/login/server.h"

#define PROG "parley-login"
#define KEY_FILE "login.key"
#define PASSWORD_MAX 1024

enum {
	OPT_STATE = 256, OPT_LISTEN, OPT_HTTP, OPT_BOOTSTRAP, OPT_AUTH_SECRET, OPT_TURN_TTL,
	OPT_CERT_LIFETIME, OPT_THREADS, OPT_LOG_LEVEL, OPT_ADD_USER, OPT_PASSWD, OPT_DEL_USER,
	OPT_PASSWORD_FILE, OPT_SHOW_KEY, OPT_HELP, OPT_VERSION,
};

static const struct option options[] = {
	{ "state", required_argument, NULL, OPT_STATE },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "http", required_argument, NULL, OPT_HTTP },
	{ "bootstrap", required_argument, NULL, OPT_BOOTSTRAP },
	{ "auth-secret", required_argument, NULL, OPT_AUTH_SECRET },
	{ "turn-ttl", required_argument, NULL, OPT_TURN_TTL },
	{ "cert-lifetime", required_argument, NULL, OPT_CERT_LIFETIME },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "add-user", required_argument, NULL, OPT_ADD_USER },
	{ "passwd", required_argument, NULL, OPT_PASSWD },
	{ "del-user", required_argument, NULL, OPT_DEL_USER },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "show-key", no_argument, NULL, OPT_SHOW_KEY },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fputs("usage: parley-login --state DIR [options]            run the login server\n"
	      "       parley-login --state DIR --add-user NAME      (password on stdin or --password-file)\n"
	      "       parley-login --state DIR --passwd NAME | --del-user NAME | --show-key\n\n"
	      "  --state DIR             accounts.db and the server key (login.key, made on first use)\n"
	      "  --listen ADDR:PORT      TLS 1.3 listener (default 0.0.0.0:4433)\n"
	      "  --http ADDR:PORT        GET /version, /bootstrap, /metrics (default: none)\n"
	      "  --bootstrap ADDR:PORT   a supernode clients may start from; repeatable\n"
	      "  --auth-secret S         TURN shared secret of the supernodes (parley-sn\n"
	      "                          --auth-secret): logins then carry TURN credentials\n"
	      "  --turn-ttl S            lifetime of those credentials (default 86400)\n"
	      "  --cert-lifetime S       lifetime of a user certificate (default 86400)\n"
	      "  --threads N             connections served at once (default 8)\n"
	      "  --password-file F       read the password from F (first line) instead of stdin\n"
	      "  --show-key              print the server's public key (clients pin it)\n"
	      "  --log-level L           error, warn, info (default) or debug\n"
	      "  --help, --version\n",
	      f);
}

static int bad(const char *flag, const char *value, const char *expected)
{
	fprintf(stderr, PROG ": --%s '%s': expected %s\n", flag, value ? value : "", expected);
	return 2;
}

/* Reads a password: the first line of path, or of stdin. */
static int read_password(const char *path, char *out, size_t cap, size_t *len)
{
	FILE *f = path ? fopen(path, "r") : stdin;
	size_t n;

	if (!f) {
		fprintf(stderr, PROG ": --password-file %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (!fgets(out, (int)cap, f)) {
		fprintf(stderr, PROG ": no password given (%s is empty)\n", path ? path : "stdin");
		if (path)
			fclose(f);
		return -EINVAL;
	}
	if (path)
		fclose(f);
	n = strcspn(out, "\r\n");
	out[n] = '\0';
	*len = n;
	return 0;
}

/* The server key: loaded from the state directory, made on first use. */
static int server_key(const char *dir, uint8_t seed[SIG_SEED_LEN], uint8_t pub[SIG_PUB_LEN])
{
	char path[4096];
	int ret;

	snprintf(path, sizeof(path), "%s/%s", dir, KEY_FILE);
	ret = sig_seed_load(path, seed);
	if (ret == -ENOENT) {
		ret = sig_keygen(seed, pub);
		if (!ret)
			ret = sig_seed_save(path, seed);
		if (!ret)
			log_info("made a new server key in %s", path);
	}
	if (ret) {
		fprintf(stderr, PROG ": server key %s: %s\n", path,
			ret == -EPERM ? "readable by others (chmod 600 it)" : strerror(-ret));
		return ret;
	}
	return sig_pub_from_seed(seed, pub);
}

static int admin(const char *dir, int op, const char *name, const char *pwfile)
{
	char path[4096], pw[PASSWORD_MAX + 2];
	struct acct_db *db;
	size_t len = 0;
	int ret;

	snprintf(path, sizeof(path), "%s/accounts.db", dir);
	ret = acct_open(path, &db);
	if (ret) {
		fprintf(stderr, PROG ": cannot open %s: %s\n", path, acct_last_error(NULL));
		return 1;
	}
	if (op != OPT_DEL_USER && read_password(pwfile, pw, sizeof(pw), &len)) {
		acct_close(db);
		return 1;
	}
	if (op == OPT_ADD_USER)
		ret = acct_add_user(db, name, pw, len);
	else if (op == OPT_PASSWD)
		ret = acct_set_password(db, name, pw, len);
	else
		ret = acct_del_user(db, name);
	cred_wipe(pw, sizeof(pw));
	acct_close(db);
	switch (ret) {
	case 0:
		printf("%s: user '%s' %s\n", PROG, name,
		       op == OPT_ADD_USER ? "added" : op == OPT_PASSWD ? "password changed" : "deleted");
		return 0;
	case -EEXIST:
		fprintf(stderr, PROG ": user '%s' already exists\n", name);
		break;
	case -ENOENT:
		fprintf(stderr, PROG ": no user '%s'\n", name);
		break;
	case -EINVAL:
		fprintf(stderr, PROG ": user names are 1-64 of a-z 0-9 . _ - (starting with a letter or "
				"digit); passwords 8-1024 bytes\n");
		break;
	default:
		fprintf(stderr, PROG ": %s\n", strerror(-ret));
	}
	return 1;
}

int main(int argc, char **argv)
{
	struct login_config cfg = { 0 };
	const char *admin_name = NULL, *pwfile = NULL;
	uint8_t seed[SIG_SEED_LEN], pub[SIG_PUB_LEN];
	struct login_server *s;
	int opt, admin_op = 0, ret, sig;
	bool show_key = false;
	uint32_t v;
	sigset_t set;

	log_set_tag(PROG);
	cfg.turn_ttl_s = 86400;
	cfg.cert_lifetime_s = 86400;
	cfg.threads = 8;
	addr_parse("0.0.0.0:4433", 4433, &cfg.listen);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_STATE:
			cfg.state_dir = optarg;
			break;
		case OPT_LISTEN:
			if (addr_parse(optarg, 4433, &cfg.listen))
				return bad("listen", optarg, "IP:PORT");
			break;
		case OPT_HTTP:
			if (addr_parse(optarg, 0, &cfg.http) || !addr_port(&cfg.http))
				return bad("http", optarg, "IP:PORT");
			break;
		case OPT_BOOTSTRAP:
			if (cfg.n_bootstrap == LOGIN_MAX_BOOTSTRAP)
				return bad("bootstrap", optarg, "at most 32 of them");
			if (addr_parse(optarg, 3478, &cfg.bootstrap[cfg.n_bootstrap]))
				return bad("bootstrap", optarg, "IP:PORT of a supernode");
			cfg.n_bootstrap++;
			break;
		case OPT_AUTH_SECRET:
			if (!*optarg)
				return bad("auth-secret", optarg, "a non-empty secret");
			cfg.auth_secret = optarg;
			break;
		case OPT_TURN_TTL:
			if (flags_parse_u32(optarg, 60, 30 * 86400, &cfg.turn_ttl_s))
				return bad("turn-ttl", optarg, "seconds from 60 to 2592000");
			break;
		case OPT_CERT_LIFETIME:
			if (flags_parse_u32(optarg, 1, 365 * 86400, &cfg.cert_lifetime_s))
				return bad("cert-lifetime", optarg, "seconds from 1 to 31536000");
			break;
		case OPT_THREADS:
			if (flags_parse_u32(optarg, 1, 256, &v))
				return bad("threads", optarg, "a number from 1 to 256");
			cfg.threads = (int)v;
			break;
		case OPT_LOG_LEVEL:
			if (log_level_parse(optarg, &log_level))
				return bad("log-level", optarg, "error, warn, info or debug");
			break;
		case OPT_ADD_USER:
		case OPT_PASSWD:
		case OPT_DEL_USER:
			if (admin_op)
				return bad(options[opt - OPT_STATE].name, optarg, "one account operation at a time");
			admin_op = opt;
			admin_name = optarg;
			break;
		case OPT_PASSWORD_FILE:
			pwfile = optarg;
			break;
		case OPT_SHOW_KEY:
			show_key = true;
			break;
		case OPT_HELP:
			usage(stdout);
			return 0;
		case OPT_VERSION:
			puts(PROG " 0.1.0");
			return 0;
		default:
			if (optopt)
				fprintf(stderr, PROG ": %s: missing value\n", argv[optind - 1]);
			else
				fprintf(stderr, PROG ": unknown option %s (see --help)\n", argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	if (!cfg.state_dir) {
		fprintf(stderr, PROG ": --state DIR is required (see --help)\n");
		return 2;
	}
	if (mkdir(cfg.state_dir, 0700) && errno != EEXIST) {
		fprintf(stderr, PROG ": --state %s: %s\n", cfg.state_dir, strerror(errno));
		return 1;
	}
	if (admin_op)
		return admin(cfg.state_dir, admin_op, admin_name, pwfile);
	if (server_key(cfg.state_dir, seed, pub))
		return 1;
	if (show_key) {
		char hex[65];

		sig_pub_hex(pub, hex);
		puts(hex);
		return 0;
	}
	/* Signals are taken by sigwait on this thread; the server's threads
	 * inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	ret = login_start(&cfg, seed, &s);
	cred_wipe(seed, sizeof(seed));
	if (ret)
		return 1;
	{
		char a[ADDR_STRLEN], hex[65];

		sig_pub_hex(pub, hex);
		log_info("listening on %s (TLS 1.3), %d threads, %d bootstrap supernodes, key %s",
			 addr_format(&cfg.listen, a, sizeof(a)), cfg.threads, cfg.n_bootstrap, hex);
	}
	sigwait(&set, &sig);
	log_info("stopping (%s)", strsignal(sig));
	login_stop(s);
	return 0;
}

/* server: see server.h. */
#include "src/login/server.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <pthread.h>
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
#include "src/common/httpd.h"
#include "src/common/log.h"
#include "src/common/tls.h"
#include "src/login/accounts.h"

#define VERSION "0.1.0"
#define MSG_CAP 4096
#define ACCOUNTS_FILE "accounts.db"
/* Failed logins per source IP: a burst, then one per FAIL_REFILL_MS. */
#define FAIL_SLOTS 4096
#define FAIL_BURST 10
#define FAIL_REFILL_MS 5000

/* A source's failure budget. The table is small and shared by the
 * threads under a mutex: the login server is not on a packet path, and a
 * failed login costs a scrypt (~200 ms) anyway. Colliding sources share
 * a slot, which errs on the side of refusing. */
struct fail_slot {
	uint64_t key;          /* hash of the source IP, 0 = empty */
	uint32_t tokens;
	uint64_t last_ms;
};

struct login_thread {
	struct login_server *s;
	pthread_t tid;
	struct acct_db *db;
	bool started;
};

struct login_server {
	struct login_config cfg;
	uint8_t seed[SIG_SEED_LEN];
	SSL_CTX *ctx;
	int fd;
	struct httpd *httpd;
	struct login_stats st;
	struct login_thread *threads;
	_Atomic bool stopping;
	pthread_mutex_t fail_lock;
	struct fail_slot fail[FAIL_SLOTS];
	uint64_t fail_seed;
};

static void inc(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* ---- failed-login budget per source --------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct fail_slot *fail_slot_of(struct login_server *s, const union addr *src)
{
	union addr ip = *src;
	uint64_t h;

	addr_set_port(&ip, 0);   /* the address, whatever port it calls from */
	h = addr_hash(&ip, s->fail_seed) | 1;
	struct fail_slot *f;
	uint64_t now = now_ms();

	f = &s->fail[h % FAIL_SLOTS];
	if (f->key != h) {
		f->key = h;
		f->tokens = FAIL_BURST;
		f->last_ms = now;
	}
	while (f->tokens < FAIL_BURST && now - f->last_ms >= FAIL_REFILL_MS) {
		f->tokens++;
		f->last_ms += FAIL_REFILL_MS;
	}
	if (f->tokens == FAIL_BURST)
		f->last_ms = now;
	return f;
}

/* True when src may try a password now. */
static bool fail_allow(struct login_server *s, const union addr *src)
{
	bool ok;

	pthread_mutex_lock(&s->fail_lock);
	ok = fail_slot_of(s, src)->tokens > 0;
	pthread_mutex_unlock(&s->fail_lock);
	return ok;
}

static void fail_count(struct login_server *s, const union addr *src)
{
	struct fail_slot *f;

	pthread_mutex_lock(&s->fail_lock);
	f = fail_slot_of(s, src);
	if (f->tokens)
		f->tokens--;
	pthread_mutex_unlock(&s->fail_lock);
}

/* ---- answers ------------------------------------------------------------ */

static int send_error(SSL *ssl, uint32_t id, enum ovl_error code, const char *text)
{
	uint8_t buf[640];
	int n = ovl_build_error(buf, sizeof(buf), id, code, text);

	return n < 0 ? n : tls_write_all(ssl, buf, (size_t)n);
}

static void put_bootstrap(struct login_server *s, struct ovl_builder *b)
{
	for (int i = 0; i < s->cfg.n_bootstrap; i++)
		ovl_put_addr(b, &s->cfg.bootstrap[i]);
}

/* Issues the certificate and TURN credentials for user's device. */
static int send_login_ok(struct login_server *s, SSL *ssl, uint32_t id, const char *user,
			 size_t user_len, const uint8_t device_key[SIG_PUB_LEN])
{
	uint64_t now = (uint64_t)time(NULL);
	uint8_t buf[MSG_CAP], cbuf[CERT_MAX_LEN];
	struct ovl_builder b;
	struct cert c;
	int n, clen;

	if (cert_issue(&c, user, user_len, device_key, now, s->cfg.cert_lifetime_s, s->seed))
		return send_error(ssl, id, OVL_E_SERVER, "cannot issue the certificate");
	clen = cert_encode(&c, cbuf, sizeof(cbuf));
	if (clen < 0)
		return send_error(ssl, id, OVL_E_SERVER, "cannot encode the certificate");
	ovl_build(&b, buf, sizeof(buf), OVL_LOGIN_OK, id);
	ovl_put(&b, OVL_A_CERT, cbuf, (size_t)clen);
	ovl_put_u64(&b, OVL_A_TIME, now);
	if (s->cfg.auth_secret) {
		char tuser[96], tpass[CRED_SECRET_PASSWORD_LEN + 1];
		uint64_t exp = now + s->cfg.turn_ttl_s;
		int ul = snprintf(tuser, sizeof(tuser), "%llu:%.*s", (unsigned long long)exp,
				  (int)user_len, user);

		if (ul < 0 || (size_t)ul >= sizeof(tuser) ||
		    cred_secret_password((const uint8_t *)s->cfg.auth_secret,
					 strlen(s->cfg.auth_secret), tuser, (size_t)ul, tpass,
					 sizeof(tpass)) < 0)
			return send_error(ssl, id, OVL_E_SERVER, "cannot make TURN credentials");
		ovl_put(&b, OVL_A_TURN_USER, tuser, (size_t)ul);
		ovl_put_str(&b, OVL_A_TURN_PASSWORD, tpass);
		ovl_put_u64(&b, OVL_A_EXPIRES, exp);
		cred_wipe(tpass, sizeof(tpass));
	}
	put_bootstrap(s, &b);
	n = ovl_finish(&b);
	if (n < 0)
		return send_error(ssl, id, OVL_E_SERVER, "answer too long");
	return tls_write_all(ssl, buf, (size_t)n);
}

/* ---- the exchanges --------------------------------------------------------- */

static bool user_of(const uint8_t *buf, const struct ovl_msg *m, char *user, size_t *len)
{
	*len = m->alen[OVL_A_USER];
	if (!ovl_has(m, OVL_A_USER) || !cert_user_valid((const char *)buf + m->off[OVL_A_USER], *len))
		return false;
	memcpy(user, buf + m->off[OVL_A_USER], *len);
	user[*len] = '\0';
	return true;
}

static int on_password(struct login_thread *t, SSL *ssl, uint8_t *buf, const struct ovl_msg *m,
		       const union addr *src)
{
	struct login_server *s = t->s;
	char user[CERT_USER_MAX + 1];
	size_t ulen;
	int ret;

	if (!user_of(buf, m, user, &ulen) || !ovl_has(m, OVL_A_PASSWORD) ||
	    !ovl_has(m, OVL_A_DEVICE_KEY)) {
		inc(&s->st.bad_requests);
		return send_error(ssl, m->id, OVL_E_BAD_REQUEST, "password login needs user, password, device key");
	}
	if (!fail_allow(s, src)) {
		inc(&s->st.rate_limited);
		return send_error(ssl, m->id, OVL_E_TOO_MANY,
				  "too many failed logins from this address: try again later");
	}
	ret = acct_check_password(t->db, user, (const char *)buf + m->off[OVL_A_PASSWORD],
				  m->alen[OVL_A_PASSWORD]);
	cred_wipe(buf + m->off[OVL_A_PASSWORD], m->alen[OVL_A_PASSWORD]);
	if (ret == -EINVAL) {
		inc(&s->st.bad_requests);
		return send_error(ssl, m->id, OVL_E_BAD_REQUEST, "password too long");
	}
	if (ret == -ENOENT || ret == -EACCES) {
		fail_count(s, src);
		inc(&s->st.password_failed);
		log_info("password login for '%s' refused", user);
		return send_error(ssl, m->id, OVL_E_UNAUTHORIZED, "wrong user name or password");
	}
	if (ret == 0)
		ret = acct_add_device(t->db, user, buf + m->off[OVL_A_DEVICE_KEY], (uint64_t)time(NULL));
	if (ret == -ENOSPC) {
		inc(&s->st.password_failed);
		return send_error(ssl, m->id, OVL_E_TOO_MANY, "too many devices registered for this user");
	}
	if (ret) {
		log_warn("account store: %s", acct_last_error(t->db));
		return send_error(ssl, m->id, OVL_E_SERVER, "account store unavailable");
	}
	inc(&s->st.password_ok);
	log_info("'%s' logged in with the password; device registered", user);
	return send_login_ok(s, ssl, m->id, user, ulen, buf + m->off[OVL_A_DEVICE_KEY]);
}

/* 0 when key is one of user's devices, -ENOENT when not (or no such
 * user), -errno when the store fails. Reads only: nothing changes before
 * the device has proved itself. */
static int device_registered(struct acct_db *db, const char *user, const uint8_t key[SIG_PUB_LEN])
{
	struct acct_device d[ACCT_MAX_DEVICES];
	int n = acct_list_devices(db, user, d, ACCT_MAX_DEVICES);

	if (n < 0)
		return n;
	for (int i = 0; i < n; i++)
		if (cred_equal(d[i].pub, key, SIG_PUB_LEN))
			return 0;
	return -ENOENT;
}

static int on_device(struct login_thread *t, SSL *ssl, uint8_t *buf, const struct ovl_msg *m,
		     const union addr *src)
{
	struct login_server *s = t->s;
	uint8_t nonce[32], key[SIG_PUB_LEN], out[128];
	char user[CERT_USER_MAX + 1];
	struct ovl_builder b;
	struct ovl_msg p;
	size_t ulen;
	int n, ret;

	if (!user_of(buf, m, user, &ulen) || !ovl_has(m, OVL_A_DEVICE_KEY)) {
		inc(&s->st.bad_requests);
		return send_error(ssl, m->id, OVL_E_BAD_REQUEST, "device login needs user and device key");
	}
	memcpy(key, buf + m->off[OVL_A_DEVICE_KEY], sizeof(key));
	ret = device_registered(t->db, user, key);
	if (ret == -ENOENT) {
		inc(&s->st.unknown_device);
		return send_error(ssl, m->id, OVL_E_UNKNOWN_DEVICE,
				  "this device is not registered: log in with the password");
	}
	if (ret) {
		log_warn("account store: %s", acct_last_error(t->db));
		return send_error(ssl, m->id, OVL_E_SERVER, "account store unavailable");
	}
	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		return send_error(ssl, m->id, OVL_E_SERVER, "no randomness");
	ovl_build(&b, out, sizeof(out), OVL_CHALLENGE, m->id);
	ovl_put(&b, OVL_A_NONCE, nonce, sizeof(nonce));
	n = ovl_finish(&b);
	if (n < 0 || tls_write_all(ssl, out, (size_t)n))
		return -EIO;
	n = tls_read_msg(ssl, buf, MSG_CAP);
	if (n <= 0)
		return n ? n : -EIO;
	if (ovl_parse(buf, (size_t)n, &p) || p.type != OVL_LOGIN_PROOF || !ovl_has(&p, OVL_A_SIGNATURE)) {
		inc(&s->st.bad_requests);
		return send_error(ssl, p.id, OVL_E_BAD_REQUEST, "expected the challenge's proof");
	}
	/* The device signs the nonce as bound to this TLS connection. */
	if (tls_bind_nonce(ssl, nonce, nonce))
		return send_error(ssl, p.id, OVL_E_SERVER, "cannot bind the challenge");
	if (!cert_challenge_verify(key, nonce, user, ulen, buf + p.off[OVL_A_SIGNATURE])) {
		fail_count(s, src);
		inc(&s->st.device_failed);
		log_info("device login for '%s' refused: bad signature", user);
		return send_error(ssl, p.id, OVL_E_UNAUTHORIZED, "the device's signature does not verify");
	}
	/* Only a proven device refreshes its last use. */
	acct_check_device(t->db, user, key, (uint64_t)time(NULL));
	inc(&s->st.device_ok);
	log_debug("'%s' logged in with a device key", user);
	return send_login_ok(s, ssl, p.id, user, ulen, key);
}

static void serve(struct login_thread *t, int fd)
{
	struct login_server *s = t->s;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	uint8_t buf[MSG_CAP];
	SSL *ssl = SSL_new(s->ctx);
	union addr src = { 0 };

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		addr_from_sockaddr((struct sockaddr *)&ss, sl, &src);

	inc(&s->st.connections);
	tls_set_timeouts(fd, LOGIN_IO_TIMEOUT_MS);
	/* Small messages answered at once: no Nagle delay on top of a
	 * delayed ACK. */
	sock_tcp_nodelay(fd);
	if (!ssl || !SSL_set_fd(ssl, fd) || SSL_accept(ssl) != 1) {
		char e[256];

		inc(&s->st.tls_failures);
		log_debug("TLS handshake failed: %s", tls_error_string(e, sizeof(e)));
		goto out;
	}
	/* A connection carries one login (or bootstrap queries); bounded so
	 * nobody keeps a thread with an endless stream of small requests. */
	for (int turn = 0; turn < 8; turn++) {
		struct ovl_msg m;
		int n = tls_read_msg(ssl, buf, sizeof(buf));

		if (n <= 0 || ovl_parse(buf, (size_t)n, &m)) {
			if (n != 0 && n != -ETIMEDOUT) {
				inc(&s->st.bad_requests);
				send_error(ssl, 0, OVL_E_BAD_REQUEST, "not an overlay message");
			}
			break;
		}
		if (m.type == OVL_BOOTSTRAP_GET) {
			struct ovl_builder b;

			inc(&s->st.bootstrap);
			ovl_build(&b, buf, sizeof(buf), OVL_BOOTSTRAP, m.id);
			put_bootstrap(s, &b);
			n = ovl_finish(&b);
			if (n < 0 || tls_write_all(ssl, buf, (size_t)n))
				break;
			continue;
		}
		if (m.type == OVL_LOGIN_PASSWORD)
			on_password(t, ssl, buf, &m, &src);
		else if (m.type == OVL_LOGIN_DEVICE)
			on_device(t, ssl, buf, &m, &src);
		else {
			inc(&s->st.bad_requests);
			send_error(ssl, m.id, OVL_E_BAD_REQUEST, "unexpected message");
		}
		break;
	}
	SSL_shutdown(ssl);
out:
	SSL_free(ssl);
	close(fd);
}

static void *thread_main(void *arg)
{
	struct login_thread *t = arg;

	while (!atomic_load(&t->s->stopping)) {
		int fd = accept4(t->s->fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (!atomic_load(&t->s->stopping))
				log_warn("accept: %s", strerror(errno));
			if (errno == EMFILE || errno == ENFILE)
				usleep(100000);
			else if (atomic_load(&t->s->stopping) || errno == EINVAL)
				break;
			continue;
		}
		serve(t, fd);
	}
	return NULL;
}

/* ---- HTTP: the start-up check and the bootstrap list -------------------- */

static int render(void *ctx, const char *path, char *buf, size_t cap)
{
	struct login_server *s = ctx;
	size_t n = 0;

#define OUT(...) n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, __VA_ARGS__)
	if (!strcmp(path, "/version")) {
		OUT("parley-login %s\n", VERSION);
	} else if (!strcmp(path, "/bootstrap")) {
		for (int i = 0; i < s->cfg.n_bootstrap; i++) {
			char a[ADDR_STRLEN];

			OUT("%s\n", addr_format(&s->cfg.bootstrap[i], a, sizeof(a)));
		}
	} else if (!strcmp(path, "/metrics")) {
		const struct {
			const char *name;
			_Atomic uint64_t *v;
		} m[] = {
			{ "connections_total", &s->st.connections },
			{ "tls_failures_total", &s->st.tls_failures },
			{ "password_logins_total", &s->st.password_ok },
			{ "password_logins_refused_total", &s->st.password_failed },
			{ "device_logins_total", &s->st.device_ok },
			{ "device_logins_refused_total", &s->st.device_failed },
			{ "unknown_devices_total", &s->st.unknown_device },
			{ "bad_requests_total", &s->st.bad_requests },
			{ "bootstrap_requests_total", &s->st.bootstrap },
			{ "rate_limited_total", &s->st.rate_limited },
		};

		for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
			OUT("parley_login_%s %llu\n", m[i].name,
			    (unsigned long long)atomic_load_explicit(m[i].v, memory_order_relaxed));
	} else {
		return -1;
	}
#undef OUT
	return n < cap ? (int)n : (int)cap;
}

/* ---- start and stop ------------------------------------------------------ */

static int set_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK))
		return -errno;
	return 0;
}

void login_stop(struct login_server *s)
{
	if (!s)
		return;
	atomic_store(&s->stopping, true);
	/* Wakes the threads blocked in accept. */
	if (s->fd >= 0)
		shutdown(s->fd, SHUT_RDWR);
	for (int i = 0; s->threads && i < s->cfg.threads; i++) {
		if (s->threads[i].started)
			pthread_join(s->threads[i].tid, NULL);
		acct_close(s->threads[i].db);
	}
	httpd_stop(s->httpd);
	if (s->fd >= 0)
		close(s->fd);
	SSL_CTX_free(s->ctx);
	cred_wipe(s->seed, sizeof(s->seed));
	free(s->threads);
	free(s);
}

int login_start(const struct login_config *cfg, const uint8_t seed[32], struct login_server **out)
{
	struct login_server *s = calloc(1, sizeof(*s));
	char path[4096], err[256], a[ADDR_STRLEN];
	int ret;

	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->fd = -1;
	pthread_mutex_init(&s->fail_lock, NULL);
	if (RAND_bytes((uint8_t *)&s->fail_seed, sizeof(s->fail_seed)) != 1)
		s->fail_seed = (uint64_t)time(NULL);
	memcpy(s->seed, seed, sizeof(s->seed));
	s->ctx = tls_server_ctx(seed, err, sizeof(err));
	if (!s->ctx) {
		log_error("%s", err);
		ret = -EINVAL;
		goto fail;
	}
	s->threads = calloc((size_t)cfg->threads, sizeof(*s->threads));
	if (!s->threads) {
		ret = -ENOMEM;
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/%s", cfg->state_dir, ACCOUNTS_FILE);
	for (int i = 0; i < cfg->threads; i++) {
		s->threads[i].s = s;
		ret = acct_open(path, &s->threads[i].db);
		if (ret) {
			log_error("cannot open the account store %s: %s", path, acct_last_error(NULL));
			goto fail;
		}
	}
	s->fd = sock_tcp_listen(&cfg->listen, false, 256);
	if (s->fd < 0) {
		ret = s->fd;
		log_error("cannot listen on %s: %s", addr_format(&cfg->listen, a, sizeof(a)),
			  strerror(-ret));
		goto fail;
	}
	/* The threads accept with blocking calls. */
	ret = set_blocking(s->fd);
	if (ret)
		goto fail;
	if (cfg->http.sa.sa_family != AF_UNSPEC) {
		ret = httpd_start(&cfg->http, 1 << 16, render, s, &s->httpd);
		if (ret) {
			log_error("cannot serve HTTP on %s: %s", addr_format(&cfg->http, a, sizeof(a)),
				  strerror(-ret));
			goto fail;
		}
	}
	for (int i = 0; i < cfg->threads; i++) {
		ret = -pthread_create(&s->threads[i].tid, NULL, thread_main, &s->threads[i]);
		if (ret)
			goto fail;
		s->threads[i].started = true;
	}
	*out = s;
	return 0;
fail:
	login_stop(s);
	return ret;
}

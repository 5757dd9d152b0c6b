/* server: parley-login's TLS 1.3 listener and the login exchanges.
 *
 *   password login (once per device):
 *     C: LOGIN_PASSWORD {USER, PASSWORD, DEVICE_KEY}
 *     S: LOGIN_OK {CERT, TURN_USER, TURN_PASSWORD, EXPIRES, TIME, ADDR*}
 *        after checking the password (scrypt) and registering the device
 *   device login (every later time; no password leaves the device):
 *     C: LOGIN_DEVICE {USER, DEVICE_KEY}
 *     S: CHALLENGE {NONCE}            (32 random bytes)
 *     C: LOGIN_PROOF {SIGNATURE}      (the device key over the nonce, bound to
 *                                      this TLS connection, and the user)
 *     S: LOGIN_OK {...}
 *   C: BOOTSTRAP_GET  ->  S: BOOTSTRAP {ADDR*}
 *   any failure: ERROR {ERROR_CODE, TEXT} and the connection closes.
 *
 * The certificate binds user and device key until its expiry under the
 * server's Ed25519 key (proto/cert.h); supernodes and peers check it
 * offline, so the login server is never on a call's path and sessions
 * outlive its outages. The TURN credentials are the shared-secret scheme
 * parley-sn (--auth-secret) and coturn accept.
 *
 * Threads: a fixed pool, each accepting on the shared socket and serving
 * one connection at a time with blocking I/O under a deadline, and each
 * with its own handle on the account database (WAL lets them share the
 * file). Password checks cost a scrypt each, which bounds how fast anyone
 * can guess. */
#ifndef PARLEY_LOGIN_SERVER_H
#define PARLEY_LOGIN_SERVER_H

#include <stdatomic.h>
#include <stdint.h>

#include "proto/addr.h"

#define LOGIN_MAX_BOOTSTRAP 32
#define LOGIN_IO_TIMEOUT_MS 5000

struct login_config {
	const char *state_dir;       /* accounts.db and login.key live here */
	union addr listen;           /* TLS listener */
	union addr http;             /* /version, /bootstrap, /metrics; AF_UNSPEC = none */
	union addr bootstrap[LOGIN_MAX_BOOTSTRAP]; /* supernodes published to clients */
	int n_bootstrap;
	const char *auth_secret;     /* TURN shared secret; NULL = no TURN credentials */
	uint32_t turn_ttl_s;         /* lifetime of the TURN credentials */
	uint32_t cert_lifetime_s;    /* lifetime of a user certificate */
	int threads;
};

/* Counters, updated by the threads (relaxed atomics), read by /metrics. */
struct login_stats {
	_Atomic uint64_t connections, tls_failures;
	_Atomic uint64_t password_ok, password_failed;
	_Atomic uint64_t device_ok, device_failed, unknown_device;
	_Atomic uint64_t bad_requests, bootstrap;
	_Atomic uint64_t rate_limited;     /* password tries refused: too many failures */
};

struct login_server;

/* Opens the listener and the HTTP endpoint and starts the threads, with
 * the server key of this seed. Returns 0 and *out, or -errno after
 * logging one line that names what failed. */
int login_start(const struct login_config *cfg, const uint8_t seed[32], struct login_server **out);

/* Stops accepting, lets the connections in hand finish (bounded by
 * their deadline), joins the threads and frees. Takes NULL. */
void login_stop(struct login_server *s);

#endif

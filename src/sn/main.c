/* parley-sn: the supernode's relay (STUN/TURN over UDP and TCP on
 * per-core io_uring workers). */
#include <errno.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "io/sock.h"
#include "proto/cred.h"
#include "src/common/httpd.h"
#include "src/common/log.h"
#include "src/sn/config.h"
#include "src/sn/overlay.h"
#include "src/sn/worker.h"

/* The overlay of this process, for the metrics page (set before the
 * metrics thread starts, cleared after it stopped). */
static struct overlay *metrics_overlay;

static int render_metrics(void *ctx, const char *path, char *buf, size_t cap)
{
	struct sn *sn = ctx;
	int n;

	if (strcmp(path, "/metrics") != 0)
		return -1;
	n = metrics_render(sn->metrics, (size_t)sn->n_workers, buf, cap);
	if (n >= 0 && metrics_overlay && (size_t)n < cap)
		n += (int)overlay_render_metrics(metrics_overlay, buf + n, cap - (size_t)n);
	return n;
}

static int build_policy(struct sn *sn, const struct sn_config *cfg)
{
	policy_init(&sn->policy);
	sn->policy.allow_loopback = cfg->allow_loopback_peers;
	for (int i = 0; i < cfg->n_allow_peer; i++)
		if (policy_allow(&sn->policy, cfg->allow_peer[i]))
			return -EINVAL;
	for (int i = 0; i < cfg->n_deny_peer; i++)
		if (policy_deny(&sn->policy, cfg->deny_peer[i]))
			return -EINVAL;
	for (int i = 0; i < cfg->n_listen; i++)
		if (policy_add_listener(&sn->policy, &cfg->listen[i]))
			return -ENOSPC;
	for (int i = 0; i < 2; i++)
		if (cfg->relay_ip[i].sa.sa_family != AF_UNSPEC &&
		    policy_add_own_ip(&sn->policy, &cfg->relay_ip[i]))
			return -ENOSPC;
	return 0;
}

/* The workers bind their listeners with SO_REUSEPORT, which would let a
 * second supernode (or anything of ours) silently share the port and take
 * a share of the clients. Binding each address once without it first
 * makes "already in use" an error, as an operator expects. */
static int check_listen_free(const struct sn_config *cfg)
{
	for (int i = 0; i < cfg->n_listen; i++) {
		for (int tcp = 0; tcp < (cfg->no_tcp ? 1 : 2); tcp++) {
			int fd = tcp ? sock_tcp_listen(&cfg->listen[i], false, 1)
				     : sock_udp_open(&cfg->listen[i], false, false, 0);
			char a[ADDR_STRLEN];

			if (fd < 0) {
				fprintf(stderr, "parley-sn: --listen %s: cannot bind %s: %s\n",
					addr_format(&cfg->listen[i], a, sizeof(a)), tcp ? "TCP" : "UDP",
					strerror(-fd));
				return fd;
			}
			close(fd);
		}
	}
	return 0;
}

static struct auth *build_auth(const struct sn_config *cfg)
{
	struct auth *a = auth_create(cfg->realm, cfg->max_allocs, cfg->max_allocs_per_user);

	if (!a) {
		log_error("out of memory");
		return NULL;
	}
	for (int i = 0; i < cfg->n_users; i++) {
		int ret = auth_add_user(a, cfg->users[i]);

		if (ret) {
			fprintf(stderr, "parley-sn: --user '%.*s:...': %s\n",
				(int)(strchr(cfg->users[i], ':') - cfg->users[i]), cfg->users[i],
				ret == -EEXIST ? "given twice" : "expected NAME:PASSWORD");
			auth_destroy(a);
			return NULL;
		}
	}
	if (cfg->auth_secret && auth_set_secret(a, cfg->auth_secret)) {
		auth_destroy(a);
		return NULL;
	}
	return a;
}

/* Tells every worker to drain, from a small ring of the main thread
 * (IORING_OP_MSG_RING posts a completion straight into the worker's CQ). */
static int drain_workers(struct sn *sn)
{
	struct io_uring ring;
	int ret = io_uring_queue_init(8, &ring, 0);

	if (ret)
		return ret;
	for (int i = 0; i < sn->n_workers; i++) {
		struct io_uring_sqe *sqe;
		struct io_uring_cqe *cqe;

		if (sn->workers[i]->start_error)
			continue;
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_msg_ring(sqe, sn->workers[i]->ring_fd, 0,
				       URING_UD(OP_MSG, 0, WORKER_MSG_DRAIN), 0);
		io_uring_submit_and_wait(&ring, 1);
		if (io_uring_peek_cqe(&ring, &cqe) == 0) {
			if (cqe->res < 0)
				log_warn("drain message to worker %d: %s", i, strerror(-cqe->res));
			io_uring_cqe_seen(&ring, cqe);
		}
	}
	io_uring_queue_exit(&ring);
	return 0;
}

int main(int argc, char **argv)
{
	struct sn_config cfg;
	struct sn sn;
	struct httpd *httpd = NULL;
	struct overlay *overlay = NULL;
	sigset_t sigs;
	int ret, sfd, status = 1;

	log_set_tag("parley-sn");
	ret = config_parse(&cfg, argc, argv);
	if (ret)
		return ret > 0 ? 0 : 2;
	log_level = cfg.log_level;

	/* One descriptor per allocation and per TCP client: take all the
	 * hard limit allows. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	if (check_listen_free(&cfg))
		return 1;

	memset(&sn, 0, sizeof(sn));
	sn.cfg = &cfg;
	sn.n_workers = cfg.workers;
	if (build_policy(&sn, &cfg)) {
		fprintf(stderr, "parley-sn: too many own addresses for the peer policy\n");
		return 2;
	}
	sn.auth = build_auth(&cfg);
	if (!sn.auth)
		return 2;
	if (cred_nonce_key_init(&sn.nonce_key) ||
	    RAND_bytes((unsigned char *)&sn.hash_seed, sizeof(sn.hash_seed)) != 1) {
		log_error("no randomness for keys");
		return 1;
	}

	/* Signals go to a signalfd the main thread waits on, so workers are
	 * never interrupted. Block them before any thread starts. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);

	sn.metrics = aligned_alloc(64, sizeof(struct metrics_block) * (size_t)sn.n_workers);
	sn.workers = calloc((size_t)sn.n_workers, sizeof(*sn.workers));
	if (!sn.metrics || !sn.workers || sfd < 0) {
		log_error("start-up: %s", strerror(errno));
		return 1;
	}
	memset(sn.metrics, 0, sizeof(struct metrics_block) * (size_t)sn.n_workers);
	for (int i = 0; i < sn.n_workers; i++) {
		sn.workers[i] = aligned_alloc(64, (sizeof(struct worker) + 63) & ~(size_t)63);
		if (!sn.workers[i]) {
			log_error("out of memory");
			return 1;
		}
		memset(sn.workers[i], 0, sizeof(struct worker));
		sn.workers[i]->sn = &sn;
		sn.workers[i]->id = i;
		if ((ret = pthread_create(&sn.workers[i]->thread, NULL, worker_main, sn.workers[i]))) {
			log_error("worker thread: %s", strerror(ret));
			return 1;
		}
	}
	while (atomic_load(&sn.ready) + atomic_load(&sn.failed) < sn.n_workers)
		usleep(1000);

	if (atomic_load(&sn.failed) == 0 && cfg.overlay.sa.sa_family != AF_UNSPEC) {
		struct overlay_config oc = { .addr = cfg.overlay, .n_peers = cfg.n_peers,
					     .period_ms = cfg.overlay_period_ms };

		memcpy(oc.peers, cfg.peers, sizeof(cfg.peers[0]) * (size_t)cfg.n_peers);
		if (overlay_start(&oc, &overlay))
			atomic_fetch_add(&sn.failed, 1);
		metrics_overlay = overlay;
	}
	if (atomic_load(&sn.failed) == 0) {
		if (cfg.metrics.sa.sa_family != AF_UNSPEC) {
			ret = httpd_start(&cfg.metrics, 1 << 20, render_metrics, &sn, &httpd);
			if (ret) {
				char a[ADDR_STRLEN];

				log_error("cannot serve metrics on %s: %s",
					  addr_format(&cfg.metrics, a, sizeof(a)), strerror(-ret));
			}
		}
		if (!cfg.metrics.sa.sa_family || httpd) {
			char a[ADDR_STRLEN];

			log_info("listening on %s (udp%s), %d workers, realm '%s'",
				 addr_format(&cfg.listen[0], a, sizeof(a)), cfg.no_tcp ? "" : "+tcp",
				 sn.n_workers, cfg.realm);
			/* Wait for SIGTERM/SIGINT. */
			for (;;) {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) != sizeof(si)) {
					if (errno == EINTR)
						continue;
					break;
				}
				if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
					break;
			}
			log_info("draining");
			status = 0;
		}
	}
	/* Leave the overlay first: the others stop counting on us at once. */
	overlay_stop(overlay);
	drain_workers(&sn);
	for (int i = 0; i < sn.n_workers; i++)
		pthread_join(sn.workers[i]->thread, NULL);
	httpd_stop(httpd);
	metrics_overlay = NULL;
	if (status == 0) {
		log_info("relayed %llu packets to peers and %llu to clients; stopped",
			 (unsigned long long)metrics_sum(sn.metrics, (size_t)sn.n_workers, M_FWD_TO_PEER),
			 (unsigned long long)metrics_sum(sn.metrics, (size_t)sn.n_workers, M_FWD_TO_CLIENT));
	}
	for (int i = 0; i < sn.n_workers; i++)
		free(sn.workers[i]);
	free(sn.workers);
	free(sn.metrics);
	auth_destroy(sn.auth);
	cred_wipe(&sn.nonce_key, sizeof(sn.nonce_key));
	close(sfd);
	return status;
}

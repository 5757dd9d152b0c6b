/* overlay: see overlay.h. */
#include "src/sn/overlay.h"

#include <errno.h>
#include <openssl/rand.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/sock.h"
#include "proto/ovl.h"
#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/sn/swim.h"

#define RECV_BATCH 64

struct overlay {
	struct overlay_config cfg;
	int fd;                   /* UDP overlay socket */
	int stop_fd;              /* eventfd: wakes the thread to stop */
	pthread_t thread;
	bool started;
	struct swim *swim;
	uint64_t id;
	pthread_mutex_t lock;     /* guards view */
	struct overlay_view view;
	uint64_t joins;           /* members seen for the first time (overlay thread only) */
	uint32_t period_ms;       /* the protocol period in use */
};

static const char *state_name(int s)
{
	switch (s) {
	case SWIM_JOINED:
		return "new";
	case SWIM_ALIVE:
		return "alive";
	case SWIM_SUSPECT:
		return "suspect";
	case SWIM_DEAD:
		return "dead";
	case SWIM_LEFT:
		return "left";
	default:
		return "?";
	}
}

static void on_send(void *ctx, const union addr *to, const uint8_t *buf, size_t len)
{
	struct overlay *o = ctx;

	/* Best effort: the protocol tolerates loss, and a full socket buffer
	 * is a lost datagram like any other. */
	(void)sendto(o->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL, &to->sa, addr_len(to));
}

static void on_event(void *ctx, const struct ovl_node *n, int old_state, int new_state)
{
	struct overlay *o = ctx;
	char a[ADDR_STRLEN];

	if (old_state == SWIM_JOINED)
		o->joins++;
	log_info("overlay: supernode %016llx at %s: %s -> %s", (unsigned long long)n->id,
		 addr_format(&n->addr, a, sizeof(a)), state_name(old_state), state_name(new_state));
}

static void update_view(struct overlay *o)
{
	struct swim_stats st;

	swim_stats(o->swim, &st);
	pthread_mutex_lock(&o->lock);
	o->view.id = o->id;
	o->view.alive = st.alive;
	o->view.suspect = st.suspect;
	o->view.dead = st.dead;
	o->view.left = st.left;
	o->view.joins = o->joins;
	o->view.deaths = st.deaths;
	o->view.leaves = st.leaves;
	o->view.refutations = st.refutations;
	o->view.malformed = st.malformed + st.bad_nodes;
	pthread_mutex_unlock(&o->lock);
}

/* Hands the datagrams waiting on the socket (a batch at most) to the
 * membership protocol. */
static void receive_batch(struct overlay *o, uint64_t now)
{
	uint8_t buf[2048];

	for (int k = 0; k < RECV_BATCH; k++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		union addr from;
		ssize_t n = recvfrom(o->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&ss, &sl);

		if (n < 0)
			break;
		if (!addr_from_sockaddr((struct sockaddr *)&ss, sl, &from))
			swim_receive(o->swim, now, &from, buf, (size_t)n);
	}
}

static void *thread_main(void *arg)
{
	struct overlay *o = arg;
	uint64_t now = clock_mono_ms(), next = now;

	for (int i = 0; i < o->cfg.n_peers; i++)
		swim_join(o->swim, &o->cfg.peers[i], now);
	for (;;) {
		struct pollfd p[2] = { { .fd = o->fd, .events = POLLIN }, { .fd = o->stop_fd, .events = POLLIN } };
		int wait = next > now ? (int)(next - now < 1000 ? next - now : 1000) : 0;

		if (poll(p, 2, wait) < 0 && errno != EINTR)
			break;
		now = clock_mono_ms();
		if (p[1].revents)
			break;
		if (p[0].revents & POLLIN)
			receive_batch(o, now);
		if (now >= next)
			next = swim_tick(o->swim, now);
		update_view(o);
	}
	/* Leaving: tell the others now rather than letting them time us out,
	 * and for one more period answer their probes (with "left"). */
	now = clock_mono_ms();
	swim_leave(o->swim, now);
	for (uint64_t end = now + o->period_ms; now < end; now = clock_mono_ms()) {
		struct pollfd p = { .fd = o->fd, .events = POLLIN };

		if (poll(&p, 1, (int)(end - now)) <= 0)
			break;
		receive_batch(o, now);
	}
	update_view(o);
	return NULL;
}

int overlay_start(const struct overlay_config *cfg, struct overlay **out)
{
	struct overlay *o = calloc(1, sizeof(*o));
	struct swim_config sc;
	char a[ADDR_STRLEN];
	int ret;

	if (!o)
		return -ENOMEM;
	o->cfg = *cfg;
	o->fd = o->stop_fd = -1;
	pthread_mutex_init(&o->lock, NULL);
	do {
		if (RAND_bytes((unsigned char *)&o->id, sizeof(o->id)) != 1) {
			ret = -EIO;
			goto fail;
		}
	} while (o->id == 0);
	o->fd = sock_udp_open(&cfg->addr, false, false, 0);
	if (o->fd < 0) {
		ret = o->fd;
		log_error("cannot open the overlay socket on %s: %s",
			  addr_format(&cfg->addr, a, sizeof(a)), strerror(-ret));
		goto fail;
	}
	o->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (o->stop_fd < 0) {
		ret = -errno;
		goto fail;
	}
	memset(&sc, 0, sizeof(sc));   /* zero fields take the defaults */
	sc.self.id = o->id;
	sc.self.addr = cfg->addr;
	if (cfg->period_ms) {
		/* The direct probe gets two fifths of the period, as the
		 * defaults do (200 of 500 ms); the rest is for the indirect one. */
		sc.period_ms = cfg->period_ms;
		sc.ping_timeout_ms = cfg->period_ms * 2 / 5;
	}
	o->period_ms = cfg->period_ms ? cfg->period_ms : SWIM_DEF_PERIOD_MS;
	if (RAND_bytes((unsigned char *)&sc.seed, sizeof(sc.seed)) != 1) {
		ret = -EIO;
		goto fail;
	}
	sc.send = on_send;
	sc.event = on_event;
	sc.ctx = o;
	ret = swim_create(&sc, &o->swim);
	if (ret) {
		log_error("overlay: membership set-up: %s", strerror(-ret));
		goto fail;
	}
	update_view(o);
	ret = -pthread_create(&o->thread, NULL, thread_main, o);
	if (ret)
		goto fail;
	o->started = true;
	log_info("overlay: supernode %016llx on %s, %d seed%s", (unsigned long long)o->id,
		 addr_format(&cfg->addr, a, sizeof(a)), cfg->n_peers, cfg->n_peers == 1 ? "" : "s");
	*out = o;
	return 0;
fail:
	overlay_stop(o);
	return ret;
}

void overlay_stop(struct overlay *o)
{
	uint64_t one = 1;

	if (!o)
		return;
	if (o->started) {
		if (write(o->stop_fd, &one, sizeof(one)) != sizeof(one))
			log_warn("overlay: cannot wake the thread: %s", strerror(errno));
		pthread_join(o->thread, NULL);
	}
	swim_destroy(o->swim);
	if (o->fd >= 0)
		close(o->fd);
	if (o->stop_fd >= 0)
		close(o->stop_fd);
	pthread_mutex_destroy(&o->lock);
	free(o);
}

void overlay_view(struct overlay *o, struct overlay_view *v)
{
	pthread_mutex_lock(&o->lock);
	*v = o->view;
	pthread_mutex_unlock(&o->lock);
}

size_t overlay_render_metrics(struct overlay *o, char *buf, size_t cap)
{
	struct overlay_view v;
	int n;

	overlay_view(o, &v);
	n = snprintf(buf, cap,
		     "# HELP parley_sn_overlay_members Other supernodes known, by state\n"
		     "# TYPE parley_sn_overlay_members gauge\n"
		     "parley_sn_overlay_members{state=\"alive\"} %u\n"
		     "parley_sn_overlay_members{state=\"suspect\"} %u\n"
		     "parley_sn_overlay_members{state=\"dead\"} %u\n"
		     "parley_sn_overlay_members{state=\"left\"} %u\n"
		     "# HELP parley_sn_overlay_events_total Membership changes seen\n"
		     "# TYPE parley_sn_overlay_events_total counter\n"
		     "parley_sn_overlay_events_total{event=\"join\"} %llu\n"
		     "parley_sn_overlay_events_total{event=\"death\"} %llu\n"
		     "parley_sn_overlay_events_total{event=\"leave\"} %llu\n"
		     "parley_sn_overlay_events_total{event=\"refutation\"} %llu\n"
		     "# HELP parley_sn_overlay_malformed_total Overlay datagrams dropped as malformed\n"
		     "# TYPE parley_sn_overlay_malformed_total counter\n"
		     "parley_sn_overlay_malformed_total %llu\n",
		     v.alive, v.suspect, v.dead, v.left, (unsigned long long)v.joins,
		     (unsigned long long)v.deaths, (unsigned long long)v.leaves,
		     (unsigned long long)v.refutations, (unsigned long long)v.malformed);
	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap;
}

/* overlay: the supernode's place in the network of supernodes. One
 * thread, off the packet path, owns a UDP socket on the overlay address
 * (--overlay) and runs the membership protocol (swim.c) over it: the
 * supernode joins through --peer seeds, learns every other supernode (a
 * one-hop overlay: full membership) and notices within seconds when one
 * joins, leaves or dies. The member list it maintains is what the global
 * index's placement (ring.c) will be computed from.
 *
 * A control-plane thread with a poll loop rather than an io_uring worker:
 * a few datagrams per second per peer, and a loop that is easy to read
 * matters more here than batching. */
#ifndef PARLEY_SN_OVERLAY_H
#define PARLEY_SN_OVERLAY_H

#include <stddef.h>
#include <stdint.h>

#include "proto/addr.h"

#define OVERLAY_MAX_PEERS 16

struct overlay;

struct overlay_config {
	union addr addr;                        /* UDP overlay address (not a wildcard) */
	union addr peers[OVERLAY_MAX_PEERS];    /* seeds to join through */
	int n_peers;
	uint32_t period_ms;                     /* protocol period (0: default) */
};

/* Counts for /metrics (a consistent snapshot of one moment). */
struct overlay_view {
	uint64_t id;          /* this supernode's overlay id */
	uint32_t alive, suspect, dead, left;
	uint64_t joins, deaths, leaves, refutations, malformed;
};

/* Opens the socket and starts the thread. Returns 0 and *out, or -errno
 * after logging one line naming what failed. */
int overlay_start(const struct overlay_config *cfg, struct overlay **out);

/* Announces the departure to the other supernodes, stops the thread and
 * frees. Takes NULL. */
void overlay_stop(struct overlay *o);

/* A snapshot of the membership counts (any thread). */
void overlay_view(struct overlay *o, struct overlay_view *v);

/* Appends the overlay's lines of Prometheus text to buf (at most cap
 * bytes); returns the bytes written. */
size_t overlay_render_metrics(struct overlay *o, char *buf, size_t cap);

#endif

/* httpd: a tiny HTTP/1.0 responder on its own thread, for the metrics
 * endpoint (GET /metrics, Prometheus text format). Not on the packet
 * path: blocking sockets, one request per connection, bounded request
 * size and a read timeout so a slow client cannot hold it. */
#ifndef PARLEY_COMMON_HTTPD_H
#define PARLEY_COMMON_HTTPD_H

#include <stddef.h>

#include "proto/addr.h"

/* Writes the response body for path into buf (at most cap bytes) and
 * returns its length, or -1 for 404. Called on the httpd thread. */
typedef int (*httpd_render_fn)(void *ctx, const char *path, char *buf, size_t cap);

struct httpd;

/* Listens on a and serves GET requests with render on a new thread.
 * body_cap bounds the response body. Returns 0 and sets *out, or
 * -errno (bind failure: the caller names the address in one line). */
int httpd_start(const union addr *a, size_t body_cap, httpd_render_fn render,
		void *ctx, struct httpd **out);

/* Stops the thread, closes the socket, frees; takes NULL. */
void httpd_stop(struct httpd *h);

#endif

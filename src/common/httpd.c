/* httpd: see httpd.h. One thread, one connection at a time: a metrics
 * scrape every few seconds needs nothing more, and a blocking design
 * with a read timeout is easy to reason about. */
#include "src/common/httpd.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define HTTPD_REQ_MAX 4096     /* request head bound; a GET needs far less */
#define HTTPD_TIMEOUT_S 2      /* per-connection read/write timeout */
#define HTTPD_BACKLOG 16

struct httpd {
	int fd;                 /* listening socket (non-blocking) */
	int stop_fd;            /* eventfd written by httpd_stop */
	pthread_t thread;
	httpd_render_fn render;
	void *ctx;
	char *body;             /* body_cap bytes, allocated once */
	size_t body_cap;
	char req[HTTPD_REQ_MAX + 1]; /* request head; only the thread uses it */
};

/* Sends all of buf; a client that stops reading is cut off by
 * SO_SNDTIMEO. MSG_NOSIGNAL: a peer that closed early must not raise
 * SIGPIPE in the whole process. */
static int httpd_send_all(int fd, const char *buf, size_t len, int flags)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, flags | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void httpd_reply(int fd, const char *status, const char *extra,
			const char *body, size_t len)
{
	char head[256];
	int n;

	n = snprintf(head, sizeof(head),
		     "HTTP/1.0 %s\r\n"
		     "Content-Type: text/plain; version=0.0.4\r\n"
		     "Content-Length: %zu\r\n"
		     "%s"
		     "Connection: close\r\n\r\n",
		     status, len, extra);
	if (n < 0 || (size_t)n >= sizeof(head))
		return;
	/* MSG_MORE keeps the head and body in one segment: without it Nagle
	 * holds the body until the client's delayed ACK (~40 ms). */
	if (httpd_send_all(fd, head, (size_t)n, len > 0 ? MSG_MORE : 0) < 0)
		return;
	if (len > 0)
		httpd_send_all(fd, body, len, 0);
}

static void httpd_error(int fd, const char *status, const char *extra)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%s\n", status);

	httpd_reply(fd, status, extra, body, n > 0 ? (size_t)n : 0);
}

/* Reads the request head into h->req until "\r\n\r\n", EOF, the timeout
 * or the bound, whichever comes first. Returns the bytes read. */
static size_t httpd_read_head(struct httpd *h, int fd)
{
	size_t len = 0;

	while (len < HTTPD_REQ_MAX) {
		ssize_t n = recv(fd, h->req + len, HTTPD_REQ_MAX - len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* EOF, timeout (EAGAIN) or error: use what we have */
		len += (size_t)n;
		if (memmem(h->req, len, "\r\n\r\n", 4) != NULL)
			break;
	}
	h->req[len] = '\0';
	return len;
}

/* Parses the request line of h->req (len bytes) and answers it. Every
 * access is bounded by len: the bytes are whatever a client sent, NULs
 * included. */
static void httpd_serve(struct httpd *h, int fd, size_t len)
{
	const char *line = h->req;
	const char *eol = memchr(line, '\n', len);
	const char *sp, *path, *end;
	size_t line_len;
	char path_buf[HTTPD_REQ_MAX + 1];
	int body_len;

	if (eol == NULL) {
		httpd_error(fd, "400 Bad Request", "");
		return;
	}
	line_len = (size_t)(eol - line);
	if (line_len > 0 && line[line_len - 1] == '\r')
		line_len--;
	if (memchr(line, '\0', line_len) != NULL) {
		httpd_error(fd, "400 Bad Request", "");
		return;
	}
	end = line + line_len;

	sp = memchr(line, ' ', line_len);
	if (sp == NULL || sp == line) {
		httpd_error(fd, "400 Bad Request", "");
		return;
	}
	if ((size_t)(sp - line) != 3 || memcmp(line, "GET", 3) != 0) {
		httpd_error(fd, "405 Method Not Allowed", "Allow: GET\r\n");
		return;
	}

	path = sp + 1;
	sp = memchr(path, ' ', (size_t)(end - path));
	if (sp != NULL)
		end = sp;
	/* The query string is not part of the resource: a scraper that
	 * appends one still gets /metrics. */
	sp = memchr(path, '?', (size_t)(end - path));
	if (sp != NULL)
		end = sp;
	if (end == path || *path != '/') {
		httpd_error(fd, "400 Bad Request", "");
		return;
	}
	memcpy(path_buf, path, (size_t)(end - path));
	path_buf[end - path] = '\0';

	body_len = h->render(h->ctx, path_buf, h->body, h->body_cap);
	if (body_len == -1) {
		httpd_error(fd, "404 Not Found", "");
		return;
	}
	if (body_len < 0 || (size_t)body_len > h->body_cap) {
		httpd_error(fd, "500 Internal Server Error", "");
		return;
	}
	httpd_reply(fd, "200 OK", "", h->body, (size_t)body_len);
}

static void httpd_handle(struct httpd *h, int fd)
{
	struct timeval tv = { .tv_sec = HTTPD_TIMEOUT_S };
	size_t len;

	/* Both directions are bounded: a client that sends slowly or never
	 * reads cannot hold the only thread for longer than this. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return;
	len = httpd_read_head(h, fd);
	if (len == 0)
		return;
	httpd_serve(h, fd, len);
	shutdown(fd, SHUT_WR);
}

static void *httpd_main(void *arg)
{
	struct httpd *h = arg;
	struct pollfd pfd[2] = {
		{ .fd = h->fd, .events = POLLIN },
		{ .fd = h->stop_fd, .events = POLLIN },
	};

	for (;;) {
		int n = poll(pfd, 2, -1);
		int fd;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents != 0)
			break;
		if (pfd[0].revents == 0)
			continue;
		/* The listening socket is non-blocking: a client that
		 * connected and reset before accept must not park us here,
		 * deaf to httpd_stop. */
		fd = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			/* EMFILE and friends: back off instead of spinning on
			 * a permanently readable socket. */
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				poll(&pfd[1], 1, 100);
			continue;
		}
		httpd_handle(h, fd);
		close(fd);
	}
	return NULL;
}

static void httpd_free(struct httpd *h)
{
	if (h == NULL)
		return;
	if (h->fd >= 0)
		close(h->fd);
	if (h->stop_fd >= 0)
		close(h->stop_fd);
	free(h->body);
	free(h);
}

int httpd_start(const union addr *a, size_t body_cap, httpd_render_fn render,
		void *ctx, struct httpd **out)
{
	const int one = 1;
	sigset_t all, old;
	struct httpd *h;
	socklen_t alen = addr_len(a);
	int ret;

	if (alen == 0 || render == NULL || body_cap == 0 || body_cap > INT32_MAX)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	h->fd = -1;
	h->stop_fd = -1;
	h->render = render;
	h->ctx = ctx;
	h->body_cap = body_cap;

	h->body = malloc(body_cap);
	if (h->body == NULL) {
		ret = -ENOMEM;
		goto fail;
	}
	h->fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->fd < 0) {
		ret = -errno;
		goto fail;
	}
	/* A restarted supernode must rebind while the old connections sit
	 * in TIME_WAIT. */
	if (setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(h->fd, &a->sa, alen) < 0 || listen(h->fd, HTTPD_BACKLOG) < 0) {
		ret = -errno;
		goto fail;
	}
	h->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->stop_fd < 0) {
		ret = -errno;
		goto fail;
	}

	/* The thread inherits a full signal mask so SIGINT/SIGTERM are
	 * always delivered to the main thread, which owns shutdown. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&h->thread, NULL, httpd_main, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret < 0)
		goto fail;
	*out = h;
	return 0;

fail:
	httpd_free(h);
	return ret;
}

void httpd_stop(struct httpd *h)
{
	uint64_t one = 1;

	if (h == NULL)
		return;
	/* An eventfd write fails only on counter overflow, which one write
	 * per httpd never reaches; EINTR is the only thing to retry. */
	while (write(h->stop_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	pthread_join(h->thread, NULL);
	httpd_free(h);
}

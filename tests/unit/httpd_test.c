/* httpd: a real server on a loopback port, driven by plain sockets. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "proto/addr.h"
#include "src/common/httpd.h"

/* One port per test so the suite also passes with parallel jobs. */
#define TEST_PORT_BASE 39181
static int test_port = TEST_PORT_BASE;
#define BODY "parley_sn_requests_total 7\n"

static int render(void *ctx, const char *path, char *buf, size_t cap)
{
	int *calls = ctx;

	(*calls)++;
	if (strcmp(path, "/metrics") != 0)
		return -1;
	if (cap < sizeof(BODY) - 1)
		return 0;
	memcpy(buf, BODY, sizeof(BODY) - 1);
	return (int)(sizeof(BODY) - 1);
}

/* Sends req (len bytes; the peer's half is then shut) and reads the whole
 * reply into out. Returns its length. */
static union addr test_addr(void)
{
	char s[32];
	union addr a;

	snprintf(s, sizeof(s), "127.0.0.1:%d", test_port);
	cr_assert_eq(addr_parse(s, 0, &a), 0);
	return a;
}

static size_t exchange(const char *req, size_t len, char *out, size_t cap)
{
	struct timeval tv = { .tv_sec = 5 };
	union addr a = test_addr();
	size_t got = 0;
	ssize_t n;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cr_assert_eq(connect(fd, &a.sa, addr_len(&a)), 0, "connect: %s", strerror(errno));
	if (len > 0)
		cr_assert_eq(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
	shutdown(fd, SHUT_WR);
	while (got < cap - 1 && (n = recv(fd, out + got, cap - 1 - got, 0)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(fd);
	return got;
}

static size_t get(const char *req, char *out, size_t cap)
{
	return exchange(req, strlen(req), out, cap);
}

/* Starts a server on TEST_PORT_BASE + port; exchange() talks to it. */
static struct httpd *start(int port, int *calls, size_t cap)
{
	struct httpd *h = NULL;
	union addr a;

	test_port = TEST_PORT_BASE + port;
	a = test_addr();

	cr_assert_eq(httpd_start(&a, cap, render, calls, &h), 0);
	cr_assert_not_null(h);
	return h;
}

Test(httpd, metrics_and_404)
{
	int calls = 0;
	struct httpd *h = start(0, &calls, 4096);
	char resp[8192];
	const char *body;

	get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof(resp));
	cr_assert(strncmp(resp, "HTTP/1.0 200 OK\r\n", 17) == 0, "%s", resp);
	cr_assert_not_null(strstr(resp, "Content-Type: text/plain; version=0.0.4\r\n"));
	cr_assert_not_null(strstr(resp, "Connection: close\r\n"));
	body = strstr(resp, "\r\n\r\n");
	cr_assert_not_null(body);
	cr_assert_str_eq(body + 4, BODY);
	{
		char cl[64];

		snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", sizeof(BODY) - 1);
		cr_assert_not_null(strstr(resp, cl), "%s", resp);
	}

	/* A query string does not change the resource. */
	get("GET /metrics?x=1 HTTP/1.0\r\n\r\n", resp, sizeof(resp));
	cr_assert(strncmp(resp, "HTTP/1.0 200 OK\r\n", 17) == 0, "%s", resp);

	get("GET /nope HTTP/1.0\r\n\r\n", resp, sizeof(resp));
	cr_assert(strncmp(resp, "HTTP/1.0 404 ", 13) == 0, "%s", resp);

	get("POST /metrics HTTP/1.0\r\n\r\n", resp, sizeof(resp));
	cr_assert(strncmp(resp, "HTTP/1.0 405 ", 13) == 0, "%s", resp);
	cr_assert_eq(calls, 3);
	httpd_stop(h);
}

Test(httpd, garbage_does_not_hurt)
{
	static const char nuls[] = "GET /met\0rics HTTP/1.0\r\n\r\n";
	int calls = 0;
	struct httpd *h = start(1, &calls, 4096);
	char resp[8192], big[10000];

	get("\r\n\r\n", resp, sizeof(resp));
	cr_assert(strncmp(resp, "HTTP/1.0 400 ", 13) == 0, "%s", resp);
	get("GET\r\n\r\n", resp, sizeof(resp));
	cr_assert(strncmp(resp, "HTTP/1.0 400 ", 13) == 0, "%s", resp);
	get("GET  \r\n\r\n", resp, sizeof(resp));
	cr_assert(strncmp(resp, "HTTP/1.0 400 ", 13) == 0, "%s", resp);
	get("GET metrics\r\n\r\n", resp, sizeof(resp));
	cr_assert(strncmp(resp, "HTTP/1.0 400 ", 13) == 0, "%s", resp);
	exchange(nuls, sizeof(nuls) - 1, resp, sizeof(resp));
	cr_assert(strncmp(resp, "HTTP/1.0 400 ", 13) == 0, "%s", resp);
	/* Nothing at all, then a head with no line end past the bound. */
	exchange("", 0, resp, sizeof(resp));
	cr_assert_str_eq(resp, "");
	memset(big, 'A', sizeof(big));
	exchange(big, sizeof(big), resp, sizeof(resp));
	/* Binary junk with a line end in it. */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 131 + 7);
	exchange(big, 512, resp, sizeof(resp));
	cr_assert_eq(calls, 0);

	get("GET /metrics HTTP/1.0\r\n\r\n", resp, sizeof(resp));
	cr_assert(strncmp(resp, "HTTP/1.0 200 OK\r\n", 17) == 0, "%s", resp);
	httpd_stop(h);
}

Test(httpd, body_cap_is_passed)
{
	int calls = 0;
	struct httpd *h = start(2, &calls, 4); /* too small for BODY */
	char resp[8192];

	get("GET /metrics HTTP/1.0\r\n\r\n", resp, sizeof(resp));
	cr_assert(strncmp(resp, "HTTP/1.0 200 OK\r\n", 17) == 0, "%s", resp);
	cr_assert_not_null(strstr(resp, "Content-Length: 0\r\n"));
	httpd_stop(h);
}

Test(httpd, bind_conflict_and_restart)
{
	int calls = 0;
	struct httpd *h = start(3, &calls, 64), *h2 = NULL;
	union addr a = test_addr();

	cr_assert_eq(httpd_start(&a, 64, render, &calls, &h2), -EADDRINUSE);
	httpd_stop(h);
	httpd_stop(NULL);
	/* SO_REUSEADDR: the port is free again at once. */
	h = start(3, &calls, 64);
	httpd_stop(h);
}

Test(httpd, slow_client_times_out)
{
	struct timeval tv = { .tv_sec = 5 };
	static const char req[] = "GET /metrics HTTP/1.0\r\n";
	int calls = 0;
	struct httpd *h = start(4, &calls, 4096);
	char resp[8192];
	union addr a = test_addr();
	ssize_t n;
	int fd;

	/* A request line but never the blank line and never EOF: the read
	 * timeout ends the wait and the line is answered. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cr_assert_eq(connect(fd, &a.sa, addr_len(&a)), 0);
	cr_assert_eq(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(req) - 1);
	n = recv(fd, resp, sizeof(resp) - 1, 0);
	cr_assert_gt(n, 0);
	resp[n] = '\0';
	cr_assert(strncmp(resp, "HTTP/1.0 200 OK\r\n", 17) == 0, "%s", resp);
	close(fd);

	/* A client that says nothing does not block the next one for long. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(fd, &a.sa, addr_len(&a)), 0);
	get("GET /metrics HTTP/1.0\r\n\r\n", resp, sizeof(resp));
	cr_assert(strncmp(resp, "HTTP/1.0 200 OK\r\n", 17) == 0, "%s", resp);
	close(fd);
	httpd_stop(h);
}

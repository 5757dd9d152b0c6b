#include "io/sock.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int set_int(int fd, int level, int opt, int v)
{
	return setsockopt(fd, level, opt, &v, sizeof(v)) ? -errno : 0;
}

static int udp_socket(const union addr *a, bool pktinfo, int buf_bytes)
{
	int fd = socket(a->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int ret;

	if (fd < 0)
		return -errno;
	if (a->sa.sa_family == AF_INET6) {
		/* A v6 socket serves v6 only: v4 gets its own listener, so a
		 * client's address family is the socket's. */
		if ((ret = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1)))
			goto fail;
	}
	if (pktinfo) {
		ret = a->sa.sa_family == AF_INET6
			      ? set_int(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
			      : set_int(fd, IPPROTO_IP, IP_PKTINFO, 1);
		if (ret)
			goto fail;
	}
	sock_buffers(fd, buf_bytes);
	return fd;
fail:
	close(fd);
	return ret;
}

int sock_udp_open(const union addr *a, bool reuseport, bool pktinfo, int buf_bytes)
{
	int fd = udp_socket(a, pktinfo, buf_bytes);
	int ret;

	if (fd < 0)
		return fd;
	if (reuseport && (ret = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1)))
		goto fail;
	if (bind(fd, &a->sa, addr_len(a))) {
		ret = -errno;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return ret;
}

int sock_tcp_listen(const union addr *a, bool reuseport, int backlog)
{
	int fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int ret;

	if (fd < 0)
		return -errno;
	if ((ret = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1)))
		goto fail;
	if (reuseport && (ret = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1)))
		goto fail;
	if (a->sa.sa_family == AF_INET6 && (ret = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1)))
		goto fail;
	if (bind(fd, &a->sa, addr_len(a)) || listen(fd, backlog)) {
		ret = -errno;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return ret;
}

int sock_udp_open_in_range(const union addr *ip, uint16_t lo, uint16_t hi,
			   uint32_t *cursor, int buf_bytes, union addr *bound)
{
	uint32_t span = (uint32_t)hi - lo + 1;
	int fd = udp_socket(ip, false, buf_bytes);

	if (fd < 0)
		return fd;
	if (hi < lo) {
		close(fd);
		return -EINVAL;
	}
	*bound = *ip;
	for (uint32_t i = 0; i < span; i++) {
		uint16_t port = (uint16_t)(lo + (*cursor)++ % span);

		addr_set_port(bound, port);
		if (bind(fd, &bound->sa, addr_len(bound)) == 0)
			return fd;
		if (errno != EADDRINUSE && errno != EACCES) {
			int ret = -errno;
			close(fd);
			return ret;
		}
	}
	close(fd);
	return -EADDRINUSE;
}

void sock_buffers(int fd, int bytes)
{
	if (bytes <= 0)
		return;
	set_int(fd, SOL_SOCKET, SO_RCVBUF, bytes);
	set_int(fd, SOL_SOCKET, SO_SNDBUF, bytes);
}

int sock_tcp_bound(const union addr *a)
{
	int fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ret;

	if (fd < 0)
		return -errno;
	if ((a->sa.sa_family == AF_INET6 && (ret = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1))) ||
	    (ret = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1)) ||
	    (ret = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1)))
		goto fail;
	if (bind(fd, &a->sa, addr_len(a))) {
		ret = -errno;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return ret;
}

int sock_udp_timestamps(int fd)
{
	return set_int(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1);
}

int sock_local_addr(int fd, union addr *out)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return -errno;
	return addr_from_sockaddr((struct sockaddr *)&ss, len, out);
}

int sock_tcp_nodelay(int fd)
{
	return set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
}

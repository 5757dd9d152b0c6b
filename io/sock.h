/* sock: the sockets a worker owns: SO_REUSEPORT UDP and TCP listeners
 * (one per worker on the same port, so the kernel spreads 4-tuples over
 * workers), and UDP relay sockets bound to a port from a range. */
#ifndef PARLEY_IO_SOCK_H
#define PARLEY_IO_SOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/addr.h"

/* Opens a non-blocking UDP socket bound to a. reuseport sets
 * SO_REUSEPORT; pktinfo asks for IP_PKTINFO / IPV6_RECVPKTINFO (needed
 * when a is a wildcard, so replies leave from the address the client
 * used). buf_bytes > 0 sets SO_RCVBUF and SO_SNDBUF. Returns fd or
 * -errno. */
int sock_udp_open(const union addr *a, bool reuseport, bool pktinfo, int buf_bytes);

/* Opens a non-blocking TCP listener on a with SO_REUSEADDR and, when
 * reuseport, SO_REUSEPORT. Returns fd or -errno. */
int sock_tcp_listen(const union addr *a, bool reuseport, int backlog);

/* Opens a UDP socket on ip with a port from [lo, hi], starting the
 * search at *cursor (advanced past the port taken, so successive calls
 * spread over the range). Tries every port at most once. Returns fd and
 * fills *bound, -EADDRINUSE when the range is full, or -errno. */
int sock_udp_open_in_range(const union addr *ip, uint16_t lo, uint16_t hi,
			   uint32_t *cursor, int buf_bytes, union addr *bound);

/* Sets SO_RCVBUF and SO_SNDBUF to bytes (best effort: the kernel caps
 * them at net.core.*mem_max); nothing when bytes <= 0. Fixing a TCP
 * socket's buffers turns off their autotuning, which bounds what one
 * connection can hold in the kernel. */
void sock_buffers(int fd, int bytes);

/* A TCP socket bound to a (SO_REUSEADDR and SO_REUSEPORT, so a listener
 * and the connections it makes can share one address; IPv6 only for an
 * IPv6 address). Blocking, close-on-exec. Returns the socket or -errno. */
int sock_tcp_bound(const union addr *a);

/* Asks the kernel to stamp each datagram's arrival (SO_TIMESTAMPNS, a
 * control message with the realtime clock). Returns 0 or -errno. */
int sock_udp_timestamps(int fd);

/* The address fd is bound to. Returns 0 or -errno. */
int sock_local_addr(int fd, union addr *out);

/* Sets TCP_NODELAY (media frames must not wait for Nagle). */
int sock_tcp_nodelay(int fd);

#endif

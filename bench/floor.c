/* parley-floor: the cheapest forwarder this kernel allows, as a yardstick.
 *
 * One thread, one UDP socket, recvmmsg/sendmmsg in batches of up to 64:
 * every datagram from ip:port goes out to ip:(port ^ 1). A load whose
 * call legs are bound to port pairs (2k, 2k+1) sees a "relay" that does
 * exactly one receive and one send per forwarded packet, like a TURN
 * relay, with no protocol work at all. What parley-sn spends per packet
 * beyond this is its own cost.
 *
 * Stops on SIGTERM/SIGINT and prints what it forwarded. Loopback only. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/addr.h"

#define BATCH 64
#define MAXLEN 2048

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	static uint8_t bufs[BATCH][MAXLEN];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	union addr names[BATCH], a;
	unsigned long long fwd = 0, batches = 0;
	struct sigaction sa;
	int fd, one = 1, buf = 4 << 20;

	if (argc != 2 || addr_parse(argv[1], 0, &a) || addr_port(&a) == 0) {
		fprintf(stderr, "usage: parley-floor IP:PORT (loopback)\n");
		return 2;
	}
	if (addr_classify(&a) != ADDR_LOOPBACK) {
		fprintf(stderr, "parley-floor: %s: only loopback addresses\n", argv[1]);
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: recvmmsg returns EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	fd = socket(a.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, &a.sa, addr_len(&a))) {
		perror("parley-floor: bind");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));

	while (!stop) {
		int n, sent;

		for (int i = 0; i < BATCH; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = MAXLEN;
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &names[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(names[i]);
		}
		n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("parley-floor: recvmmsg");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			addr_set_port(&names[i], addr_port(&names[i]) ^ 1);
			iov[i].iov_len = msgs[i].msg_len;
		}
		for (int done = 0; done < n; done += sent) {
			sent = sendmmsg(fd, msgs + done, (unsigned)(n - done), 0);
			if (sent <= 0) {
				if (sent < 0 && errno == EINTR)
					continue;
				break; /* a full socket buffer drops the rest, as a relay would */
			}
		}
		fwd += (unsigned long long)n;
		batches++;
	}
	printf("parley-floor: forwarded %llu datagrams in %llu batches\n", fwd, batches);
	close(fd);
	return 0;
}

#include "io/uring.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifndef IORING_SETUP_SUBMIT_ALL
#define IORING_SETUP_SUBMIT_ALL (1U << 7)
#endif
#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1U << 8)
#endif

static int try_init(struct io_uring *ring, unsigned sq, unsigned cq, unsigned flags)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	p.flags = flags | IORING_SETUP_CQSIZE;
	p.cq_entries = cq;
	return io_uring_queue_init_params(sq, ring, &p);
}

int uring_setup(struct io_uring *ring, unsigned sq_entries, unsigned cq_entries,
		struct uring_features *features)
{
	/* Most capable first; each fallback drops what an older kernel
	 * refuses with -EINVAL. */
	static const unsigned attempts[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
		IORING_SETUP_SUBMIT_ALL,
		0,
	};
	struct uring_features f;
	unsigned used = 0;
	int ret = -EINVAL;

	memset(&f, 0, sizeof(f));
	if (cq_entries < sq_entries)
		cq_entries = sq_entries;
	for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
		ret = try_init(ring, sq_entries, cq_entries, attempts[i]);
		if (ret == 0) {
			used = attempts[i];
			break;
		}
		if (ret != -EINVAL)
			return ret;
	}
	if (ret)
		return ret;

	f.single_issuer = used & IORING_SETUP_SINGLE_ISSUER;
	f.defer_taskrun = used & IORING_SETUP_DEFER_TASKRUN;
	f.coop_taskrun = used & IORING_SETUP_COOP_TASKRUN;
	f.submit_all = used & IORING_SETUP_SUBMIT_ALL;

	struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
	if (probe) {
		f.msg_ring = io_uring_opcode_supported(probe, IORING_OP_MSG_RING);
		f.send_zc = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
		io_uring_free_probe(probe);
	}
	if (features)
		*features = f;
	return 0;
}

void uring_features_describe(const struct uring_features *f, char *buf, size_t len)
{
	snprintf(buf, len,
		 "single_issuer=%s defer_taskrun=%s%s submit_all=%s msg_ring=%s send_zc=%s",
		 f->single_issuer ? "yes" : "no", f->defer_taskrun ? "yes" : "no",
		 f->defer_taskrun ? "" : (f->coop_taskrun ? " (coop_taskrun instead)" : ""),
		 f->submit_all ? "yes" : "no", f->msg_ring ? "yes" : "no",
		 f->send_zc ? "yes (unused: see README)" : "no");
}

struct io_uring_sqe *uring_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (sqe)
		return sqe;
	/* SQ full: push what is queued without waiting, then retry once. */
	if (io_uring_submit(ring) < 0)
		return NULL;
	return io_uring_get_sqe(ring);
}

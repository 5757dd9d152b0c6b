#include "io/bufring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int bufring_create(struct bufring *b, struct io_uring *ring, uint16_t bgid,
		   uint32_t count, uint32_t size)
{
	struct io_uring_buf_reg reg;
	int ret;

	memset(b, 0, sizeof(*b));
	if (count == 0 || count > 32768 || (count & (count - 1)) || size == 0)
		return -EINVAL;

	b->count = count;
	b->size = size;
	b->ring_bytes = count * sizeof(struct io_uring_buf);
	b->br = mmap(NULL, b->ring_bytes, PROT_READ | PROT_WRITE,
		     MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (b->br == MAP_FAILED) {
		b->br = NULL;
		return -errno;
	}
	/* Populated now: otherwise the kernel faults each page in while
	 * copying a packet into it, on the packet path. */
	b->base = mmap(NULL, (size_t)count * size, PROT_READ | PROT_WRITE,
		       MAP_ANONYMOUS | MAP_PRIVATE | MAP_POPULATE, -1, 0);
	if (b->base == MAP_FAILED) {
		b->base = NULL;
		ret = -errno;
		goto fail;
	}

	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)b->br;
	reg.ring_entries = count;
	reg.bgid = bgid;
	ret = io_uring_register_buf_ring(ring, &reg, 0);
	if (ret)
		goto fail;

	b->ring = ring;
	b->mask = (uint32_t)io_uring_buf_ring_mask(count);
	b->bgid = bgid;
	io_uring_buf_ring_init(b->br);
	for (uint32_t i = 0; i < count; i++)
		bufring_recycle(b, (uint16_t)i);
	bufring_publish(b);
	return 0;
fail:
	bufring_destroy(b);
	return ret;
}

void bufring_destroy(struct bufring *b)
{
	if (!b)
		return;
	if (b->ring && b->br)
		io_uring_unregister_buf_ring(b->ring, b->bgid);
	if (b->base)
		munmap(b->base, (size_t)b->count * b->size);
	if (b->br)
		munmap(b->br, b->ring_bytes);
	memset(b, 0, sizeof(*b));
}

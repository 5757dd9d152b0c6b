/* bufring: a provided-buffer ring (IORING_REGISTER_PBUF_RING). The
 * kernel picks a free buffer for each multishot receive completion and
 * reports its id in the CQE flags; the owner hands the buffer back with
 * bufring_recycle once nothing refers to it any more (for a forwarded
 * packet: when its send completed).
 *
 * Ownership: a buffer id named in a CQE belongs to the worker until it is
 * recycled; recycling it while a send still reads it corrupts that send. */
#ifndef PARLEY_IO_BUFRING_H
#define PARLEY_IO_BUFRING_H

#include <liburing.h>
#include <stdint.h>

struct bufring {
	struct io_uring_buf_ring *br; /* shared ring of buffer descriptors */
	uint8_t *base;                /* count * size bytes of buffers */
	size_t ring_bytes;            /* mmap length of br */
	uint32_t count;               /* number of buffers (power of two) */
	uint32_t size;                /* bytes per buffer */
	uint32_t mask;                /* io_uring_buf_ring_mask(count) */
	uint32_t pending;             /* recycled but not yet published */
	uint16_t bgid;                /* buffer group id in the ring */
	struct io_uring *ring;
};

/* Registers a ring of count buffers of size bytes as group bgid on ring,
 * all initially given to the kernel. count must be a power of two
 * <= 32768. Returns 0 or -errno. */
int bufring_create(struct bufring *b, struct io_uring *ring, uint16_t bgid,
		   uint32_t count, uint32_t size);

/* Unregisters and frees; takes a zeroed or half-built bufring. */
void bufring_destroy(struct bufring *b);

static inline uint8_t *bufring_buf(const struct bufring *b, uint16_t bid)
{
	return b->base + (size_t)bid * b->size;
}

/* Gives buffer bid back to the kernel. Published in batches: call
 * bufring_publish once per event-loop turn. */
static inline void bufring_recycle(struct bufring *b, uint16_t bid)
{
	io_uring_buf_ring_add(b->br, bufring_buf(b, bid), b->size, bid, b->mask,
			      (int)b->pending);
	b->pending++;
}

static inline void bufring_publish(struct bufring *b)
{
	if (b->pending) {
		io_uring_buf_ring_advance(b->br, (int)b->pending);
		b->pending = 0;
	}
}

#endif

/* uring: one io_uring per worker thread, set up with the best flags the
 * kernel offers, and the user_data encoding every completion carries.
 *
 * user_data never holds a pointer: it packs an operation code, a 24-bit
 * generation and a 32-bit slot index, so a completion that arrives after
 * its object was recycled is recognised as stale and ignored. */
#ifndef PARLEY_IO_URING_H
#define PARLEY_IO_URING_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

/* What the kernel turned out to support; filled by uring_setup. */
struct uring_features {
	bool single_issuer;     /* IORING_SETUP_SINGLE_ISSUER (6.0) */
	bool defer_taskrun;     /* IORING_SETUP_DEFER_TASKRUN (6.1) */
	bool coop_taskrun;      /* IORING_SETUP_COOP_TASKRUN (5.19), fallback */
	bool msg_ring;          /* IORING_OP_MSG_RING (5.18) */
	bool send_zc;           /* IORING_OP_SEND_ZC (6.0) */
	bool submit_all;        /* IORING_SETUP_SUBMIT_ALL (5.18) */
	/* Multishot recvmsg, multishot accept and provided-buffer rings are
	 * flags and registrations, not opcodes: the probe cannot list them.
	 * They are required (Linux 6.0+); their set-up fails with a message
	 * naming them on an older kernel. */
};

/* Creates ring with sq_entries submission entries and cq_entries
 * completion entries (cq_entries >= sq_entries; sized so the CQ never
 * overflows under the caller's bound on in-flight requests). Tries
 * SINGLE_ISSUER | DEFER_TASKRUN | SUBMIT_ALL, then drops flags the
 * kernel refuses, and probes opcodes. Must be called on the thread that
 * will submit (SINGLE_ISSUER). Returns 0 or -errno (from
 * io_uring_queue_init_params). features may be NULL. */
int uring_setup(struct io_uring *ring, unsigned sq_entries, unsigned cq_entries,
		struct uring_features *features);

/* One line naming what is used and what fell back, for the start-up log. */
void uring_features_describe(const struct uring_features *f, char *buf, size_t len);

/* Gets an SQE, submitting what is queued when the SQ is full. Never
 * returns NULL unless submission itself fails (then the ring is broken). */
struct io_uring_sqe *uring_sqe(struct io_uring *ring);

/* ---- user_data ------------------------------------------------------ */

#define URING_UD(op, gen, idx) \
	(((uint64_t)(uint8_t)(op) << 56) | ((uint64_t)((gen) & 0xffffffu) << 32) | \
	 (uint64_t)(uint32_t)(idx))

static inline uint8_t uring_ud_op(uint64_t ud) { return (uint8_t)(ud >> 56); }
static inline uint32_t uring_ud_gen(uint64_t ud) { return (uint32_t)(ud >> 32) & 0xffffffu; }
static inline uint32_t uring_ud_idx(uint64_t ud) { return (uint32_t)ud; }

#endif

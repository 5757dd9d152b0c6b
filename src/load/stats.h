/* stats: what parley-load measures, kept per worker and merged.
 *
 * - a log-linear latency histogram over nanoseconds (HDR-like): values up
 *   to 255 ns are exact, every power of two above is split into 128
 *   linear buckets, so a bucket is at most 1/128 of its value wide and its
 *   midpoint is within 0.4% of anything in it. 3584 buckets reach 2^34 ns
 *   (17 s); larger values land in the top bucket;
 * - per received stream: loss, reordering and duplicates from the RTP
 *   sequence numbers, and the RFC 3550 §6.4.1 interarrival jitter;
 * - per worker counters and failures by STUN error code.
 *
 * A worker is the only writer of its blocks; the main thread reads them
 * once a second while the worker runs. Writes are relaxed atomic stores
 * of (load + n) and reads relaxed atomic loads: plain moves on x86-64, no
 * lock prefix, and a reader never sees a torn value. Nothing here
 * allocates or takes a lock. */
#ifndef PARLEY_LOAD_STATS_H
#define PARLEY_LOAD_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATS_HIST_SUB_BITS 7                          /* 128 buckets per octave */
#define STATS_HIST_LINEAR (2u << STATS_HIST_SUB_BITS)  /* 256 exact values */
#define STATS_HIST_TOP_BIT 34                          /* 2^34 ns ~ 17 s */
#define STATS_HIST_BUCKETS \
	(STATS_HIST_LINEAR + \
	 (STATS_HIST_TOP_BIT - STATS_HIST_SUB_BITS - 1) * (1u << STATS_HIST_SUB_BITS))

/* A latency histogram. Zeroed (or stats_hist_init) is empty. */
struct stats_hist {
	uint64_t count[STATS_HIST_BUCKETS]; /* values per bucket */
	uint64_t total;                     /* values recorded */
	uint64_t sum_ns;                    /* their sum (for the mean) */
	uint64_t max_ns;                    /* largest value, exact */
};

/* Sequence numbers behind the highest in which a duplicate is told from a
 * late packet. */
#define STATS_WINDOW 1024

/* Receive-side state of one stream (packets one sender sent to one
 * receiver). Sequence numbers are 16-bit RTP numbers, extended to 32 bits
 * by the nearest-to-highest rule (RFC 3550 A.1). */
struct stats_stream {
	uint64_t seen[STATS_WINDOW / 64]; /* bit (seq % WINDOW): received */
	uint32_t max_seq;                 /* highest extended sequence number */
	bool started;                     /* a packet has arrived */
	uint64_t received;                /* distinct packets */
	uint64_t duplicates;              /* copies of a packet already counted */
	uint64_t reordered;               /* arrived after a higher sequence number */
	int64_t last_transit_ns;          /* arrival - send time of the previous packet */
	uint64_t jitter16_ns;             /* RFC 3550 J, in ns, times 16 */
};

/* What stats_stream_receive made of a packet. */
enum stats_rx {
	STATS_RX_NEW = 0,     /* in order (possibly after a gap) */
	STATS_RX_REORDERED,   /* late but new: counted as received */
	STATS_RX_DUPLICATE,   /* already counted: ignore it */
};

/* Counters per worker. Monotonic except CALLS_UP and CALLS_DOWN, which
 * only ever grow too but are read as "how many calls". */
enum stats_counter {
	STATS_SENT = 0,       /* media packets (relay) or requests (stun) sent */
	STATS_SENT_BYTES,     /* their payload bytes (RTP packet or STUN request) */
	STATS_RECEIVED,       /* distinct media packets received / answers */
	STATS_RECEIVED_BYTES,
	STATS_DUPLICATES,
	STATS_REORDERED,
	STATS_CALLS_UP,       /* calls whose media started */
	STATS_CALLS_FAILED,   /* calls whose set-up failed */
	STATS_CALLS_DOWN,     /* calls that were up and lost a client (TCP closed) */
	STATS_ALLOCS,         /* successful Allocates */
	STATS_REQUESTS,       /* requests sent (first transmissions) */
	STATS_RETRANSMITS,
	STATS_STALE_NONCE,    /* 438 answered by retrying with the new nonce */
	STATS_TIMEOUTS,       /* stun mode: requests never answered */
	STATS_LATE,           /* stun mode: answers to no pending request */
	STATS_SEND_BLOCKED,   /* packet not sent: its buffers were still in flight */
	STATS_SEND_ERRORS,    /* sends the kernel failed */
	STATS_NO_BUFFERS,     /* receives stopped for want of buffers (-ENOBUFS) */
	STATS_MALFORMED,      /* received bytes that were not what was expected */
	STATS__COUNT
};

/* Failures by reason: a STUN error code (300..699) is its own index;
 * the local reasons below 300 have names (stats_error_name). */
enum stats_error {
	STATS_ERR_TIMEOUT = 1,      /* a request never answered (all retransmissions) */
	STATS_ERR_CONNECT = 2,      /* TCP connect failed */
	STATS_ERR_CLOSED = 3,       /* TCP connection closed by the server */
	STATS_ERR_REFUSED = 4,      /* ICMP port unreachable on a UDP socket */
	STATS_ERR_BAD_RESPONSE = 5, /* a success without the attributes it needs */
	STATS_ERR_SETUP_TIMEOUT = 6,/* the call was not up when set-up time ran out */
	STATS_ERR_SOCKET = 7,       /* opening a socket failed */
	STATS_ERR_SLOTS = 700
};

/* Everything one worker measures. Aligned so that two workers' blocks
 * never share a cache line. */
struct stats_block {
	_Alignas(64) uint64_t c[STATS__COUNT];
	uint64_t errors[STATS_ERR_SLOTS];
	uint64_t jitter_sum_ns;     /* sum over streams of their final jitter */
	uint64_t jitter_streams;    /* streams with at least two packets */
	struct stats_hist latency;  /* one-way (relay) or round-trip (stun) */
};

/* ---- histogram ---------------------------------------------------- */

/* Bucket of a value, and the range [lo, lo + width) a bucket covers. */
uint32_t stats_hist_index(uint64_t ns);
uint64_t stats_hist_bucket_lo(uint32_t idx);
uint64_t stats_hist_bucket_width(uint32_t idx);

/* Records one value (single writer; see the top of this file). */
void stats_hist_record(struct stats_hist *h, uint64_t ns);

/* The value at percentile pct (0 < pct <= 100) by nearest rank: the
 * midpoint of the bucket holding the ceil(pct/100 * total)-th smallest
 * value, never above max_ns when that is known. 0 when empty. */
uint64_t stats_hist_percentile(const struct stats_hist *h, double pct);

/* Mean in ns, 0 when empty. */
double stats_hist_mean(const struct stats_hist *h);

/* dst += src (max taken). dst is private to the caller. */
void stats_hist_merge(struct stats_hist *dst, const struct stats_hist *src);

/* dst = now - before, bucket by bucket (the values recorded between two
 * snapshots); max_ns is now's (an upper bound). */
void stats_hist_diff(struct stats_hist *dst, const struct stats_hist *now,
		     const struct stats_hist *before);

/* ---- streams ------------------------------------------------------ */

/* Accounts one packet of a stream: sequence number, the sender's clock
 * at sending and the receiver's at arrival (the same clock: both ends are
 * in this process). Duplicates change nothing but their counter. */
enum stats_rx stats_stream_receive(struct stats_stream *s, uint16_t seq, uint64_t send_ns,
				   uint64_t recv_ns);

/* The stream's current interarrival jitter in ns (RFC 3550 J). */
uint64_t stats_stream_jitter_ns(const struct stats_stream *s);

/* ---- blocks ------------------------------------------------------- */

/* Adds n to counter c of a block the caller is the only writer of. */
static inline void stats_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline uint64_t stats_read(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/* Copies a block another thread is writing (relaxed loads). */
void stats_block_snapshot(struct stats_block *dst, const struct stats_block *src);

/* dst += src: counters, errors, jitter sums and latency. */
void stats_block_merge(struct stats_block *dst, const struct stats_block *src);

/* Name of an error slot: "timeout", "connect", ... or the code ("401")
 * written into buf. */
const char *stats_error_name(unsigned idx, char *buf, size_t len);

#endif

/* jbuf: one participant's adaptive jitter buffer, keyed by RTP sequence
 * number, drained once per 20 ms mixer tick.
 *
 * Packets sit in a fixed ring of slots (slot = seq & (slots - 1)), each
 * holding a copy of one payload: jbuf_put copies, nothing is allocated
 * after jbuf_create. Order and loss are judged by sequence number only
 * (16-bit, wrapping: distances are taken as int16_t differences), never by
 * timestamp, so a sender's DTX gaps (timestamps jump, sequence numbers do
 * not) and clock quirks cannot reorder anything. Timestamps serve one
 * purpose: the RFC 3550 section 6.4.1 interarrival jitter estimate,
 *
 *   D = (arrival_j - arrival_i) - (ts_j - ts_i) / 48 kHz,  J += (|D| - J) / 16
 *
 * from which the target delay follows. J is a mean deviation: for arrival
 * jitter spread evenly over X ms it settles near X / 3, so
 *
 *   target_ms = clamp(3 * Jt, min_delay_ms, max_delay_ms)
 *
 * covers the spread, where Jt follows J up at once and down slowly (time
 * constant about 256 packets, 5 s), so one calm second does not undo what a
 * bad one taught.
 *
 * Playout, once per tick (jbuf_get):
 *   - A talkspurt (the first packet, or the first after DTX) starts at the
 *     first tick at least target_ms after its first packet arrived; until
 *     then JBUF_NOT_STARTED (or JBUF_DTX once the stream has played).
 *   - The packet for the next sequence number is there: JBUF_PACKET.
 *   - It is missing but the one after it is there: JBUF_LOST_FEC, with
 *     that next packet, whose in-band FEC rebuilds the lost frame.
 *   - It is missing and only later ones are there: JBUF_LOST_PLC.
 *   - Nothing at or after it has arrived (an underrun): the packet may be
 *     late rather than lost, so JBUF_LOST_PLC without moving on: the delay
 *     grows by one frame, and if the packet turns up it is played. When a
 *     later packet then shows the frame really was lost, frames concealed
 *     this way are skipped, so an outage does not leave its length behind
 *     as extra delay. After dtx_ms of underrun the stream is in JBUF_DTX
 *     (the sender went silent, RFC 7587 section 3.2, or away) until a
 *     packet arrives, which starts a new talkspurt at the current target:
 *     talkspurt boundaries are where the delay adapts for free.
 *   - During a talkspurt, when more than target + 1 frames stay queued for
 *     shrink_ticks ticks in a row, the oldest queued frame is dropped, so a
 *     delay grown by underruns comes back down once the jitter calms; when
 *     fewer than target - 1 stay queued as long, one tick conceals without
 *     moving on (a stretch), so a target raised by new jitter is reached
 *     before underruns force it.
 *
 * jbuf_put drops (and counts) packets whose frame was already played or
 * skipped (late), that are already held (duplicate), that lie a window or
 * more ahead of the next frame to play (out of window) and payloads longer
 * than a slot (oversize). A sender that restarts its sequence numbers is
 * followed after JBUF_RESYNC consecutive out-of-window packets in sequence
 * (160 ms), never on one stray packet.
 *
 * Not thread-safe: one owner (the room's worker) calls everything. */
#ifndef PARLEY_MIXER_JBUF_H
#define PARLEY_MIXER_JBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Frame length this buffer plays per jbuf_get: the mixer's 20 ms tick. */
#define JBUF_FRAME_MS 20

/* RTP timestamp units per millisecond (Opus and L16/48000 both use a
 * 48 kHz RTP clock, RFC 7587 section 4.1). */
#define JBUF_TS_PER_MS 48

/* Largest Opus packet (RFC 6716 section 3.4, R5); the default slot size. */
#define JBUF_OPUS_MAX 1275

/* Consecutive out-of-window packets, each following the last, that make
 * the buffer follow a sender's new sequence numbers. */
#define JBUF_RESYNC 8

/* What one tick gets to play. */
enum jbuf_kind {
	JBUF_NOT_STARTED, /* nothing received yet, or the first talkspurt is
	                     still waiting out its target delay */
	JBUF_PACKET,      /* data is this tick's packet: decode it */
	JBUF_LOST_FEC,    /* this tick's packet is lost; data is the next
	                     one: decode its in-band FEC (the next packet is
	                     still played on the next tick) */
	JBUF_LOST_PLC,    /* lost or late, nothing to rebuild from: conceal */
	JBUF_DTX,         /* no packets for dtx_ms or more (sender silent or
	                     gone): play silence, decode nothing */
};

/* One tick's worth, filled in by jbuf_get. */
struct jbuf_frame {
	enum jbuf_kind kind;
	/* PACKET: this tick's payload; LOST_FEC: the next packet's. Points
	 * into the buffer, valid until the next jbuf_put or jbuf_get; NULL
	 * for the other kinds. */
	const uint8_t *data;
	size_t len;   /* bytes at data, 0 when data is NULL */
	uint16_t seq; /* sequence number of the frame this tick plays
	                 (PACKET, LOST_*); 0 otherwise */
	uint32_t ts;  /* PACKET: its RTP timestamp; LOST_FEC: the next
	                 packet's; 0 otherwise */
	int16_t tag;  /* PACKET, LOST_FEC: the tag given to jbuf_put with
	                 data's packet (the room stores the RFC 6464 byte
	                 there); -1 otherwise */
};

/* Sizes and delay bounds; jbuf_config_default fills in the defaults. */
struct jbuf_config {
	uint32_t slots;        /* ring size: a power of two in [4, 1024]; the
	                          widest span of sequence numbers held (16 x
	                          20 ms = 320 ms by default) */
	uint32_t slot_bytes;   /* longest payload accepted, 1..65535
	                          (JBUF_OPUS_MAX by default) */
	uint32_t min_delay_ms; /* lower bound of the target delay (20) */
	uint32_t max_delay_ms; /* upper bound of the target delay (200); must
	                          fit the ring: < slots * JBUF_FRAME_MS */
	uint32_t dtx_ms;       /* underrun time that means DTX (60: three
	                          frames of concealment, then silence) */
	uint32_t shrink_ticks; /* ticks more than a frame above (below) the
	                          target before one frame is dropped
	                          (inserted): 25, half a second */
};

/* Counters since jbuf_create; jbuf_stats copies them out. */
struct jbuf_stats {
	uint64_t received;      /* packets accepted by jbuf_put */
	uint64_t late;          /* dropped: their frame was already played,
	                           concealed or skipped */
	uint64_t duplicate;     /* dropped: already held */
	uint64_t out_of_window; /* dropped: a window or more ahead, or far
	                           behind */
	uint64_t oversize;      /* dropped: longer than slot_bytes (or empty) */
	uint64_t resyncs;       /* times the buffer followed new sequence
	                           numbers (counting the very first packet) */
	uint64_t played;        /* JBUF_PACKET ticks */
	uint64_t lost;          /* frames never received in time: each is one
	                           fec_recovered, concealed or skipped frame */
	uint64_t fec_recovered; /* JBUF_LOST_FEC ticks */
	uint64_t concealed;     /* JBUF_LOST_PLC ticks (loss and underrun) */
	uint64_t skipped;       /* lost frames dropped without a tick of their
	                           own (already covered by underrun ticks) */
	uint64_t dropped;       /* frames dropped to bring the delay down */
	uint64_t stretched;     /* LOST_PLC ticks inserted to raise the delay
	                           (also counted in concealed) */
	uint64_t dtx_ticks;     /* JBUF_DTX ticks */
	uint32_t jitter_ms;     /* RFC 3550 interarrival jitter J, rounded */
	uint32_t target_ms;     /* current target delay */
	uint32_t depth;         /* frames queued after the last jbuf_get
	                           (next to play through the newest received,
	                           holes included) */
};

struct jbuf;

/* Fills cfg with the defaults above. */
void jbuf_config_default(struct jbuf_config *cfg);

/* Allocates a buffer for cfg (NULL: the defaults) in one piece: about
 * slots * slot_bytes bytes. Returns 0 and stores it in *out, -EINVAL for
 * a bad cfg, -ENOMEM. The caller owns it; jbuf_destroy frees it. */
int jbuf_create(const struct jbuf_config *cfg, struct jbuf **out);

/* Frees jb; NULL is allowed. */
void jbuf_destroy(struct jbuf *jb);

/* Forgets every packet and the stream position (the next packet starts a
 * new stream, NOT_STARTED until it has waited); keeps the jitter estimate
 * and the counters. */
void jbuf_reset(struct jbuf *jb);

/* Offers one received packet: sequence number seq, RTP timestamp ts,
 * payload (copied; len bytes), a caller's tag returned with the frame
 * (-1 for none), arrival_ms on the same monotonic clock as jbuf_get's.
 * Returns true if it was kept, false if it was dropped (and counted). */
bool jbuf_put(struct jbuf *jb, uint16_t seq, uint32_t ts, const uint8_t *payload, size_t len,
              int16_t tag, uint64_t now_ms);

/* Takes this tick's frame (see the kinds above); call once per tick with
 * the tick's time. Never fails; out is always filled in. */
void jbuf_get(struct jbuf *jb, uint64_t now_ms, struct jbuf_frame *out);

/* The packet one sequence number before the frame the last jbuf_get
 * played (PACKET or LOST_*), if it was received and the ring still holds
 * it (a played packet is kept until its slot is reused): a decoder that
 * sat out some ticks decodes it first to rebuild its history before the
 * current one. Returns true and fills out (kind JBUF_PACKET), or false. */
bool jbuf_prev(const struct jbuf *jb, struct jbuf_frame *out);

/* True when the buffer has nothing to play soon: not started or in DTX,
 * with no packet waiting. The room sleeps when all its buffers are idle. */
bool jbuf_idle(const struct jbuf *jb);

/* Copies the counters and the current estimates into st. */
void jbuf_stats(const struct jbuf *jb, struct jbuf_stats *st);

#endif

/* room: one conference on one worker: per participant a jitter buffer and
 * a decoder, talker selection, the mix, and the encoded streams out.
 *
 * Each 20 ms tick (ROOM_MODE_SELECT, parley's mixer):
 *
 *   every participant  jbuf_get -> this tick's frame; its level comes from
 *                      the RFC 6464 byte it was sent with, or, without
 *                      one, from decoding it (then it is decoded anyway)
 *   selection          up to K talkers (room_sel.c): voice activity, then
 *                      smoothed level, with hysteresis
 *   decode             only the talkers (and challengers warming up)
 *   contributions      gain or ramp (entering 0 -> 1, leaving 1 -> 0, one
 *                      frame each), total = sum: mix.h's integer kernels
 *   each talker        N-1 = total - own -> its limiter -> its encoder ->
 *                      to it alone
 *   everyone else      total -> the shared limiter -> encoded once per
 *                      output format -> the same bytes to each of them
 *
 * So a room of N with T talkers decodes about T streams and encodes T + 1
 * (per format in use), not N and N. Silence is not encoded: when nobody is
 * in the mix nothing is sent, and a lone talker (whose N-1 mix is empty)
 * is sent nothing (the listeners' jitter buffers see a DTX pause).
 *
 * Every listener has its own RTP stream (SSRC, sequence number, timestamp)
 * whatever it is fed: the sequence number goes up by one per packet sent,
 * the timestamp by 960 per tick (sent or not, so pauses show as timestamp
 * jumps, RFC 3550 section 5.1), the marker bit marks the first packet
 * after a pause. When a listener starts talking, its new encoder starts
 * as a copy of the shared one (libopus states copy with memcpy) and its
 * limiter as a copy of the shared limiter, so its decoder sees one
 * continuous stream. The way back cannot be made seamless that way (the
 * shared encoder serves others), and a decoder handed another encoder's
 * packets mid-stream clicks (measured: 20 times the usual sample-to-sample
 * step). So on its first tick back an Opus listener gets a one-byte
 * packet that its decoder conceals (RFC 6716's zero-length frame, still
 * one sequence number and 960 timestamp units), and the shared packets
 * after it decode as packets after a loss, which Opus smooths: a dip of
 * about 3 dB over 40 ms instead of a click, at no cost.
 *
 * Time: rooms run on absolute deadlines, epoch + 20 ms * n on the
 * caller's monotonic clock. room_tick returns the next deadline, or
 * ROOM_IDLE when every jitter buffer is idle and nobody is in the mix: an
 * idle room is not ticked at all until room_receive says to wake it.
 *
 * Memory: room_create allocates the room's tables, shared encoders and
 * scratch; room_join a participant's jitter buffer, decoder, encoder and
 * frame buffers. room_tick and room_receive allocate nothing.
 *
 * ROOM_MODE_PER_LISTENER is the baseline the benchmark compares against:
 * every participant with a frame is decoded, all are mixed, and every
 * listener gets its own N-1 mix, limiter and encoder, as a mixer that
 * transcodes per listener does.
 *
 * Not thread-safe: a room belongs to one worker, which makes every call. */
#ifndef PARLEY_MIXER_ROOM_H
#define PARLEY_MIXER_ROOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mixer/codec.h"
#include "mixer/jbuf.h"
#include "mixer/mix.h"

#define ROOM_TICK_MS          20
#define ROOM_PARTICIPANTS_MAX 1024 /* largest max_participants */
#define ROOM_TALKERS_MAX      16   /* largest K */
#define ROOM_FORMATS_MAX      4    /* output formats per room */

/* room_tick's answer when the room sleeps. */
#define ROOM_IDLE UINT64_MAX

/* room_receive's audio_level when the packet carried no RFC 6464 element. */
#define ROOM_LEVEL_NONE (-1)

/* Ticks room_tick runs at most per call to catch up with a late worker;
 * beyond that the missed ticks are skipped (and counted). */
#define ROOM_CATCHUP 4

enum room_mode {
	ROOM_MODE_SELECT,       /* top K talkers, one shared encode per format */
	ROOM_MODE_PER_LISTENER, /* baseline: decode all, encode per listener */
};

/* A room's settings; room_config_default fills in the defaults. */
struct room_config {
	enum room_mode mode;
	uint32_t max_participants; /* 1..ROOM_PARTICIPANTS_MAX (64) */
	uint32_t talkers;          /* K, talkers mixed at most: 1..ROOM_TALKERS_MAX (3) */
	uint32_t enter_ticks;      /* ticks in a row a challenger must rank
	                              above the weakest talker to take its
	                              seat (10: 200 ms); an empty seat is taken
	                              on the first voiced tick */
	uint32_t hangover_ticks;   /* ticks a talker keeps its seat after its
	                              last voiced frame (25: 500 ms) */
	float incumbent_db;        /* ranking bonus of a seated talker: a
	                              challenger must be this much louder (6) */
	float vad_dbov;            /* a frame at or above this level is voice,
	                              as is one whose RFC 6464 V bit is set
	                              (-45 dBov) */
	float limiter_threshold;   /* int16 peak of every mix out, (0, 32767]
	                              (LIMITER_FULL_SCALE) */
	uint32_t n_formats;        /* output formats, 1..ROOM_FORMATS_MAX (1) */
	struct codec_enc_config formats[ROOM_FORMATS_MAX]; /* [0]: the codec
	                              default, Opus 32 kb/s */
	struct jbuf_config jbuf;   /* every participant's (jbuf defaults; the
	                              room raises slot_bytes for L16 senders) */
	const struct mix_ops *ops; /* kernels; NULL: mix_ops_best() */
};

/* What room_join needs about a participant. */
struct room_join {
	enum codec_kind in_kind; /* what it sends */
	uint32_t format;         /* index into formats: what it receives */
	uint32_t ssrc;           /* SSRC of the stream sent to it, as the
	                            caller chose it (random, RFC 3550 8) */
	uint16_t seq;            /* first sequence number sent to it (random) */
	uint32_t ts;             /* its timestamp at the join tick (random) */
};

/* One packet for one listener; valid only during the callback. */
struct room_packet {
	uint32_t id;         /* the listener (room_join's id) */
	const uint8_t *data; /* payload; shared listeners get the same bytes */
	size_t len;          /* bytes at data */
	uint32_t ssrc;       /* the listener's stream */
	uint16_t seq;        /* its next sequence number */
	uint32_t ts;         /* RTP timestamp of this frame */
	bool marker;         /* first packet after a pause (RFC 3551 4.1) */
	bool shared;         /* data is the shared mix (not an N-1 mix) */
};

/* Called once per packet out; the caller wraps it in RTP/SRTP and sends
 * it. Must not call back into the room. */
typedef void room_out_fn(void *ctx, const struct room_packet *pkt);

/* Counters since room_create. */
struct room_stats {
	uint64_t ticks;          /* ticks run */
	uint64_t ticks_skipped;  /* ticks missed by a late caller, skipped */
	uint64_t wakeups;        /* times room_receive woke a sleeping room */
	uint64_t rx_bad;         /* packets refused: not one 20 ms frame of the
	                            sender's format */
	uint64_t rx_dropped;     /* packets the jitter buffers dropped */
	uint64_t decodes;        /* frames decoded (packet, FEC or PLC) */
	uint64_t decode_errors;  /* decodes that failed (concealed instead) */
	uint64_t warmups;        /* decoders restarted after sitting out ticks */
	uint64_t encodes;        /* frames encoded, shared and own */
	uint64_t encode_errors;  /* encodes that failed (nothing sent) */
	uint64_t shared_encodes; /* of which shared-mix frames */
	uint64_t packets_out;    /* callbacks */
	uint64_t enters;         /* talkers seated */
	uint64_t leaves;         /* talkers unseated (hangover or displaced) */
	uint64_t displaced;      /* of which displaced by a louder challenger */
	uint64_t switches_back;  /* listeners sent a concealment packet on
	                            their way back to the shared stream */
};

/* One participant's state, for tests, metrics and the load generator. */
struct room_part_info {
	bool talker;            /* seated in the mix */
	bool voice;             /* voice activity (with hangover) */
	float level_dbov;       /* smoothed level, -127 .. 0 */
	uint64_t packets_out;   /* packets sent to it */
	uint64_t own_packets;   /* of which its own N-1 mix */
	struct jbuf_stats jbuf; /* its jitter buffer */
};

struct room;

/* Fills cfg with the defaults above. */
void room_config_default(struct room_config *cfg);

/* Creates a room for cfg (NULL: defaults) whose tick grid starts at
 * now_ms. Returns 0 and the room in *out (owned by the caller), -EINVAL
 * for a bad setting, -ENOMEM. The room starts asleep. */
int room_create(const struct room_config *cfg, uint64_t now_ms, struct room **out);

/* Frees the room and every participant; NULL is allowed. */
void room_destroy(struct room *r);

/* Adds a participant (allocates its state) at now_ms: join->ts is its
 * stream's timestamp at the first tick due at or after now_ms. Returns
 * its id, >= 0, below max_participants and unique among present ones (a
 * leaver's id is reused), or -EINVAL, -ENOSPC (room full), -ENOMEM. */
int room_join(struct room *r, const struct room_join *join, uint64_t now_ms);

/* Removes participant id and frees its state; a seated talker drops out
 * of the mix at once. Returns 0 or -ENOENT. */
int room_leave(struct room *r, uint32_t id);

/* Hands the room one RTP packet from participant id: seq and ts from its
 * header, the payload (copied), and audio_level, the RFC 6464 one-byte
 * element's data byte when the header extension carried it, else
 * ROOM_LEVEL_NONE:
 *
 *    0 1 2 3 4 5 6 7
 *   +-+-+-+-+-+-+-+-+
 *   |V|    level    |   V: sender's voice activity flag
 *   +-+-+-+-+-+-+-+-+   level: 0..127, the audio level in -dBov
 *
 * now_ms is the arrival time (the caller's monotonic clock). Returns 1
 * when the packet woke a sleeping room (the caller arms its timer for
 * room_next_deadline), 0 when kept or dropped by the jitter buffer (late,
 * duplicate: counted), -ENOENT for an unknown id, -EBADMSG for a payload
 * that is not one 20 ms frame or a level out of range (counted). */
int room_receive(struct room *r, uint32_t id, uint16_t seq, uint32_t ts, const uint8_t *payload,
                 size_t len, int audio_level, uint64_t now_ms);

/* Runs every tick due by now_ms (at most ROOM_CATCHUP; the rest are
 * skipped), calling out(ctx, pkt) for each packet. Returns the next
 * deadline, or ROOM_IDLE when the room went to sleep. */
uint64_t room_tick(struct room *r, uint64_t now_ms, room_out_fn *out, void *ctx);

/* The next deadline, or ROOM_IDLE when asleep. */
uint64_t room_next_deadline(const struct room *r);

/* Copies the room's counters into st. */
void room_stats(const struct room *r, struct room_stats *st);

/* Fills info for participant id. Returns 0 or -ENOENT. */
int room_part_info(const struct room *r, uint32_t id, struct room_part_info *info);

/* Packs an RFC 6464 data byte: voice flag and level in -dBov (clamped to
 * 0..127). */
static inline int room_audio_level(bool voice, int minus_dbov)
{
	int level = minus_dbov < 0 ? 0 : minus_dbov > 127 ? 127 : minus_dbov;

	return (voice ? 0x80 : 0) | level;
}

#endif

/* room_impl: the room's internals, shared by room.c (membership, packets
 * in), room_sel.c (levels, talker selection) and room_tick.c (the tick).
 * Not for use outside mixer/room*.c. */
#ifndef PARLEY_MIXER_ROOM_IMPL_H
#define PARLEY_MIXER_ROOM_IMPL_H

#include "mixer/limiter.h"
#include "mixer/room.h"

/* Level of digital silence (RFC 6464: 127 means -127 dBov or less). */
#define ROOM_SILENCE_DBOV (-127.0f)

/* Where a listener's last packet came from. */
enum room_src {
	ROOM_SRC_NONE,   /* nothing sent yet */
	ROOM_SRC_SHARED, /* the shared mix of its format */
	ROOM_SRC_OWN,    /* its own N-1 mix */
};

struct room_part {
	uint32_t id;          /* index in room.part */
	uint32_t format;      /* index into cfg.formats: what it receives */
	struct jbuf *jb;      /* its packets in; owned */
	struct codec_dec dec; /* its stream's decoder; owned */
	struct codec_enc enc; /* its N-1 stream's encoder, used only while
	                         it is in the mix (always in the baseline) */
	struct limiter lim;   /* its N-1 stream's limiter, likewise */

	/* Its outgoing RTP stream. */
	uint32_t ssrc;          /* as given at join */
	uint16_t seq;           /* sequence number of the next packet */
	uint32_t ts0;           /* timestamp at tick0 */
	uint64_t tick0;         /* the room tick it joined at */
	uint64_t last_tick;     /* tick of the last packet sent to it */
	enum room_src last_src; /* which mix that packet carried */

	/* This tick. */
	struct jbuf_frame fr; /* from jbuf_get */
	bool decoded;         /* pcm holds fr decoded */
	bool in_mix;          /* contributes (so gets its own N-1 stream) */
	bool dec_warm;        /* the decoder has decoded every audible frame
	                         up to the last tick: its history is
	                         continuous */

	/* Level and selection (room_sel.c). */
	float level;         /* smoothed level, dBov */
	uint32_t voice_hold; /* ticks of voice activity left; > 0: active */
	uint32_t challenge;  /* consecutive ticks ranked above the weakest
	                        seated talker while not seated */
	bool talker;         /* seated: its target gain is unity */
	int16_t gain;        /* Q14 contribution gain reached at the end of
	                        the last tick (0 or MIX_GAIN_ONE) */

	uint64_t packets_out; /* packets sent to it */
	uint64_t own_packets; /* of which its own N-1 mix */

	int16_t *pcm;     /* CODEC_FRAME: this tick's decoded frame */
	int32_t *contrib; /* CODEC_FRAME: its contribution to total */
};

struct room {
	struct room_config cfg;    /* as created, formats included */
	const struct mix_ops *ops; /* kernels */
	uint64_t epoch_ms;         /* tick n is due at epoch_ms + 20 ms * n */
	uint64_t tick;             /* next tick to run */
	bool asleep;               /* idle: no tick until room_receive */
	struct room_part **part;   /* by id; NULL where free */
	uint32_t *live;            /* ids present, n_live of them */
	uint32_t n_live;
	uint32_t *mixed; /* ids in this tick's mix, n_mixed */
	uint32_t n_mixed;
	uint32_t n_talkers;                            /* seated talkers (SELECT mode) */
	struct codec_enc shared_enc[ROOM_FORMATS_MAX]; /* shared mix, per format */
	struct limiter shared_lim;                     /* shared mix's limiter (one for all
	                                                  formats: the samples are the same) */
	int32_t *total;                                /* CODEC_FRAME: sum of contributions */
	int32_t *own;                                  /* CODEC_FRAME: an N-1 mix */
	int16_t *out16;                                /* CODEC_FRAME: a limited mix */
	int16_t *warm16;                               /* CODEC_FRAME: warm-up decode output */
	uint8_t *pkt;                                  /* CODEC_PACKET_MAX: an encoded frame */
	struct room_stats st;                          /* counters */
};

/* Updates p's smoothed level and voice activity from this tick's frame:
 * its RFC 6464 byte if it had one, else its decoded samples (the caller
 * decodes untagged audible frames first), else (concealment) no change. */
void room_sel_level(struct room *r, struct room_part *p);

/* Seats and unseats talkers for this tick (hangover, top K, hysteresis);
 * sets talker, challenge and the counters. */
void room_sel_update(struct room *r);

/* Level of a frame in dBov (RMS against full scale), ROOM_SILENCE_DBOV
 * for digital silence. */
float room_sel_dbov(const int16_t *pcm, size_t n);

/* Resets every participant's level and selection state (the room sleeps:
 * everyone is silent). */
void room_sel_clear(struct room *r);

#endif

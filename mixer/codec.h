/* codec: the mixer's thin layer over libopus (and L16), one 20 ms mono
 * frame at 48 kHz per call.
 *
 * Two payload formats:
 *   CODEC_OPUS  RFC 7587: Opus at 48 kHz, mono, 20 ms frames only (the
 *               mixer's tick; a packet of any other duration is refused
 *               by codec_packet_check before it reaches a decoder);
 *   CODEC_L16   RFC 3551 section 4.5.11 L16/48000/1: 960 big-endian int16
 *               samples, 1920 bytes. Transparent: decode(encode(x)) == x,
 *               which is what lets the tests check the room's N-1 mixes
 *               sample for sample; also usable on a LAN.
 *
 * States are allocated once by *_init (at a participant's join) and never
 * during a call: decode, FEC, concealment and encode allocate nothing
 * (libopus works on the stack). A codec state belongs to one thread at a
 * time; the room's worker owns all of a room's. */
#ifndef PARLEY_MIXER_CODEC_H
#define PARLEY_MIXER_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mixer/mix.h"

/* Sample rate and frame of every state: the mixer's. */
#define CODEC_RATE  48000
#define CODEC_FRAME MIX_FRAME

/* Bytes of an L16 frame. */
#define CODEC_L16_BYTES (2 * CODEC_FRAME)

/* Output buffer that holds any encoded frame of either format (an Opus
 * packet is at most 1275 bytes, RFC 6716 section 3.4). */
#define CODEC_PACKET_MAX CODEC_L16_BYTES

enum codec_kind {
	CODEC_OPUS, /* RFC 7587 Opus */
	CODEC_L16,  /* RFC 3551 L16, 48 kHz mono */
};

struct OpusDecoder;
struct OpusEncoder;

/* An encoder's settings (Opus ones are ignored for L16). */
struct codec_enc_config {
	enum codec_kind kind;
	int32_t bitrate; /* bits/s, 6000..510000 (32000: wideband speech
	                    with room for FEC) */
	int complexity;  /* 0..10; cost grows about 4x from 1 to 10 (5: a
	                    server encodes many streams) */
	bool fec;        /* in-band FEC (LBRR): the next packet can rebuild
	                    a lost one (on) */
	int loss_perc;   /* expected loss, 0..100 %: how much FEC to spend
	                    (10) */
	bool dtx;        /* discontinuous transmission: silent frames come
	                    out empty and are not sent (off) */
};

/* One participant's decoder. */
struct codec_dec {
	enum codec_kind kind;
	struct OpusDecoder *od; /* CODEC_OPUS: owned state; NULL for L16 */
};

/* One output stream's encoder. */
struct codec_enc {
	struct codec_enc_config cfg; /* as given to codec_enc_init */
	struct OpusEncoder *oe;      /* CODEC_OPUS: owned state; NULL for L16 */
	size_t size;                 /* bytes at oe (for codec_enc_copy) */
};

/* Fills cfg with the defaults above (Opus). */
void codec_enc_config_default(struct codec_enc_config *cfg);

/* Returns 0 when data (len bytes, network input) is one decodable 20 ms
 * frame of kind: an Opus packet whose TOC and frame count give exactly
 * CODEC_FRAME samples, or exactly CODEC_L16_BYTES of L16. -EBADMSG
 * otherwise (malformed, or another duration). Reads only within len. */
int codec_packet_check(enum codec_kind kind, const uint8_t *data, size_t len);

/* Sets d up for kind (allocates the Opus state). Returns 0, -EINVAL,
 * -ENOMEM. codec_dec_fini releases it. */
int codec_dec_init(struct codec_dec *d, enum codec_kind kind);

/* Releases d's state; a zeroed or already finished d is fine. */
void codec_dec_fini(struct codec_dec *d);

/* Decodes one packet into pcm[CODEC_FRAME]. Returns 0, or -EBADMSG when
 * the packet does not decode to one frame, in which case pcm holds the
 * concealment instead (pcm is always filled). */
int codec_dec_decode(struct codec_dec *d, const uint8_t *data, size_t len, int16_t *pcm);

/* Rebuilds the frame before next (the packet after a lost one) from
 * next's in-band FEC into pcm[CODEC_FRAME]; where next carries none,
 * libopus conceals instead. next is decoded normally afterwards, on its
 * own tick. Returns 0 or -EBADMSG (pcm concealed). L16: concealment. */
int codec_dec_fec(struct codec_dec *d, const uint8_t *next, size_t len, int16_t *pcm);

/* Conceals one missing frame into pcm[CODEC_FRAME] (Opus PLC, fading
 * out over consecutive calls; L16: silence). */
void codec_dec_plc(struct codec_dec *d, int16_t *pcm);

/* Forgets the decoder's history, as for a new stream. */
void codec_dec_reset(struct codec_dec *d);

/* Sets e up with cfg (allocates the Opus state). Returns 0, -EINVAL for
 * a setting out of range, -ENOMEM. codec_enc_fini releases it. */
int codec_enc_init(struct codec_enc *e, const struct codec_enc_config *cfg);

/* Releases e's state; a zeroed or already finished e is fine. */
void codec_enc_fini(struct codec_enc *e);

/* Encodes pcm[CODEC_FRAME] into out (max bytes; CODEC_PACKET_MAX always
 * suffices). Returns the length, 0 when DTX says this frame need not be
 * sent, or -errno (-ENOBUFS: max too small; -EIO: libopus failed). */
int codec_enc_encode(struct codec_enc *e, const int16_t *pcm, uint8_t *out, size_t max);

/* Makes dst continue exactly where src is: same next packet for the same
 * input. libopus documents its encoder state as position independent and
 * copied by a shallow memcpy. Both must have been set up with the same
 * config. Returns 0 or -EINVAL. */
int codec_enc_copy(struct codec_enc *dst, const struct codec_enc *src);

/* Forgets the encoder's history, as for a new stream. */
void codec_enc_reset(struct codec_enc *e);

/* Writes into out (at least 1 byte) a packet that makes a decoder conceal
 * one frame: for Opus, the TOC byte of pkt (a packet of the same stream)
 * with code 0 and a zero-length frame, which RFC 6716 (section 3.2.1)
 * lets an encoder send in place of a frame and libopus decodes as a loss.
 * Returns its length, or 0 when the format has no such packet (L16, or
 * pkt empty). Sent to a listener whose decoder is about to be handed
 * another encoder's stream, it turns the mismatch (a click) into
 * concealment followed by a packet after a loss, which Opus decoders
 * smooth. */
size_t codec_conceal_packet(enum codec_kind kind, const uint8_t *pkt, size_t len, uint8_t *out);

#endif

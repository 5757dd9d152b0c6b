/* codec: libopus calls with the mixer's fixed frame, and L16. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <opus.h>

#include "mixer/codec.h"

void codec_enc_config_default(struct codec_enc_config *cfg)
{
	*cfg = (struct codec_enc_config){
	    .kind = CODEC_OPUS,
	    .bitrate = 32000,
	    .complexity = 5,
	    .fec = true,
	    .loss_perc = 10,
	    .dtx = false,
	};
}

int codec_packet_check(enum codec_kind kind, const uint8_t *data, size_t len)
{
	if (!data || len == 0)
		return -EBADMSG;
	if (kind == CODEC_L16)
		return len == CODEC_L16_BYTES ? 0 : -EBADMSG;
	if (kind != CODEC_OPUS || len > 1275)
		return -EBADMSG;
	/* Reads the TOC byte and, for code 3, the frame count byte. */
	return opus_packet_get_nb_samples(data, (opus_int32)len, CODEC_RATE) == CODEC_FRAME
	           ? 0
	           : -EBADMSG;
}

int codec_dec_init(struct codec_dec *d, enum codec_kind kind)
{
	memset(d, 0, sizeof(*d));
	d->kind = kind;
	if (kind == CODEC_L16)
		return 0;
	if (kind != CODEC_OPUS)
		return -EINVAL;
	d->od = malloc((size_t)opus_decoder_get_size(1));
	if (!d->od)
		return -ENOMEM;
	if (opus_decoder_init(d->od, CODEC_RATE, 1) != OPUS_OK) {
		codec_dec_fini(d);
		return -EINVAL;
	}
	return 0;
}

void codec_dec_fini(struct codec_dec *d)
{
	if (!d)
		return;
	free(d->od);
	d->od = NULL;
}

void codec_dec_plc(struct codec_dec *d, int16_t *pcm)
{
	if (d->kind != CODEC_OPUS ||
	    opus_decode(d->od, NULL, 0, pcm, CODEC_FRAME, 0) != CODEC_FRAME)
		memset(pcm, 0, CODEC_FRAME * sizeof(*pcm));
}

int codec_dec_decode(struct codec_dec *d, const uint8_t *data, size_t len, int16_t *pcm)
{
	if (d->kind == CODEC_L16) {
		if (len != CODEC_L16_BYTES) {
			codec_dec_plc(d, pcm);
			return -EBADMSG;
		}
		for (size_t i = 0; i < CODEC_FRAME; i++)
			pcm[i] = (int16_t)((uint16_t)data[2 * i] << 8 | data[2 * i + 1]);
		return 0;
	}
	if (len > 1275 ||
	    opus_decode(d->od, data, (opus_int32)len, pcm, CODEC_FRAME, 0) != CODEC_FRAME) {
		codec_dec_plc(d, pcm);
		return -EBADMSG;
	}
	return 0;
}

int codec_dec_fec(struct codec_dec *d, const uint8_t *next, size_t len, int16_t *pcm)
{
	if (d->kind != CODEC_OPUS) {
		codec_dec_plc(d, pcm);
		return 0;
	}
	/* frame_size is the missing duration: one frame (opus_decode's doc). */
	if (len > 1275 ||
	    opus_decode(d->od, next, (opus_int32)len, pcm, CODEC_FRAME, 1) != CODEC_FRAME) {
		codec_dec_plc(d, pcm);
		return -EBADMSG;
	}
	return 0;
}

void codec_dec_reset(struct codec_dec *d)
{
	if (d->od)
		opus_decoder_ctl(d->od, OPUS_RESET_STATE);
}

static int enc_apply(struct codec_enc *e)
{
	const struct codec_enc_config *c = &e->cfg;

	if (opus_encoder_ctl(e->oe, OPUS_SET_BITRATE(c->bitrate)) != OPUS_OK ||
	    opus_encoder_ctl(e->oe, OPUS_SET_COMPLEXITY(c->complexity)) != OPUS_OK ||
	    opus_encoder_ctl(e->oe, OPUS_SET_INBAND_FEC(c->fec ? 1 : 0)) != OPUS_OK ||
	    opus_encoder_ctl(e->oe, OPUS_SET_PACKET_LOSS_PERC(c->loss_perc)) != OPUS_OK ||
	    opus_encoder_ctl(e->oe, OPUS_SET_DTX(c->dtx ? 1 : 0)) != OPUS_OK ||
	    opus_encoder_ctl(e->oe, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE)) != OPUS_OK)
		return -EINVAL;
	return 0;
}

int codec_enc_init(struct codec_enc *e, const struct codec_enc_config *cfg)
{
	int err;

	memset(e, 0, sizeof(*e));
	if (!cfg)
		return -EINVAL;
	e->cfg = *cfg;
	if (cfg->kind == CODEC_L16)
		return 0;
	if (cfg->kind != CODEC_OPUS || cfg->bitrate < 6000 || cfg->bitrate > 510000 ||
	    cfg->complexity < 0 || cfg->complexity > 10 || cfg->loss_perc < 0 ||
	    cfg->loss_perc > 100)
		return -EINVAL;
	e->size = (size_t)opus_encoder_get_size(1);
	e->oe = malloc(e->size);
	if (!e->oe)
		return -ENOMEM;
	/* VOIP: favours intelligibility, and enables the speech tools the
	 * FEC relies on (SILK layer). */
	err = opus_encoder_init(e->oe, CODEC_RATE, 1, OPUS_APPLICATION_VOIP) != OPUS_OK
	          ? -EINVAL
	          : enc_apply(e);
	if (err)
		codec_enc_fini(e);
	return err;
}

void codec_enc_fini(struct codec_enc *e)
{
	if (!e)
		return;
	free(e->oe);
	e->oe = NULL;
}

int codec_enc_encode(struct codec_enc *e, const int16_t *pcm, uint8_t *out, size_t max)
{
	if (e->cfg.kind == CODEC_L16) {
		if (max < CODEC_L16_BYTES)
			return -ENOBUFS;
		for (size_t i = 0; i < CODEC_FRAME; i++) {
			out[2 * i] = (uint8_t)((uint16_t)pcm[i] >> 8);
			out[2 * i + 1] = (uint8_t)pcm[i];
		}
		return CODEC_L16_BYTES;
	}

	opus_int32 n =
	    opus_encode(e->oe, pcm, CODEC_FRAME, out, (opus_int32)(max > 1275 ? 1275 : max));

	if (n == OPUS_BUFFER_TOO_SMALL)
		return -ENOBUFS;
	if (n < 0)
		return -EIO;
	/* libopus: 1 or 2 bytes means "DTX, need not be transmitted". */
	return e->cfg.dtx && n <= 2 ? 0 : (int)n;
}

static bool cfg_equal(const struct codec_enc_config *a, const struct codec_enc_config *b)
{
	return a->kind == b->kind && a->bitrate == b->bitrate && a->complexity == b->complexity &&
	       a->fec == b->fec && a->loss_perc == b->loss_perc && a->dtx == b->dtx;
}

int codec_enc_copy(struct codec_enc *dst, const struct codec_enc *src)
{
	if (dst->size != src->size || !cfg_equal(&dst->cfg, &src->cfg))
		return -EINVAL;
	if (src->oe)
		memcpy(dst->oe, src->oe, src->size);
	return 0;
}

void codec_enc_reset(struct codec_enc *e)
{
	if (e->oe)
		opus_encoder_ctl(e->oe, OPUS_RESET_STATE);
}

size_t codec_conceal_packet(enum codec_kind kind, const uint8_t *pkt, size_t len, uint8_t *out)
{
	if (kind != CODEC_OPUS || len < 1)
		return 0;
	/* TOC: config (5 bits), stereo (1), frame count code (2): code 0 is
	 * one frame, here of the N - 1 = 0 bytes that follow. */
	out[0] = pkt[0] & 0xfc;
	return 1;
}

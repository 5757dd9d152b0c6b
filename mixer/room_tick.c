/* room_tick: one 20 ms tick of a room, on absolute deadlines.
 *
 * Order within a tick (ROOM_MODE_SELECT):
 *   1. every participant's frame from its jitter buffer; untagged audible
 *      frames are decoded now, since their level needs the samples;
 *   2. levels and seats (room_sel.c);
 *   3. the mix: talkers, and talkers ramping out, are decoded (and a
 *      challenger on the last tick of its wait, to warm its decoder up),
 *      contribute, and are summed;
 *   4. each of them gets total - own through its limiter and encoder; this
 *      comes before the shared mix, because a talker that just entered
 *      starts from a copy of the shared encoder and limiter as they were
 *      after the last tick, the state its listener's decoder follows;
 *   5. the shared mix, limited once, encoded once per format in use, sent
 *      to every other listener (to one just back from its own stream, a
 *      concealment packet on this tick: see shared_streams()).
 *
 * Decoders that sit out (a participant neither in the mix nor untagged)
 * lose their history. When one is needed again it is reset and fed the
 * packet before the current one first (jbuf_prev), so the frame that goes
 * into the mix comes out of a decoder with 20 ms of real history; what
 * remains of the seam is under the entry ramp (0 -> unity over that
 * frame). A challenger is decoded on the last tick of its wait (reset,
 * previous and current packet), so a talker that displaces another enters
 * with 40 ms of history; decoding challengers on every tick of the wait
 * would cost a decode per tick for the many challenges that fail. */
#include <string.h>

#include "mixer/room_impl.h"

static bool audible(enum jbuf_kind kind)
{
	return kind == JBUF_PACKET || kind == JBUF_LOST_FEC || kind == JBUF_LOST_PLC;
}

/* Restarts a decoder that missed frames: reset, then the previous packet
 * if the jitter buffer still has it. */
static void warm_up(struct room *r, struct room_part *p)
{
	struct jbuf_frame prev;

	codec_dec_reset(&p->dec);
	if (jbuf_prev(p->jb, &prev)) {
		codec_dec_decode(&p->dec, prev.data, prev.len, r->warm16);
		r->st.decodes++;
	}
	r->st.warmups++;
}

/* Decodes p's frame of this tick into p->pcm, once. */
static void decode(struct room *r, struct room_part *p)
{
	const struct jbuf_frame *f = &p->fr;
	int err = 0;

	if (p->decoded)
		return;
	p->decoded = true;
	if (!audible(f->kind)) {
		/* Silence. The decoder keeps its history: a DTX pause is what
		 * the sender's encoder expects a decoder to sit through. */
		memset(p->pcm, 0, CODEC_FRAME * sizeof(*p->pcm));
		return;
	}
	if (!p->dec_warm)
		warm_up(r, p);
	if (f->kind == JBUF_PACKET)
		err = codec_dec_decode(&p->dec, f->data, f->len, p->pcm);
	else if (f->kind == JBUF_LOST_FEC)
		err = codec_dec_fec(&p->dec, f->data, f->len, p->pcm);
	else
		codec_dec_plc(&p->dec, p->pcm);
	p->dec_warm = true;
	r->st.decodes++;
	r->st.decode_errors += err != 0;
}

/* Sends one packet to listener p. */
static void emit(struct room *r, struct room_part *p, const uint8_t *data, size_t len, bool shared,
                 room_out_fn *out, void *ctx)
{
	struct room_packet pkt = {
	    .id = p->id,
	    .data = data,
	    .len = len,
	    .ssrc = p->ssrc,
	    .seq = p->seq++,
	    .ts = p->ts0 + (uint32_t)(r->tick - p->tick0) * CODEC_FRAME,
	    .marker = p->last_src == ROOM_SRC_NONE || p->last_tick + 1 != r->tick,
	    .shared = shared,
	};

	p->last_tick = r->tick;
	p->last_src = shared ? ROOM_SRC_SHARED : ROOM_SRC_OWN;
	p->packets_out++;
	p->own_packets += !shared;
	r->st.packets_out++;
	out(ctx, &pkt);
}

/* Encodes pcm with e into r->pkt. Returns the length, 0 for nothing to
 * send (DTX or an error, counted). */
static size_t encode(struct room *r, struct codec_enc *e, const int16_t *pcm)
{
	int n = codec_enc_encode(e, pcm, r->pkt, CODEC_PACKET_MAX);

	r->st.encodes++;
	if (n < 0) {
		r->st.encode_errors++;
		return 0;
	}
	return (size_t)n;
}

/* Listener p's own stream this tick: own = total - its contribution (or
 * the whole total when it contributes nothing: baseline listeners). */
static void own_stream(struct room *r, struct room_part *p, room_out_fn *out, void *ctx)
{
	bool continued = p->last_src == ROOM_SRC_OWN && p->last_tick + 1 == r->tick;
	size_t len;

	/* A lone talker's N-1 mix is silence: send it nothing, as to everyone
	 * when nobody talks. */
	if (r->cfg.mode == ROOM_MODE_SELECT && r->n_mixed == 1)
		return;
	if (r->cfg.mode == ROOM_MODE_SELECT && !continued) {
		/* Entering the mix: carry on from the stream it was getting. */
		if (p->last_src == ROOM_SRC_SHARED && p->last_tick + 1 == r->tick) {
			codec_enc_copy(&p->enc, &r->shared_enc[p->format]);
			p->lim = r->shared_lim;
		} else {
			codec_enc_reset(&p->enc);
			limiter_reset(&p->lim);
		}
	}
	if (p->in_mix)
		r->ops->sub_s32(r->own, r->total, p->contrib, CODEC_FRAME);
	else
		memcpy(r->own, r->total, CODEC_FRAME * sizeof(*r->own));
	limiter_process(&p->lim, r->out16, r->own, CODEC_FRAME);
	len = encode(r, &p->enc, r->out16);
	if (len)
		emit(r, p, r->pkt, len, false, out, ctx);
}

/* Every listener not in the mix: one limiter, one encode per format. */
static void shared_streams(struct room *r, room_out_fn *out, void *ctx)
{
	uint32_t listeners[ROOM_FORMATS_MAX] = {0}, any = 0;

	for (uint32_t i = 0; i < r->n_live; i++) {
		struct room_part *p = r->part[r->live[i]];

		if (!p->in_mix) {
			listeners[p->format]++;
			any++;
		}
	}
	if (!any)
		return;
	limiter_process(&r->shared_lim, r->out16, r->total, CODEC_FRAME);
	for (uint32_t f = 0; f < r->cfg.n_formats; f++) {
		size_t len;

		if (!listeners[f])
			continue;
		len = encode(r, &r->shared_enc[f], r->out16);
		r->st.shared_encodes++;
		if (!len)
			continue;
		for (uint32_t i = 0; i < r->n_live; i++) {
			struct room_part *p = r->part[r->live[i]];
			uint8_t conceal[1];
			size_t n;

			if (p->in_mix || p->format != f)
				continue;
			/* Back from its own stream: its decoder followed another
			 * encoder, and decoding the shared one's packet would click
			 * (measured: 20 times the usual sample-to-sample step).
			 * One concealed frame first makes the next packet one after
			 * a loss, which the decoder smooths. */
			if (p->last_src == ROOM_SRC_OWN && p->last_tick + 1 == r->tick &&
			    (n = codec_conceal_packet(r->cfg.formats[f].kind, r->pkt, len,
			                              conceal))) {
				emit(r, p, conceal, n, true, out, ctx);
				r->st.switches_back++;
				continue;
			}
			emit(r, p, r->pkt, len, true, out, ctx);
		}
	}
}

/* Frames in, levels, seats; fills r->mixed. */
static void gather(struct room *r, uint64_t now_ms)
{
	bool select = r->cfg.mode == ROOM_MODE_SELECT;

	r->n_mixed = 0;
	for (uint32_t i = 0; i < r->n_live; i++) {
		struct room_part *p = r->part[r->live[i]];

		jbuf_get(p->jb, now_ms, &p->fr);
		p->decoded = false;
		if (!select) {
			p->in_mix = audible(p->fr.kind);
			if (p->in_mix) {
				decode(r, p);
				r->mixed[r->n_mixed++] = p->id;
			}
			continue;
		}
		if (audible(p->fr.kind) && p->fr.tag < 0 && p->fr.kind != JBUF_LOST_PLC)
			decode(r, p);
		room_sel_level(r, p);
	}
	if (!select)
		return;
	room_sel_update(r);
	for (uint32_t i = 0; i < r->n_live; i++) {
		struct room_part *p = r->part[r->live[i]];

		p->in_mix = p->talker || p->gain > 0;
		/* A challenger one tick from taking a seat warms its decoder up. */
		if (p->in_mix || (p->challenge && p->challenge + 1 == r->cfg.enter_ticks))
			decode(r, p);
		if (p->in_mix)
			r->mixed[r->n_mixed++] = p->id;
		if (!p->decoded && audible(p->fr.kind))
			p->dec_warm = false;
	}
}

/* Contributions and their sum into r->total. */
static void mix(struct room *r)
{
	const struct mix_ops *k = r->ops;

	for (uint32_t i = 0; i < r->n_mixed; i++) {
		struct room_part *p = r->part[r->mixed[i]];
		int16_t target =
		    r->cfg.mode == ROOM_MODE_PER_LISTENER || p->talker ? MIX_GAIN_ONE : 0;

		if (r->cfg.mode == ROOM_MODE_PER_LISTENER || p->gain == target)
			k->gain_s16(p->contrib, p->pcm, target, CODEC_FRAME);
		else
			k->ramp_s16(p->contrib, p->pcm, p->gain, target, CODEC_FRAME);
		p->gain = target;
		if (i == 0)
			memcpy(r->total, p->contrib, CODEC_FRAME * sizeof(*r->total));
		else
			k->add_s32(r->total, p->contrib, CODEC_FRAME);
	}
}

static void run_tick(struct room *r, uint64_t now_ms, room_out_fn *out, void *ctx)
{
	r->st.ticks++;
	gather(r, now_ms);
	if (!r->n_mixed)
		return; /* nobody to hear: nothing to encode or send */
	mix(r);
	if (r->cfg.mode == ROOM_MODE_PER_LISTENER) {
		for (uint32_t i = 0; i < r->n_live; i++)
			own_stream(r, r->part[r->live[i]], out, ctx);
		return;
	}
	for (uint32_t i = 0; i < r->n_mixed; i++)
		own_stream(r, r->part[r->mixed[i]], out, ctx);
	shared_streams(r, out, ctx);
}

/* Nothing can happen before the next packet: every jitter buffer idle,
 * nobody seated or ramping out. */
static bool idle(const struct room *r)
{
	for (uint32_t i = 0; i < r->n_live; i++) {
		const struct room_part *p = r->part[r->live[i]];

		if (!jbuf_idle(p->jb) || p->talker || p->gain > 0)
			return false;
	}
	return true;
}

uint64_t room_next_deadline(const struct room *r)
{
	return r->asleep ? ROOM_IDLE : r->epoch_ms + r->tick * ROOM_TICK_MS;
}

uint64_t room_tick(struct room *r, uint64_t now_ms, room_out_fn *out, void *ctx)
{
	uint64_t due;

	for (int ran = 0; ran < ROOM_CATCHUP && !r->asleep; ran++) {
		due = room_next_deadline(r);
		if (due > now_ms)
			return due;
		run_tick(r, due, out, ctx);
		r->tick++;
		if (idle(r)) {
			room_sel_clear(r);
			r->asleep = true;
		}
	}
	if (r->asleep)
		return ROOM_IDLE;
	due = room_next_deadline(r);
	if (due <= now_ms) {
		/* Too far behind to catch up: skip to the next deadline. */
		uint64_t behind = (now_ms - due) / ROOM_TICK_MS + 1;

		r->tick += behind;
		r->st.ticks_skipped += behind;
		due += behind * ROOM_TICK_MS;
	}
	return due;
}

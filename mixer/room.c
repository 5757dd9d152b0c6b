/* room: creation, membership and packets in. The tick is room_tick.c,
 * talker selection room_sel.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mixer/room_impl.h"

void room_config_default(struct room_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = ROOM_MODE_SELECT;
	cfg->max_participants = 64;
	cfg->talkers = 3;
	cfg->enter_ticks = 10;
	cfg->hangover_ticks = 25;
	cfg->incumbent_db = 6.0f;
	cfg->vad_dbov = -45.0f;
	cfg->limiter_threshold = LIMITER_FULL_SCALE;
	cfg->n_formats = 1;
	codec_enc_config_default(&cfg->formats[0]);
	jbuf_config_default(&cfg->jbuf);
	cfg->ops = NULL;
}

static int check_config(const struct room_config *c)
{
	struct jbuf *jb;
	int err;

	if (c->mode != ROOM_MODE_SELECT && c->mode != ROOM_MODE_PER_LISTENER)
		return -EINVAL;
	if (c->max_participants < 1 || c->max_participants > ROOM_PARTICIPANTS_MAX)
		return -EINVAL;
	if (c->talkers < 1 || c->talkers > ROOM_TALKERS_MAX || c->enter_ticks < 1 ||
	    c->hangover_ticks < 1)
		return -EINVAL;
	if (!(c->incumbent_db >= 0.0f && c->incumbent_db <= 60.0f) ||
	    !(c->vad_dbov >= -127.0f && c->vad_dbov <= 0.0f))
		return -EINVAL;
	if (c->n_formats < 1 || c->n_formats > ROOM_FORMATS_MAX)
		return -EINVAL;
	/* The jitter buffer checks its own settings. */
	err = jbuf_create(&c->jbuf, &jb);
	jbuf_destroy(jb);
	return err;
}

int room_create(const struct room_config *cfg, uint64_t now_ms, struct room **out)
{
	struct room_config def;
	struct room *r;
	int err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!cfg) {
		room_config_default(&def);
		cfg = &def;
	}
	err = check_config(cfg);
	if (err)
		return err;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->cfg = *cfg;
	r->ops = cfg->ops ? cfg->ops : mix_ops_best();
	r->epoch_ms = now_ms;
	r->asleep = true;

	uint32_t n = cfg->max_participants;

	r->part = calloc(n, sizeof(*r->part));
	r->live = calloc(n, sizeof(*r->live));
	r->mixed = calloc(n, sizeof(*r->mixed));
	r->total = calloc(CODEC_FRAME, sizeof(*r->total));
	r->own = calloc(CODEC_FRAME, sizeof(*r->own));
	r->out16 = calloc(CODEC_FRAME, sizeof(*r->out16));
	r->warm16 = calloc(CODEC_FRAME, sizeof(*r->warm16));
	r->pkt = calloc(CODEC_PACKET_MAX, 1);
	err = -ENOMEM;
	if (!r->part || !r->live || !r->mixed || !r->total || !r->own || !r->out16 || !r->warm16 ||
	    !r->pkt)
		goto fail;
	err = limiter_init(&r->shared_lim, r->ops, CODEC_RATE, cfg->limiter_threshold,
	                   LIMITER_RELEASE_MS);
	if (err)
		goto fail;
	/* The baseline has no shared mix; its encoders are the listeners'. */
	for (uint32_t f = 0; f < cfg->n_formats; f++) {
		err = cfg->mode == ROOM_MODE_SELECT
		          ? codec_enc_init(&r->shared_enc[f], &cfg->formats[f])
		          : 0;
		if (err)
			goto fail;
	}
	*out = r;
	return 0;
fail:
	room_destroy(r);
	return err;
}

static void part_free(struct room_part *p)
{
	if (!p)
		return;
	jbuf_destroy(p->jb);
	codec_dec_fini(&p->dec);
	codec_enc_fini(&p->enc);
	free(p);
}

void room_destroy(struct room *r)
{
	if (!r)
		return;
	if (r->part)
		for (uint32_t i = 0; i < r->cfg.max_participants; i++)
			part_free(r->part[i]);
	for (uint32_t f = 0; f < ROOM_FORMATS_MAX; f++)
		codec_enc_fini(&r->shared_enc[f]);
	free(r->part);
	free(r->live);
	free(r->mixed);
	free(r->total);
	free(r->own);
	free(r->out16);
	free(r->warm16);
	free(r->pkt);
	free(r);
}

/* The first tick due at or after now_ms. */
static uint64_t tick_at(const struct room *r, uint64_t now_ms)
{
	if (now_ms <= r->epoch_ms)
		return 0;
	return (now_ms - r->epoch_ms + ROOM_TICK_MS - 1) / ROOM_TICK_MS;
}

int room_join(struct room *r, const struct room_join *join, uint64_t now_ms)
{
	struct jbuf_config jc = r->cfg.jbuf;
	struct room_part *p;
	uint32_t id;
	int err;

	if (!join || join->format >= r->cfg.n_formats ||
	    (join->in_kind != CODEC_OPUS && join->in_kind != CODEC_L16))
		return -EINVAL;
	for (id = 0; id < r->cfg.max_participants && r->part[id]; id++)
		;
	if (id == r->cfg.max_participants)
		return -ENOSPC;

	/* Participant, then its two frame buffers, in one allocation. */
	size_t head = (sizeof(*p) + 63) & ~(size_t)63;

	p = calloc(1, head + CODEC_FRAME * (sizeof(int32_t) + sizeof(int16_t)));
	if (!p)
		return -ENOMEM;
	p->contrib = (int32_t *)((char *)p + head);
	p->pcm = (int16_t *)(p->contrib + CODEC_FRAME);
	p->id = id;
	p->format = join->format;
	if (join->in_kind == CODEC_L16 && jc.slot_bytes < CODEC_L16_BYTES)
		jc.slot_bytes = CODEC_L16_BYTES;
	err = jbuf_create(&jc, &p->jb);
	if (err)
		goto fail;
	err = codec_dec_init(&p->dec, join->in_kind);
	if (err)
		goto fail;
	err = codec_enc_init(&p->enc, &r->cfg.formats[join->format]);
	if (err)
		goto fail;
	err =
	    limiter_init(&p->lim, r->ops, CODEC_RATE, r->cfg.limiter_threshold, LIMITER_RELEASE_MS);
	if (err)
		goto fail;
	p->ssrc = join->ssrc;
	p->seq = join->seq;
	p->ts0 = join->ts;
	p->tick0 = tick_at(r, now_ms);
	p->last_src = ROOM_SRC_NONE;
	p->level = ROOM_SILENCE_DBOV;
	p->dec_warm = true; /* a fresh decoder is where a new stream starts */
	r->part[id] = p;
	r->live[r->n_live++] = id;
	return (int)id;
fail:
	part_free(p);
	return err;
}

int room_leave(struct room *r, uint32_t id)
{
	struct room_part *p = id < r->cfg.max_participants ? r->part[id] : NULL;

	if (!p)
		return -ENOENT;
	if (p->talker) {
		r->n_talkers--;
		r->st.leaves++;
	}
	for (uint32_t i = 0; i < r->n_live; i++)
		if (r->live[i] == id) {
			r->live[i] = r->live[--r->n_live];
			break;
		}
	r->part[id] = NULL;
	part_free(p);
	return 0;
}

int room_receive(struct room *r, uint32_t id, uint16_t seq, uint32_t ts, const uint8_t *payload,
                 size_t len, int audio_level, uint64_t now_ms)
{
	struct room_part *p = id < r->cfg.max_participants ? r->part[id] : NULL;

	if (!p)
		return -ENOENT;
	if (audio_level < ROOM_LEVEL_NONE || audio_level > 0xff ||
	    codec_packet_check(p->dec.kind, payload, len)) {
		r->st.rx_bad++;
		return -EBADMSG;
	}
	if (!jbuf_put(p->jb, seq, ts, payload, len, (int16_t)audio_level, now_ms)) {
		r->st.rx_dropped++;
		return 0;
	}
	if (!r->asleep)
		return 0;
	r->asleep = false;
	/* Never back: a listener's timestamps must not repeat. */
	if (tick_at(r, now_ms) > r->tick)
		r->tick = tick_at(r, now_ms);
	r->st.wakeups++;
	return 1;
}

void room_stats(const struct room *r, struct room_stats *st)
{
	*st = r->st;
}

int room_part_info(const struct room *r, uint32_t id, struct room_part_info *info)
{
	const struct room_part *p = id < r->cfg.max_participants ? r->part[id] : NULL;

	if (!p)
		return -ENOENT;
	*info = (struct room_part_info){
	    .talker = p->talker,
	    .voice = p->voice_hold > 0,
	    .level_dbov = p->level,
	    .packets_out = p->packets_out,
	    .own_packets = p->own_packets,
	};
	jbuf_stats(p->jb, &info->jbuf);
	return 0;
}

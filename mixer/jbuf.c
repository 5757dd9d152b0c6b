/* jbuf: ring of payload slots keyed by sequence number, RFC 3550 jitter
 * estimate, one frame out per tick (see jbuf.h for the rules). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mixer/jbuf.h"

/* Jt's downward time constant in packets (about 5 s at 50 packets/s). */
#define JBUF_DECAY 256.0

enum jbuf_state {
	ST_EMPTY, /* no stream: the next packet starts one */
	ST_WAIT,  /* a talkspurt's first packet is waiting out the target */
	ST_PLAY,  /* one frame per tick */
	ST_DTX,   /* underrun for dtx_ms: silent until a packet arrives */
};

struct jbuf_slot {
	uint32_t ts;  /* RTP timestamp */
	uint16_t seq; /* sequence number held, when full */
	uint16_t len; /* payload bytes */
	int16_t tag;  /* caller's tag */
	bool full;    /* holds seq's payload (queued, or played and kept
	                 until the slot is reused) */
};

struct jbuf {
	struct jbuf_config cfg;
	uint32_t mask; /* slots - 1 */
	enum jbuf_state state;
	bool played;            /* some frame of this stream was played (an
	                           earlier packet than the first is late then) */
	uint16_t next;          /* sequence number of the next frame to play */
	uint16_t high;          /* newest sequence number received */
	uint16_t last;          /* frame the last jbuf_get played (valid when
	                           played) */
	uint64_t start_ms;      /* ST_WAIT: first tick time allowed to play */
	uint32_t underrun;      /* consecutive underrun ticks */
	uint32_t owed;          /* underrun ticks since a frame was played:
	                           frames of delay they added */
	uint32_t above;         /* consecutive ticks with depth > target + 1 */
	uint32_t below;         /* consecutive ticks with depth + 1 < target */
	bool stretch;           /* the next tick conceals without moving on */
	uint32_t oow_run;       /* consecutive out-of-window packets in sequence */
	uint16_t oow_seq;       /* the last of them */
	bool have_transit;      /* transit holds the previous packet's */
	uint32_t transit;       /* arrival - ts, in RTP units (wrapping) */
	double jitter;          /* J, RTP units */
	double jitter_top;      /* Jt: J's peak, decaying */
	struct jbuf_stats st;   /* counters; jitter/target/depth filled on read */
	struct jbuf_slot *slot; /* cfg.slots entries */
	uint8_t *data;          /* cfg.slots * cfg.slot_bytes payload bytes */
};

void jbuf_config_default(struct jbuf_config *cfg)
{
	*cfg = (struct jbuf_config){
	    .slots = 16,
	    .slot_bytes = JBUF_OPUS_MAX,
	    .min_delay_ms = 20,
	    .max_delay_ms = 200,
	    .dtx_ms = 60,
	    .shrink_ticks = 25,
	};
}

int jbuf_create(const struct jbuf_config *cfg, struct jbuf **out)
{
	struct jbuf_config def;
	struct jbuf *jb;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!cfg) {
		jbuf_config_default(&def);
		cfg = &def;
	}
	if (cfg->slots < 4 || cfg->slots > 1024 || (cfg->slots & (cfg->slots - 1)))
		return -EINVAL;
	if (cfg->slot_bytes < 1 || cfg->slot_bytes > UINT16_MAX)
		return -EINVAL;
	if (cfg->min_delay_ms > cfg->max_delay_ms ||
	    cfg->max_delay_ms >= cfg->slots * JBUF_FRAME_MS || cfg->shrink_ticks < 1)
		return -EINVAL;

	/* One allocation: header, slot table, payloads. */
	size_t head = (sizeof(*jb) + 63) & ~(size_t)63;
	size_t table = ((size_t)cfg->slots * sizeof(struct jbuf_slot) + 63) & ~(size_t)63;

	jb = calloc(1, head + table + (size_t)cfg->slots * cfg->slot_bytes);
	if (!jb)
		return -ENOMEM;
	jb->cfg = *cfg;
	jb->mask = cfg->slots - 1;
	jb->slot = (struct jbuf_slot *)((char *)jb + head);
	jb->data = (uint8_t *)jb + head + table;
	jb->st.target_ms = cfg->min_delay_ms;
	*out = jb;
	return 0;
}

void jbuf_destroy(struct jbuf *jb)
{
	free(jb);
}

static void clear_slots(struct jbuf *jb)
{
	for (uint32_t i = 0; i <= jb->mask; i++)
		jb->slot[i].full = false;
}

void jbuf_reset(struct jbuf *jb)
{
	clear_slots(jb);
	jb->state = ST_EMPTY;
	jb->played = false;
	jb->underrun = jb->owed = jb->above = jb->below = jb->oow_run = 0;
	jb->stretch = false;
	jb->have_transit = false;
}

static uint32_t target_ms(const struct jbuf *jb)
{
	double t = 3.0 * jb->jitter_top / JBUF_TS_PER_MS;
	uint32_t ms =
	    t >= jb->cfg.max_delay_ms ? jb->cfg.max_delay_ms : (uint32_t)t + (t > (uint32_t)t);

	return ms < jb->cfg.min_delay_ms ? jb->cfg.min_delay_ms : ms;
}

static uint32_t target_frames(const struct jbuf *jb)
{
	return (target_ms(jb) + JBUF_FRAME_MS - 1) / JBUF_FRAME_MS;
}

static bool holds(const struct jbuf *jb, uint16_t seq)
{
	const struct jbuf_slot *s = &jb->slot[seq & jb->mask];

	return s->full && s->seq == seq;
}

static uint32_t depth(const struct jbuf *jb)
{
	int16_t d = (int16_t)(jb->high - jb->next);

	return jb->state == ST_PLAY && d >= 0 ? (uint32_t)d + 1 : 0;
}

/* RFC 3550 section 6.4.1, in RTP units; Jt follows J up at once, down
 * with a time constant of JBUF_DECAY packets. */
static void update_jitter(struct jbuf *jb, uint32_t ts, uint64_t now_ms)
{
	uint32_t transit = (uint32_t)(now_ms * JBUF_TS_PER_MS) - ts;

	if (jb->have_transit) {
		int32_t d = (int32_t)(transit - jb->transit);
		double ad = d < 0 ? -(double)d : (double)d;

		jb->jitter += (ad - jb->jitter) / 16.0;
		if (jb->jitter > jb->jitter_top)
			jb->jitter_top = jb->jitter;
		else
			jb->jitter_top += (jb->jitter - jb->jitter_top) / JBUF_DECAY;
	}
	jb->transit = transit;
	jb->have_transit = true;
}

/* Starts a new stream at seq: everything held is forgotten. */
static void restart(struct jbuf *jb, uint16_t seq, uint64_t now_ms)
{
	clear_slots(jb);
	jb->state = ST_WAIT;
	jb->next = jb->high = seq;
	jb->start_ms = now_ms + target_ms(jb);
	jb->underrun = jb->owed = jb->above = jb->below = jb->oow_run = 0;
	jb->stretch = false;
	jb->have_transit = false; /* the new stream's timestamps are unrelated */
	jb->st.resyncs++;
}

static void store(struct jbuf *jb, uint16_t seq, uint32_t ts, const uint8_t *payload, size_t len,
                  int16_t tag)
{
	uint32_t i = seq & jb->mask;

	memcpy(jb->data + (size_t)i * jb->cfg.slot_bytes, payload, len);
	jb->slot[i] = (struct jbuf_slot){
	    .ts = ts, .seq = seq, .len = (uint16_t)len, .tag = tag, .full = true};
	if ((int16_t)(seq - jb->high) > 0)
		jb->high = seq;
}

/* A packet outside the window: dropped unless it continues a run of such
 * packets long enough to mean the sender moved. Even when nothing plays,
 * one stray packet must not move the stream (a hostile sender could keep
 * it from ever starting). */
static bool out_of_window(struct jbuf *jb, uint16_t seq, uint64_t now_ms)
{
	jb->oow_run = jb->oow_run && seq == (uint16_t)(jb->oow_seq + 1) ? jb->oow_run + 1 : 1;
	jb->oow_seq = seq;
	if (jb->oow_run >= JBUF_RESYNC) {
		restart(jb, seq, now_ms);
		return true;
	}
	jb->st.out_of_window++;
	return false;
}

bool jbuf_put(struct jbuf *jb, uint16_t seq, uint32_t ts, const uint8_t *payload, size_t len,
              int16_t tag, uint64_t now_ms)
{
	if (len == 0 || len > jb->cfg.slot_bytes || !payload) {
		jb->st.oversize++;
		return false;
	}
	if (jb->state == ST_EMPTY) {
		jb->played = false;
		restart(jb, seq, now_ms);
	} else {
		int16_t d = (int16_t)(seq - jb->next);
		int16_t behind_high = (int16_t)(jb->high - seq);

		if (d < 0 && jb->state == ST_WAIT && !jb->played &&
		    behind_high < (int32_t)jb->cfg.slots) {
			/* Reordered ahead of the stream's first packet, before
			 * anything played: start earlier. */
			jb->next = seq;
		} else if (d < 0) {
			if (d < -(int32_t)jb->cfg.slots) {
				if (!out_of_window(jb, seq, now_ms))
					return false;
			} else {
				if (holds(jb, seq))
					jb->st.duplicate++;
				else
					jb->st.late++;
				return false;
			}
		} else if (d >= (int32_t)jb->cfg.slots) {
			if (!out_of_window(jb, seq, now_ms))
				return false;
		} else if (holds(jb, seq)) {
			jb->st.duplicate++;
			return false;
		}
		if (jb->state == ST_DTX) {
			jb->state = ST_WAIT;
			jb->start_ms = now_ms + target_ms(jb);
		}
	}
	jb->oow_run = 0;
	store(jb, seq, ts, payload, len, tag);
	update_jitter(jb, ts, now_ms);
	jb->st.received++;
	return true;
}

static void frame_of(const struct jbuf *jb, uint16_t seq, enum jbuf_kind kind,
                     struct jbuf_frame *out)
{
	uint32_t i = seq & jb->mask;
	const struct jbuf_slot *s = &jb->slot[i];

	out->kind = kind;
	out->data = jb->data + (size_t)i * jb->cfg.slot_bytes;
	out->len = s->len;
	out->ts = s->ts;
	out->tag = s->tag;
}

static void empty_frame(struct jbuf_frame *out, enum jbuf_kind kind, uint16_t seq)
{
	*out = (struct jbuf_frame){.kind = kind, .seq = seq, .tag = -1};
}

/* ST_WAIT -> ST_PLAY: start at the first frame held at or after next
 * (frames before it were lost while the stream was silent). */
static void start_playing(struct jbuf *jb)
{
	while (!holds(jb, jb->next) && (int16_t)(jb->high - jb->next) > 0) {
		if (jb->played) {
			jb->st.lost++;
			jb->st.skipped++;
		}
		jb->next++;
	}
	jb->state = ST_PLAY;
	jb->underrun = jb->owed = jb->above = jb->below = 0;
	jb->stretch = false;
}

/* After a played frame: when the queue stayed more than a frame off the
 * target for shrink_ticks, drop the oldest frame (too long) or have the
 * next tick conceal without moving on (too short). */
static void adjust(struct jbuf *jb)
{
	uint32_t d = depth(jb), t = target_frames(jb);

	jb->above = d > t + 1 ? jb->above + 1 : 0;
	jb->below = d + 1 < t ? jb->below + 1 : 0;
	if (jb->above >= jb->cfg.shrink_ticks && holds(jb, jb->next)) {
		jb->next++;
		jb->st.dropped++;
		jb->above = 0;
	} else if (jb->below >= jb->cfg.shrink_ticks) {
		jb->stretch = true;
		jb->below = 0;
	}
}

void jbuf_get(struct jbuf *jb, uint64_t now_ms, struct jbuf_frame *out)
{
	if (jb->state == ST_EMPTY || (jb->state == ST_WAIT && now_ms < jb->start_ms)) {
		empty_frame(out, jb->played ? JBUF_DTX : JBUF_NOT_STARTED, 0);
		jb->st.dtx_ticks += jb->played;
		return;
	}
	if (jb->state == ST_DTX) {
		empty_frame(out, JBUF_DTX, 0);
		jb->st.dtx_ticks++;
		return;
	}
	if (jb->state == ST_WAIT)
		start_playing(jb);

	bool later = (int16_t)(jb->high - jb->next) > 0;
	uint16_t seq;

	/* Underrun ticks already stood in for frames a later packet now shows
	 * lost: skip those rather than conceal them twice (but keep a frame
	 * whose successor can rebuild it). */
	while (jb->owed && later && !holds(jb, jb->next) && !holds(jb, (uint16_t)(jb->next + 1))) {
		jb->st.lost++;
		jb->st.skipped++;
		jb->owed--;
		jb->next++;
		later = (int16_t)(jb->high - jb->next) > 0;
	}
	seq = jb->next;
	if (jb->stretch) {
		/* One frame more delay, asked for by adjust(). */
		jb->stretch = false;
		empty_frame(out, JBUF_LOST_PLC, seq);
		jb->st.concealed++;
		jb->st.stretched++;
		return;
	}
	if (holds(jb, seq)) {
		frame_of(jb, seq, JBUF_PACKET, out);
		jb->st.played++;
		jb->owed = 0;
	} else if (holds(jb, (uint16_t)(seq + 1))) {
		frame_of(jb, (uint16_t)(seq + 1), JBUF_LOST_FEC, out);
		jb->st.lost++;
		jb->st.fec_recovered++;
	} else if (later) {
		empty_frame(out, JBUF_LOST_PLC, seq);
		jb->st.lost++;
		jb->st.concealed++;
	} else if (++jb->underrun * JBUF_FRAME_MS <= jb->cfg.dtx_ms) {
		/* Late or lost, not known yet: conceal, stay on this frame. */
		empty_frame(out, JBUF_LOST_PLC, seq);
		jb->st.concealed++;
		jb->owed++;
		return;
	} else {
		jb->state = ST_DTX;
		jb->owed = 0;
		empty_frame(out, JBUF_DTX, 0);
		jb->st.dtx_ticks++;
		return;
	}
	out->seq = seq;
	jb->last = seq;
	jb->played = true;
	jb->underrun = 0;
	jb->next++;
	adjust(jb);
}

bool jbuf_prev(const struct jbuf *jb, struct jbuf_frame *out)
{
	uint16_t seq = (uint16_t)(jb->last - 1);

	if (!jb->played || jb->state == ST_EMPTY || !holds(jb, seq))
		return false;
	frame_of(jb, seq, JBUF_PACKET, out);
	out->seq = seq;
	return true;
}

bool jbuf_idle(const struct jbuf *jb)
{
	return jb->state == ST_EMPTY || jb->state == ST_DTX;
}

void jbuf_stats(const struct jbuf *jb, struct jbuf_stats *st)
{
	*st = jb->st;
	st->jitter_ms = (uint32_t)(jb->jitter / JBUF_TS_PER_MS + 0.5);
	st->target_ms = target_ms(jb);
	st->depth = depth(jb);
}

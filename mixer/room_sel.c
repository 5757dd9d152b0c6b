/* room_sel: who is talking. Levels per tick, smoothed; voice activity
 * with hangover; up to K seated talkers with hysteresis.
 *
 * Level of a frame: the sender's RFC 6464 level when the packet had one
 * (no decoding needed: this is what lets the room decode only its
 * talkers), else the RMS of the decoded frame against full scale.
 *
 * Smoothing, in dB: attack 0.5 per tick, release 0.1 per tick (a level
 * step up is half taken in 20 ms, a step down in about 130 ms), so a
 * talker's level does not collapse between syllables while a short loud
 * blip fades before it can count for enter_ticks.
 *
 * Voice activity: a frame is voiced when its V bit is set or its level is
 * at least vad_dbov; a participant stays active for hangover_ticks after
 * its last voiced frame. Only active participants are eligible: silence
 * never takes a seat, however few talkers there are, so a quiet room
 * decodes and encodes nothing.
 *
 * Seats, each tick, in this order:
 *   1. a talker inactive for its whole hangover leaves;
 *   2. empty seats go to the eligible non-talkers at once, loudest first;
 *   3. with every seat taken, a non-talker ranked above the weakest talker
 *      (by smoothed level, seated talkers with incumbent_db added; ties:
 *      lower id first) counts one more tick of challenge, any other tick
 *      resets its count; a challenger that has counted enter_ticks takes
 *      the weakest talker's seat, best challengers first.
 * So a newcomer louder than a talker by more than incumbent_db enters
 * after enter_ticks, a blip shorter than that changes nothing, and two
 * talkers of about the same level do not swap back and forth. */
#include <math.h>

#include "mixer/room_impl.h"

#define ATTACK  0.5f
#define RELEASE 0.1f

float room_sel_dbov(const int16_t *pcm, size_t n)
{
	int64_t energy = 0;

	for (size_t i = 0; i < n; i++)
		energy += (int32_t)pcm[i] * pcm[i];
	if (energy == 0 || n == 0)
		return ROOM_SILENCE_DBOV;

	/* 10 log10(mean square / 32768^2) */
	float db = 10.0f * log10f((float)energy / (float)n) - 90.309f;

	return db < ROOM_SILENCE_DBOV ? ROOM_SILENCE_DBOV : db > 0.0f ? 0.0f : db;
}

void room_sel_level(struct room *r, struct room_part *p)
{
	float level;
	bool voiced = false;

	switch (p->fr.kind) {
	case JBUF_PACKET:
	case JBUF_LOST_FEC: /* the next packet's level stands for the lost one */
		if (p->fr.tag >= 0) {
			level = -(float)(p->fr.tag & 0x7f);
			voiced = p->fr.tag & 0x80;
		} else if (p->decoded) {
			level = room_sel_dbov(p->pcm, CODEC_FRAME);
		} else {
			return;
		}
		break;
	case JBUF_LOST_PLC:
		return; /* nothing new: keep the level and the hangover */
	default:
		level = ROOM_SILENCE_DBOV;
		break;
	}
	p->level += (level > p->level ? ATTACK : RELEASE) * (level - p->level);
	if (voiced || level >= r->cfg.vad_dbov)
		p->voice_hold = r->cfg.hangover_ticks + 1;
	else if (p->voice_hold)
		p->voice_hold--;
}

static void seat(struct room *r, struct room_part *p)
{
	p->talker = true;
	p->challenge = 0;
	r->n_talkers++;
	r->st.enters++;
}

static void unseat(struct room *r, struct room_part *p)
{
	p->talker = false;
	r->n_talkers--;
	r->st.leaves++;
}

static float score(const struct room *r, const struct room_part *p)
{
	return p->level + (p->talker ? r->cfg.incumbent_db : 0.0f);
}

/* True when a ranks before b. */
static bool before(const struct room *r, const struct room_part *a, const struct room_part *b)
{
	float sa = score(r, a), sb = score(r, b);

	return sa > sb || (sa == sb && a->id < b->id);
}

/* The lowest-ranked seated talker, NULL when none. */
static struct room_part *weakest_talker(const struct room *r)
{
	struct room_part *w = NULL;

	for (uint32_t i = 0; i < r->n_live; i++) {
		struct room_part *p = r->part[r->live[i]];

		if (p->talker && (!w || before(r, w, p)))
			w = p;
	}
	return w;
}

void room_sel_update(struct room *r)
{
	struct room_part *top[ROOM_TALKERS_MAX], *weakest;
	uint32_t k = r->cfg.talkers, n_top = 0, j = 0;

	for (uint32_t i = 0; i < r->n_live; i++) {
		struct room_part *p = r->part[r->live[i]];

		if (p->talker && !p->voice_hold)
			unseat(r, p);
	}

	/* The K best eligible non-talkers, by insertion: K is small. */
	for (uint32_t i = 0; i < r->n_live; i++) {
		struct room_part *p = r->part[r->live[i]];
		uint32_t at;

		if (p->talker || !p->voice_hold)
			continue;
		if (n_top == k && !before(r, p, top[k - 1]))
			continue;
		at = n_top < k ? n_top++ : k - 1;
		for (; at > 0 && before(r, p, top[at - 1]); at--)
			top[at] = top[at - 1];
		top[at] = p;
	}

	/* Empty seats are taken at once, best first. */
	while (r->n_talkers < k && j < n_top)
		seat(r, top[j++]);

	/* With every seat taken, a challenge is a run of ticks ranked above
	 * the weakest talker (its incumbent bonus included). */
	weakest = r->n_talkers == k ? weakest_talker(r) : NULL;
	for (uint32_t i = 0; i < r->n_live; i++) {
		struct room_part *p = r->part[r->live[i]];

		if (!p->talker)
			p->challenge = weakest && p->voice_hold && before(r, p, weakest)
			                   ? p->challenge + 1
			                   : 0;
	}
	for (; weakest && j < n_top; j++) {
		struct room_part *c = top[j];

		if (c->challenge < r->cfg.enter_ticks)
			continue;
		weakest = weakest_talker(r);
		if (!before(r, c, weakest))
			continue;
		unseat(r, weakest);
		r->st.displaced++;
		seat(r, c);
	}
}

void room_sel_clear(struct room *r)
{
	for (uint32_t i = 0; i < r->n_live; i++) {
		struct room_part *p = r->part[r->live[i]];

		p->level = ROOM_SILENCE_DBOV;
		p->voice_hold = 0;
		p->challenge = 0;
	}
}

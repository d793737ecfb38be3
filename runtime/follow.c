/* follow.c: a connection's requests: open addressing with linear probing,
 * keyed by request id, deleted by backward shift (no tombstones). */
#include <stdlib.h>
#include <string.h>

#include "follow.h"

#define SLOTS_MIN 8

struct st__follow_ent {
	char request_id[37];  /* "" when the slot is free */
	bool final;           /* the final message went out */
	uint8_t format;       /* the request's (ST__EVFMT_*), when known */
	uint32_t hash;
	double pct;           /* the highest percentage sent */
	uint64_t used;        /* clock of the last event */
};

void st__follow_init(st__follow *f)
{
	memset(f, 0, sizeof *f);
}

void st__follow_fini(st__follow *f)
{
	free(f->v);
	memset(f, 0, sizeof *f);
}

uint32_t st__follow_count(const st__follow *f)
{
	return f->n;
}

static uint32_t hash_rid(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The slot of `rid`, or of the free slot where it would go. The table is
 * never full (n < cap), so the probe ends. */
static uint32_t probe(const st__follow *f, const char *rid, uint32_t h)
{
	uint32_t mask = f->cap - 1, i = h & mask;
	while (f->v[i].request_id[0] &&
	       (f->v[i].hash != h || strcmp(f->v[i].request_id, rid) != 0))
		i = (i + 1) & mask;
	return i;
}

/* Frees slot i, moving later entries of its cluster back so that every
 * entry stays reachable from its home slot. */
static void slot_delete(st__follow *f, uint32_t i)
{
	uint32_t mask = f->cap - 1, j = i;
	for (;;) {
		f->v[i].request_id[0] = '\0';
		for (;;) {
			j = (j + 1) & mask;
			if (!f->v[j].request_id[0]) {
				f->n--;
				return;
			}
			uint32_t home = f->v[j].hash & mask;
			/* j stays when its home is cyclically in (i, j] */
			bool stays = i <= j ? i < home && home <= j : i < home || home <= j;
			if (!stays)
				break;
		}
		f->v[i] = f->v[j];
		i = j;
	}
}

/* Rehashes into `cap` slots. -1 on OOM (the table is unchanged). */
static int resize(st__follow *f, uint32_t cap)
{
	st__follow_ent *v = calloc(cap, sizeof *v), *old = f->v;
	if (!v)
		return -1;
	uint32_t old_cap = f->cap;
	f->v = v;
	f->cap = cap;
	for (uint32_t i = 0; i < old_cap; i++)
		if (old[i].request_id[0])
			v[probe(f, old[i].request_id, old[i].hash)] = old[i];
	free(old);
	return 0;
}

/* Room for one more entry: grows, or at the bound forgets the entry with
 * the oldest event. -1 on OOM. */
static int make_room(st__follow *f)
{
	if (f->cap && (f->n + 1) * 4 <= f->cap * 3)
		return 0;
	if (f->cap < ST__FOLLOW_SLOTS_MAX)
		return resize(f, f->cap ? f->cap * 2 : SLOTS_MIN);
	uint32_t old = 0;
	for (uint32_t i = 1; i < f->cap; i++)
		if (f->v[i].request_id[0] &&
		    (!f->v[old].request_id[0] || f->v[i].used < f->v[old].used))
			old = i;
	slot_delete(f, old);
	return 0;
}

bool st__follow_event(st__follow *f, st__event_kind kind, const char *request_id,
		      double *pct, uint8_t *format)
{
	uint32_t h = hash_rid(request_id);
	st__follow_ent *e = f->cap ? &f->v[probe(f, request_id, h)] : NULL;
	if (e && e->request_id[0]) {
		if (e->final)
			return false;
	} else {
		if (kind == ST__EV_ACK && !*format)
			return true;
		size_t len = strlen(request_id);
		if (len >= sizeof e->request_id || make_room(f) < 0)
			return true;
		e = &f->v[probe(f, request_id, h)];
		memcpy(e->request_id, request_id, len + 1);
		e->hash = h;
		e->final = false;
		e->format = ST__EVFMT_UNKNOWN;
		e->pct = kind == ST__EV_ACK ? 0 : *pct;
		f->n++;
	}
	e->used = ++f->clock;
	if (kind == ST__EV_ACK && *format)
		e->format = *format;
	else if (e->format)
		*format = e->format;
	if (kind == ST__EV_PROGRESS) {
		if (*pct < e->pct)
			*pct = e->pct;
		e->pct = *pct;
	} else if (kind != ST__EV_ACK) {
		e->final = true;
	}
	return true;
}

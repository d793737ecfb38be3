/* progress.c: the per-request progress reporter (see progress.h). */
#include <math.h>
#include <string.h>

#include "progress.h"

void st__progress_init(st__progress *p, double floor, uint32_t client_ms,
		       uint32_t db_ms)
{
	memset(p, 0, sizeof *p);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->idle, NULL);
	p->pct = isfinite(floor) && floor > 0 ? (floor > 100 ? 100 : floor) : 0;
	p->client_ms = client_ms;
	p->db_ms = db_ms;
	p->client_at = INT64_MIN / 2;
	p->db_at = INT64_MIN / 2;
}

void st__progress_fini(st__progress *p)
{
	pthread_cond_destroy(&p->idle);
	pthread_mutex_destroy(&p->mu);
}

void st__utf8_copy(char *dst, size_t max, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n >= max) {
		n = max - 1;
		/* Back off continuation bytes so the cut is between sequences. */
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	if (n)
		memcpy(dst, s, n);
	dst[n] = '\0';
}

int st__progress_report(st__progress *p, double pct, const char *msg,
			int64_t now, st__progress_emit emit, void *ud)
{
	pthread_mutex_lock(&p->mu);
	if (p->closed) {
		pthread_mutex_unlock(&p->mu);
		return -1;
	}
	if (isfinite(pct) && pct > p->pct)
		p->pct = pct > 100 ? 100 : pct;
	st__utf8_copy(p->msg, sizeof p->msg, msg);
	p->client_dirty = p->db_dirty = true;
	if (!p->remote && now - p->client_at >= p->client_ms) {
		if (emit(ud, p->pct, p->msg) == 0) {
			p->client_dirty = false;
			p->client_at = now;
		} else {
			p->remote = true;
		}
	}
	pthread_mutex_unlock(&p->mu);
	return 1; /* a database write is always left */
}

int64_t st__progress_flush(st__progress *p, int64_t now, st__progress_emit emit,
			   void *ud, st__progress_take *t)
{
	int64_t next = INT64_MAX;
	memset(t, 0, sizeof *t);
	pthread_mutex_lock(&p->mu);
	if (p->closed)
		goto out;
	if (p->client_dirty) {
		int64_t due = p->client_at + p->client_ms;
		if (now >= due && !p->remote) {
			if (emit(ud, p->pct, p->msg) == 0) {
				p->client_dirty = false;
				p->client_at = now;
			} else {
				p->remote = true;
			}
		}
		if (p->client_dirty && p->remote && now >= due && p->inflight == 0) {
			t->client = true;
			p->inflight++;
			p->client_dirty = false;
			p->client_at = now;
		}
		if (p->client_dirty)
			next = due > now ? due : now + 1;
	}
	if (p->db_dirty) {
		int64_t due = p->db_at + p->db_ms;
		if (now >= due) {
			t->db = true;
			p->db_dirty = false;
			p->db_at = now;
		} else if (due < next) {
			next = due;
		}
	}
	if (t->client || t->db) {
		t->pct = p->pct;
		memcpy(t->msg, p->msg, sizeof t->msg);
	}
out:
	pthread_mutex_unlock(&p->mu);
	return next;
}

void st__progress_sent(st__progress *p)
{
	pthread_mutex_lock(&p->mu);
	if (--p->inflight == 0)
		pthread_cond_broadcast(&p->idle);
	pthread_mutex_unlock(&p->mu);
}

void st__progress_rebind(st__progress *p)
{
	pthread_mutex_lock(&p->mu);
	p->remote = false;
	pthread_mutex_unlock(&p->mu);
}

void st__progress_close(st__progress *p)
{
	pthread_mutex_lock(&p->mu);
	p->closed = true;
	p->client_dirty = p->db_dirty = false;
	while (p->inflight > 0)
		pthread_cond_wait(&p->idle, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

/* msg.c: refcounted outbound messages. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "msg.h"

st__msg *st__msg_create(const void *p, size_t len, bool binary, st__msg_type t)
{
	st__msg *m = malloc(sizeof *m + LWS_PRE + len + 1);
	if (!m)
		return NULL;
	atomic_init(&m->refs, 1);
	m->binary = binary;
	m->final = false;
	m->answer = false;
	m->spare = false;
	m->type = t;
	m->alt = NULL;
	m->len = len;
	m->data = (unsigned char *)(m + 1) + LWS_PRE;
	memcpy(m->data, p, len);
	m->data[len] = '\0';
	return m;
}

/* The message header and the headroom lws_write needs, rounded so that
 * both the header and the text stay aligned. */
#define MSG_HEAD ((sizeof(st__msg) + LWS_PRE + 15) & ~(size_t)15)
#define MSG_INITIAL 512
#define SPARES_MAX 1024 /* buffers kept for reuse, at most */

/* Freed message buffers of MSG_INITIAL bytes, for any thread to reuse: a
 * stack under a mutex (several threads take from it). */
typedef struct spare {
	struct spare *next;
} spare;

static struct {
	pthread_mutex_t mu;
	spare *top;
	size_t n;
} Spares = { PTHREAD_MUTEX_INITIALIZER, NULL, 0 };

static void *spare_take(void)
{
	pthread_mutex_lock(&Spares.mu);
	spare *s = Spares.top;
	if (s) {
		Spares.top = s->next;
		Spares.n--;
	}
	pthread_mutex_unlock(&Spares.mu);
	return s ? (void *)s : malloc(MSG_INITIAL);
}

static void spare_give(void *p)
{
	spare *s = p;
	pthread_mutex_lock(&Spares.mu);
	if (Spares.n < SPARES_MAX) {
		s->next = Spares.top;
		Spares.top = s;
		Spares.n++;
		s = NULL;
	}
	pthread_mutex_unlock(&Spares.mu);
	free(s);
}

void st__msg_buf_init(st_buf *b, size_t max)
{
	static const char zero[MSG_HEAD];
	st_buf_init(b, max + MSG_HEAD);
	/* Room for a typical answer at once, rather than growing from the
	 * st_buf default of 256 bytes. */
	b->data = spare_take();
	if (b->data)
		b->cap = MSG_INITIAL;
	st_buf_append(b, zero, sizeof zero);
}

st__msg *st__msg_from_buf(st_buf *b, bool binary, st__msg_type t)
{
	if (b->failed || !b->data || b->len < MSG_HEAD)
		return NULL;
	st__msg *m = (st__msg *)(void *)b->data; /* malloc'd: aligned */
	atomic_init(&m->refs, 1);
	m->binary = binary;
	m->final = false;
	m->answer = false;
	/* Not grown: at least MSG_INITIAL bytes (a buffer that grew to
	 * exactly that from nothing was realloc'd to that size too). */
	m->spare = b->cap == MSG_INITIAL;
	m->type = t;
	m->alt = NULL;
	m->len = b->len - MSG_HEAD;
	m->data = (unsigned char *)b->data + MSG_HEAD; /* '\0'-terminated */
	b->data = NULL;
	b->len = b->cap = 0;
	return m;
}

st__msg *st__msg_ref(st__msg *m)
{
	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
	return m;
}

void st__msg_unref(st__msg *m)
{
	if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) {
		st__msg_unref(m->alt);
		if (m->spare)
			spare_give(m);
		else
			free(m);
	}
}

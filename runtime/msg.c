/* msg.c: refcounted outbound messages. */
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

void st__msg_buf_init(st_buf *b, size_t max)
{
	static const char zero[MSG_HEAD];
	st_buf_init(b, max + MSG_HEAD);
	/* Room for a typical answer at once, rather than growing from the
	 * st_buf default of 256 bytes. */
	b->data = malloc(MSG_INITIAL);
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
		free(m);
	}
}

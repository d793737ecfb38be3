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

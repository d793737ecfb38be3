/* msg.h: an encoded outbound WebSocket message, shared (refcounted) by
 * every connection it goes to, with the headroom lws_write needs. */
#ifndef STREAMER_MSG_H
#define STREAMER_MSG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "metrics.h"
#include "streamer/codec.h"

typedef struct st__msg {
	atomic_int refs;
	bool binary;          /* FlatBuffers frame, else JSON text */
	bool final;           /* a request's last message (never dropped) */
	bool answer;          /* a sync request's one answer: the loop may
				 write it at once (conn_enqueue) */
	bool spare;           /* storage is a message buffer of the initial
				 size: st__msg_unref keeps it for reuse */
	st__msg_type type;    /* counted in messages_out */
	size_t len;
	unsigned char *data;  /* len bytes, with LWS_PRE writable bytes before */
	/* The same message in the other format, or NULL (owned: one
	 * reference). A connection speaking that format is sent `alt`
	 * instead (broadcasts reach JSON and binary clients at once). */
	struct st__msg *alt;
} st__msg;

/* A copy of p[0..len) with one reference. NULL on OOM. */
st__msg *st__msg_create(const void *p, size_t len, bool binary, st__msg_type t);
/* Encoding straight into a message, without a copy: st__msg_buf_init
 * makes an empty buffer (up to `max` bytes of text) whose storage begins
 * with room for the st__msg and the LWS_PRE headroom; write the text with
 * the st_buf/st_jw functions, then st__msg_from_buf turns that storage
 * into the message (one reference) and leaves b empty. Not for a buffer
 * that failed, nor after st_buf_reset. Buffers that did not grow are
 * recycled when their message is freed (the answers of sync requests are
 * encoded on workers and freed on the loop: this saves a malloc that finds
 * its thread's cache empty and a free into another thread's arena). */
void st__msg_buf_init(st_buf *b, size_t max);
st__msg *st__msg_from_buf(st_buf *b, bool binary, st__msg_type t);
st__msg *st__msg_ref(st__msg *m);
void st__msg_unref(st__msg *m);

#endif

/* delivery.h: how the async engine hands events to the gateway that holds a
 * request's connection: a sink in this process, and the JSON payload that
 * travels between processes by NOTIFY on streamer_node_<node_id>. */
#ifndef STREAMER_DELIVERY_H
#define STREAMER_DELIVERY_H

#include <stdbool.h>

#include "event.h"
#include "streamer/codec.h"

/* Where events for local connections go. Must be thread-safe and copy what
 * it needs (the event's strings are borrowed for the call). Returns 0, or
 * -1 when this process has no connection `ev->connection_id`. */
typedef int (*st__sink_fn)(void *ud, const st__event *ev);

typedef struct st__sink {
	st__sink_fn fn; /* NULL: st__gateway_post, when it is linked in */
	void *ud;
} st__sink;

/* Posts through the sink; -1 when there is none or it refuses. A plain
 * call: the order a connection sees (progress never going back when a
 * retried attempt restarts lower, nothing after the final message) is
 * kept by the gateway, per connection, on its loop (server.c, follow.h). */
int st__sink_post(const st__sink *s, const st__event *ev);

/* NOTIFY payloads stay below PostgreSQL's 8000-byte limit. */
#define ST__NOTIFY_MAX 7900

/* Appends the inter-node JSON of `ev` to `b` (the keys of
 * streamer.final_event in migrations/0002_async.sql). When that would not
 * fit in ST__NOTIFY_MAX, appends a reference instead ({"ref":true}); the
 * receiver then reads the row. */
void st__event_encode(const st__event *ev, st_buf *b);

/* An event decoded from a payload; owns its strings. */
typedef struct st__event_msg {
	st__event ev;
	bool ref;       /* only kind, request_id, connection_id: read the row */
	void *json;     /* the parsed document (owner of the strings) */
	char *result;   /* COMPLETE: the result as JSON text (malloc) */
} st__event_msg;

/* 0, or -1 when `payload` is not an event. Call st__event_msg_fini after
 * either. */
int st__event_decode(const char *payload, st__event_msg *m);
void st__event_msg_fini(st__event_msg *m);

/* "ack", "progress", "complete", "error". */
const char *st__event_kind_name(st__event_kind k);

#endif

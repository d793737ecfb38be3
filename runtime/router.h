/* router.h: from a received message to its answer: envelope, action
 * lookup, permission, decoding and validation, the handler on the pool,
 * and the encoders of every server-to-client message. */
#ifndef STREAMER_ROUTER_H
#define STREAMER_ROUTER_H

#include <stdbool.h>
#include <stdint.h>

#include "async.h"
#include "auth.h"
#include "config.h"
#include "event.h"
#include "msg.h"
#include "pool.h"
#include "streamer/registry.h"

#define ST__CLIENT_ID_MAX 128
#define ST__TRACE_ID_MAX 128
#define ST__ACTION_NAME_MAX 128
#define ST__REQ_ARENA_MAX (16u * 1024 * 1024) /* per request */
#define ST__OUT_MAX (16u * 1024 * 1024)       /* one encoded message */

/* What the router needs to know about the connection a message came on.
 * Borrowed for the call. */
typedef struct st__router_conn {
	const char *conn_id;
	const st__claims *claims;
	int64_t t0; /* when the frame arrived: CLOCK_MONOTONIC ns */
} st__router_conn;

/* Delivers `m` (one reference, transferred) to connection `conn_id`;
 * thread-safe. The server provides it (st__server_send). */
typedef void (*st__send_fn)(const char *conn_id, st__msg *m);

/* The format a client used, and therefore the one it is answered in. */
typedef enum st__format {
	ST__FMT_JSON,
	ST__FMT_FB,
} st__format;

/* reg, cfg, pool and async (NULL: no async engine: async actions and
 * cancel/status/list answer SERVICE_UNAVAILABLE) are borrowed until
 * st__router_fini. */
int st__router_init(const st_registry *reg, const st__config *cfg,
		    st__pool *pool, st__async *async, st__send_fn send);
void st__router_fini(void);

/* A whole message from a client (text or binary). Answers through `send`,
 * at once for envelope errors, ping and refusals, later from the pool for
 * requests. Service thread only. */
void st__router_dispatch(const st__router_conn *c, const char *buf, size_t len,
			 bool binary);

/* An `error` message without a request (e.g. RATE_LIMITED): code, message,
 * retry_after_ms (<0: none). */
st__msg *st__router_error_msg(bool binary, const char *code, const char *message,
			      long retry_after_ms);

/* An async event in the given format. NULL on OOM. */
st__msg *st__router_event_msg(const st__event *ev, st__format f);

/* A fresh version-4 UUID in canonical text (37 bytes with the NUL). */
void st__uuid_text(char out[37]);

#endif

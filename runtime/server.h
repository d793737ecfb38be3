/* server.h: the libwebsockets server: handshake and JWT, connections,
 * frames, per-connection limits, outbound queues, the HTTP routes, and the
 * cross-thread outbox every other thread sends through. One per process. */
#ifndef STREAMER_SERVER_H
#define STREAMER_SERVER_H

#include <stddef.h>

#include "auth.h"
#include "config.h"
#include "msg.h"
#include "pool.h"
#include "presence.h"

/* Creates the context and listens (cfg, auth, presence and pool borrowed
 * until st__server_destroy). Logs {"msg":"listening","port":N}. 0, or -1
 * with the reason in err. */
int st__server_create(const st__config *cfg, const st__auth *auth,
		      st__presence *presence, st__pool *pool, char *err,
		      size_t errlen);
/* Serves until st__server_stop, then drains: refuses new connections,
 * waits (at most cfg->drain_ms) for answers in flight to be written,
 * closes every connection with 1001. Call on the thread that created it. */
int st__server_run(void);
/* Asks the server to drain and stop; thread- and signal-thread-safe. */
void st__server_stop(void);
void st__server_destroy(void);
/* The port actually listened on. */
int st__server_port(void);

/* Who a message goes to. */
typedef enum st__target_kind {
	ST__TO_CONN,   /* a: connection id */
	ST__TO_USER,   /* a: tenant id, b: user id */
	ST__TO_TENANT, /* a: tenant id */
} st__target_kind;

/* Queues `m` (one reference, transferred) for the target; thread-safe.
 * Returns 0, or -1 when the server is not running (m is released). For
 * ST__TO_CONN a connection that closed meanwhile just drops it. */
int st__server_post(st__target_kind k, const char *a, const char *b, st__msg *m);
/* st__server_post to one connection (the router's st__send_fn). */
void st__server_send(const char *conn_id, st__msg *m);
/* 1 when this process holds connection `conn_id`; thread-safe. */
int st__server_has_conn(const char *conn_id);

#endif

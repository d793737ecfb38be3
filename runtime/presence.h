/* presence.h: this process and its connections in streamer.nodes and
 * streamer.connections, written from a thread of its own so that the
 * event loop never waits for PostgreSQL; and the database health that
 * /healthz reports. */
#ifndef STREAMER_PRESENCE_H
#define STREAMER_PRESENCE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct st__presence st__presence;

/* `register_node`: insert, heartbeat and finally delete this node's row
 * (false when the async engine does it). Strings are copied. NULL on OOM. */
st__presence *st__presence_create(const char *conninfo, const char *node_id,
				  const char *role, bool register_node);
/* Connects (once, synchronously), refuses an old schema, registers the
 * node, removes rows left by dead nodes, starts the thread. 0, or -1 with
 * the reason in err. */
int st__presence_start(st__presence *p, char *err, size_t errlen);
/* Starts the thread that writes rows and checks health. 0 or -1. */
int st__presence_run(st__presence *p);
/* Writes what is queued, removes this node's connections (and its row when
 * registered), joins the thread. */
void st__presence_stop(st__presence *p);
void st__presence_free(st__presence *p);

/* Queue a connection's row (thread-safe, never blocks on the database;
 * dropped with a warning when more than a bounded number are waiting). */
void st__presence_conn_add(st__presence *p, const char *conn_id,
			   const char *user_id, const char *tenant_id);
void st__presence_conn_remove(st__presence *p, const char *conn_id);

/* True when `SELECT 1` succeeded within the last few seconds (checked
 * every second by the thread). */
bool st__presence_healthy(const st__presence *p);

/* A node id: hostname-pid-random hex (out of at least 128 bytes). */
void st__node_id_make(char *out, size_t len);

#endif

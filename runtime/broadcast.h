/* broadcast.h: one server message to many connections of this process
 * (a list of connection ids, all of a user's, all of a tenant's), encoded
 * once per format and shared, refcounted, by every recipient. */
#ifndef STREAMER_BROADCAST_H
#define STREAMER_BROADCAST_H

#include <stddef.h>

#include "event.h"

/* Each encodes `ev` (borrowed for the call; its connection_id is ignored)
 * once as JSON and once as FlatBuffers, on the calling thread, and queues
 * the pair for the targets: a connection gets the form of the format it
 * spoke last (server.c). Targets are this process's connections; ids that
 * are gone and users without connections are skipped; a recipient whose
 * outbound queue is full is disconnected as a slow reader without
 * affecting the others. Thread-safe; never blocks on a connection. 0, or
 * -1 when nothing could be queued (OOM, the server not running). */
int st__broadcast_conns(const char *const *conn_ids, size_t n,
			const st__event *ev);
int st__broadcast_user(const char *tenant_id, const char *user_id,
		       const st__event *ev);
int st__broadcast_tenant(const char *tenant_id, const st__event *ev);

/* Test hook: how many messages the broadcasts above encoded, per format,
 * since the process started (one of each per call, whatever the number
 * of recipients). */
void st__broadcast_encodes(unsigned long *json, unsigned long *fb);

#endif

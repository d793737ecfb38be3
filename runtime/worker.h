/* worker.h: the async workers: a dispatcher that LISTENs, claims requests in
 * batches into a lease, renews it, rescues expired leases, times attempts
 * out, keeps the node's heartbeat and deletes expired rows; handler threads
 * that run the claimed requests; a progress flusher; and a finisher that
 * stores results in batches, fenced on the lease, and sends the final
 * message. The jobs they pass around are what the runner sees. */
#ifndef STREAMER_WORKER_H
#define STREAMER_WORKER_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "async.h"
#include "queue.h"

typedef struct st__workers st__workers;

/* `cfg` resolved and borrowed (outlives the workers); `q` the process's
 * queue when it has one (NULL for role worker), used only to keep each
 * acknowledgment before the request's first event. `run_handlers`: false
 * for a gateway-only process, which still keeps the heartbeat, receives
 * events for its connections from other nodes and rescues leases. */
st__workers *st__workers_create(const st__async_config *cfg, st__queue *q,
				bool run_handlers);
int st__workers_start(st__workers *w);
void st__workers_stop(st__workers *w);
void st__workers_free(st__workers *w);

/* --- Requests inserted already claimed -----------------------------------
 * The submitter (queue.c) inserts the requests this process can start now
 * as processing under its lease, attempt 1, and hands them over here after
 * the commit and the acknowledgments: no NOTIFY round trip and no claim
 * (a second transaction and fsync) before they run. */

/* Promises run-queue room for up to n such requests: how many (0 when the
 * process runs no handlers, has no room, or is stopping). Each promise is
 * kept by st__workers_add or given back by st__workers_release. */
int st__workers_reserve(st__workers *w, int n);
/* Whether this process runs handlers for `action` (w may be NULL). */
bool st__workers_runs(const st__workers *w, const char *action);
void st__workers_release(st__workers *w, int n);

typedef struct {
	const char *request_id, *action, *client_id, *user_id, *tenant_id;
	const char *connection_id; /* "" when none */
	const char *payload;       /* JSON */
	size_t payload_len;
	int max_attempts;
	uint32_t timeout_ms;
} st__new_job;

/* Jobs for n requests committed claimed, in n reserved places. */
void st__workers_add(st__workers *w, const st__new_job *v, int n);

/* --- What the runner sees (valid on the worker thread running the job) --- */

const st_action *st__job_action(const st__job *j);
const char *st__job_payload(const st__job *j); /* the payload as JSON */
size_t st__job_payload_len(const st__job *j);
const char *st__job_request_id(const st__job *j);
const char *st__job_client_id(const st__job *j); /* "" when none */
const char *st__job_user_id(const st__job *j);
const char *st__job_tenant_id(const st__job *j);
int st__job_attempt(const st__job *j); /* 1 for the first */

/* st_progress for async requests: ST_OK, or ST_FAIL once the request was
 * cancelled, its attempt timed out, its lease was lost or the process is
 * stopping (the handler should return at once). `msg` may be NULL. */
int st__job_progress(st__job *j, double pct, const char *msg);
/* st_cancelled: true in the same cases. */
bool st__job_stopped(const st__job *j);

/* --- Seen by tests -------------------------------------------------------
 * The statements the finisher and the progress flusher run prepared,
 * NULL-terminated, and how their connections are made: every plan of each
 * must reach streamer.requests through its primary key only (worker.c,
 * "Plans"). */
extern const char *const st__keyed_sql[];
PGconn *st__keyed_connect(const char *conninfo, bool *warned);

#endif

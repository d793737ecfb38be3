/* async.h: the async engine as the gateway sees it: configuration, start and
 * stop, and the four operations (submit, status, list, cancel). The queue
 * (queue.h), the workers (worker.h), progress (progress.h) and delivery
 * (delivery.h) are its parts. */
#ifndef STREAMER_ASYNC_H
#define STREAMER_ASYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "delivery.h"
#include "streamer/registry.h"

typedef struct st__job st__job;

/* What one handler run produced; the runner fills it. */
#define ST__RESULT_MAX (8u << 20) /* bytes of result JSON */
typedef struct st__outcome {
	bool ok;
	st_buf result;     /* ok: the result as JSON (initialised by the engine) */
	char code[64];     /* !ok: the error code (ST_E_* or the action's own) */
	char message[512]; /* !ok: its message ("" for the default) */
} st__outcome;

/* Runs `job`'s handler on a worker thread: decodes st__job_payload() with
 * the action's decoder, calls its handler with an st_req whose st_progress
 * and st_cancelled go to st__job_progress and st__job_stopped, encodes the
 * result into out->result. The gateway's req.c provides the real one. */
typedef void (*st__run_fn)(void *ud, st__job *job, st__outcome *out);

typedef struct st__async_config {
	const char *conninfo;         /* libpq connection string */
	const char *node_id;          /* NULL: generated ("n" + 16 hex digits) */
	const char *role;             /* "all" (NULL), "gateway" or "worker" */
	const st_registry *registry;  /* the actions; outlives the engine */
	st__sink sink;                /* local delivery; {0}: st__gateway_post */
	st__run_fn run;               /* required when the role runs workers */
	void *run_ud;

	int workers;                  /* handler threads; 0: 2 x cores */
	int submitters;               /* group-commit connections; 0: 2 */
	int batch_max;                /* rows per transaction; 0: 512 */
	int prefetch;                 /* claimed beyond idle workers when
					 handlers are fast; <0: none; 0: 256 */
	int queue_max;                /* submissions waiting; 0: 65536 */
	uint32_t default_timeout_ms;  /* when an action has none; 0: 840000 */
	uint32_t lease_ms;            /* lease, renewed at a third; 0: 10000 */
	uint32_t backoff_base_ms;     /* first retry delay; 0: 1000 */
	uint32_t backoff_max_ms;      /* 0: 300000 */
	uint32_t sweep_ms;            /* claim without NOTIFY; 0: 1000 */
	uint32_t rescue_ms;           /* look for expired leases; 0: 1000 */
	uint32_t heartbeat_ms;        /* node heartbeat; 0: 2000 */
	uint32_t node_dead_ms;        /* a node silent this long is removed;
					 0: 15000 */
	uint32_t retention_ms;        /* how often to delete expired rows;
					 0: 60000 */
	int retention_batch;          /* rows per DELETE; 0: 1000 */
	uint64_t result_ttl_ms;       /* finished rows kept; 0: 7 days */
	uint32_t progress_client_ms;  /* per request to the client; 0: 100 */
	uint32_t progress_db_ms;      /* per request to the row; 0: 1000 */
	uint32_t submit_deadline_ms;  /* give up committing after; 0: 10000 */
} st__async_config;

/* Fills zero fields with the defaults above. */
void st__async_config_defaults(st__async_config *c);

typedef struct st__async st__async;

/* Creates the engine for `cfg` (copied; its pointers are borrowed and must
 * outlive it). NULL on bad configuration or OOM (reason on stderr).
 * st__async_start connects, registers the node and starts the threads; it
 * returns 0, or -1 when the database cannot be reached at all.
 * st__async_stop stops claiming, lets running handlers finish (they see
 * st_cancelled), puts unstarted claims back, deregisters the node and
 * joins every thread; st__async_free then frees. */
st__async *st__async_create(const st__async_config *cfg);
int st__async_start(st__async *a);
void st__async_stop(st__async *a);
void st__async_free(st__async *a);
const char *st__async_node_id(const st__async *a);

/* --- Submit ------------------------------------------------------------- */

typedef struct st__submit {
	const st_action *action;    /* borrowed for the call */
	const char *user_id, *tenant_id;
	const char *client_id;      /* the client's `id`, or NULL */
	const char *connection_id;  /* who follows the request */
	const char *payload_json;   /* the validated payload as JSON */
	size_t payload_len;
	bool binary;                /* the request came as FlatBuffers */
} st__submit;

typedef struct st__submit_result {
	const char *error_code;  /* NULL, or why it was not queued */
	const char *request_id;  /* the new request, or the earlier one */
	bool existing;           /* the client's `id` was used before */
	const char *status;      /* "pending" when new, else the earlier's */
} st__submit_result;

/* Called once per submission on an engine thread, after its transaction
 * committed (or failed). For a new request the engine has already posted
 * the acknowledgment through the sink. Pointers valid for the call. */
typedef void (*st__submit_cb)(void *ud, const st__submit_result *r);

/* Queues a submission for the next group commit (everything is copied).
 * 0, or -1 when the engine is not accepting (full or stopping: answer
 * SERVICE_UNAVAILABLE); the callback is then not called. */
int st__async_submit(st__async *a, const st__submit *s, st__submit_cb cb,
		     void *ud);

/* --- status, list, cancel ------------------------------------------------ */

/* One request as `status` and `list` show it. Pointers valid for the call. */
typedef struct st__req_state {
	const char *request_id, *action, *client_id; /* client_id: NULL if none */
	const char *status;        /* pending ... cancelled */
	double percentage;
	const char *message;
	int attempts;
	int64_t created_ms;        /* Unix ms */
	const char *result_json;   /* NULL unless completed */
	const char *error_json;    /* {"code":..,"message":..} or NULL */
} st__req_state;

typedef struct st__query_result {
	const char *error_code;    /* NULL, ST_E_NOT_FOUND, SERVICE_UNAVAILABLE */
	const st__req_state *items;
	size_t n;                  /* status, cancel: 1; list: up to 100 */
} st__query_result;

typedef void (*st__query_cb)(void *ud, const st__query_result *r);

/* `status`: the request's state, when it is the user's in the tenant.
 * With `connection_id` (a resume), that connection follows the request
 * from now on: its remaining progress and final message go there. */
int st__async_status(st__async *a, const char *tenant_id, const char *user_id,
		     const char *request_id, const char *connection_id,
		     st__query_cb cb, void *ud);
/* `list`: unfinished or finished within the hour, newest first, <= 100. */
int st__async_list(st__async *a, const char *tenant_id, const char *user_id,
		   st__query_cb cb, void *ud);
/* `cancel`: a pending request is cancelled at once, a running one at its
 * handler's next check; either way the engine itself delivers the final
 * `error` CANCELLED to the connection following it. The callback gets the
 * state after the change (a finished request is left as it was). */
int st__async_cancel(st__async *a, const char *tenant_id, const char *user_id,
		     const char *request_id, st__query_cb cb, void *ud);

#endif

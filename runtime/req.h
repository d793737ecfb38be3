/* req.h: the request context behind streamer.h's st_req, as the runtime
 * builds it (router for sync requests, workers for async ones). */
#ifndef STREAMER_REQ_H
#define STREAMER_REQ_H

#include "streamer/registry.h"

/* What differs between sync and async requests: progress and cancellation.
 * NULL ops (sync) make st_progress a no-op and st_cancelled false. */
typedef struct st__req_ops {
	/* pct already clamped to 0..100; msg is NULL or formatted text
	 * (borrowed). ST_OK, or ST_FAIL when cancelled/timed out. */
	int (*progress)(st_req *req, double pct, const char *msg);
	bool (*cancelled)(st_req *req);
} st__req_ops;

#define ST__REQ_MSG_MAX 1024 /* bytes kept of an error message */

struct st_req {
	st_arena *arena;          /* per request; owned by whoever built req */
	const st_action *action;
	const char *user_id, *tenant_id; /* borrowed for the request */
	const char *request_id;   /* "" for sync */
	const char *client_id;    /* "" when none */
	int attempt;
	bool async;
	const st__req_ops *ops;   /* NULL: sync */
	void *ops_ud;             /* for ops */
	/* The failure st_fail/st_invalid recorded (arena copies). */
	const char *err_code;     /* NULL: none recorded */
	const char *err_message;
	const char *err_field;    /* NULL unless st_invalid */
};

/* Sets every field to a sync request's defaults. */
void st__req_init(st_req *req, st_arena *a, const st_action *act,
		  const char *user_id, const char *tenant_id);

/* The code to send for what the handler recorded: its own code when the
 * action declares it (or it is a built-in), else INTERNAL_ERROR (and
 * *undeclared is set so the caller logs it). */
const char *st__req_wire_code(const st_req *req, bool *undeclared);

/* Default message of a built-in code (NULL if not built in). */
const char *st__builtin_message(const char *code);
bool st__is_builtin(const char *code);

/* The async engine's runner (st__run_fn of async.h): decodes the job's
 * payload, runs the handler with st_progress/st_cancelled going to the
 * job, encodes the result or the error into `out`. */
struct st__job;
struct st__outcome;
void st__req_run(void *ud, struct st__job *job, struct st__outcome *out);

#endif

/* req.c: the handler API of streamer.h over st_req. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "req.h"

static const struct { const char *code, *message; } builtins[] = {
#define ST__B(name, retryable, message) { #name, message },
	ST_BUILTIN_ERRORS(ST__B)
#undef ST__B
};
#define N_BUILTINS (sizeof builtins / sizeof builtins[0])

const char *st__builtin_message(const char *code)
{
	for (size_t i = 0; i < N_BUILTINS; i++)
		if (!strcmp(builtins[i].code, code))
			return builtins[i].message;
	return NULL;
}

bool st__is_builtin(const char *code)
{
	return st__builtin_message(code) != NULL;
}

void st__req_init(st_req *req, st_arena *a, const st_action *act,
		  const char *user_id, const char *tenant_id)
{
	memset(req, 0, sizeof *req);
	req->arena = a;
	req->action = act;
	req->user_id = user_id;
	req->tenant_id = tenant_id;
	req->request_id = "";
	req->client_id = "";
	req->attempt = 1;
}

static bool declared(const st_action *act, const char *code)
{
	if (!act)
		return false;
	for (size_t i = 0; i < act->n_errors; i++)
		if (!strcmp(act->errors[i], code))
			return true;
	return false;
}

const char *st__req_wire_code(const st_req *req, bool *undeclared)
{
	*undeclared = false;
	const char *c = req->err_code;
	if (c && (st__is_builtin(c) || declared(req->action, c)))
		return c;
	*undeclared = true;
	return ST_E_INTERNAL_ERROR;
}

/* Formats into the arena (cut at ST__REQ_MSG_MAX); NULL when fmt is NULL
 * or empty. */
static const char *fmt_arena(st_req *req, const char *fmt, va_list ap)
{
	if (!fmt || !*fmt)
		return NULL;
	char tmp[ST__REQ_MSG_MAX];
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	if (n < 0)
		return NULL;
	size_t len = (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1;
	return st_arena_strndup(req->arena, tmp, len);
}

int st_fail(st_req *req, const char *code, const char *fmt, ...)
{
	if (!code || !*code)
		code = ST_E_INTERNAL_ERROR;
	req->err_code = st_arena_strndup(req->arena, code, strnlen(code, 128));
	if (!req->err_code)
		req->err_code = ST_E_INTERNAL_ERROR;
	va_list ap;
	va_start(ap, fmt);
	req->err_message = fmt_arena(req, fmt, ap);
	va_end(ap);
	req->err_field = NULL;
	return ST_FAIL;
}

int st_invalid(st_req *req, const char *field, const char *fmt, ...)
{
	req->err_code = ST_E_VALIDATION_ERROR;
	va_list ap;
	va_start(ap, fmt);
	req->err_message = fmt_arena(req, fmt, ap);
	va_end(ap);
	req->err_field = field ? st_arena_strndup(req->arena, field,
						  strnlen(field, 256)) : NULL;
	return ST_FAIL;
}

int st_progress(st_req *req, double percentage, const char *fmt, ...)
{
	if (!req->ops || !req->ops->progress)
		return ST_OK;
	if (!(percentage >= 0)) /* also NaN */
		percentage = 0;
	if (percentage > 100)
		percentage = 100;
	char msg[ST__REQ_MSG_MAX];
	const char *m = NULL;
	if (fmt && *fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
		m = msg;
	}
	return req->ops->progress(req, percentage, m);
}

bool st_cancelled(st_req *req)
{
	return req->ops && req->ops->cancelled ? req->ops->cancelled(req) : false;
}

void *st_alloc(st_req *req, size_t size)
{
	return st_arena_alloc(req->arena, size);
}

st_str st_strdup(st_req *req, const char *s)
{
	size_t n = strlen(s);
	char *p = st_arena_strndup(req->arena, s, n);
	return p ? (st_str){ p, n } : (st_str){ NULL, 0 };
}

st_str st_sprintf(st_req *req, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return (st_str){ NULL, 0 };
	char *p = st_arena_alloc(req->arena, (size_t)n + 1);
	if (!p)
		return (st_str){ NULL, 0 };
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return (st_str){ p, (size_t)n };
}

const char *st_user_id(const st_req *req) { return req->user_id; }
const char *st_tenant_id(const st_req *req) { return req->tenant_id; }
const char *st_request_id(const st_req *req) { return req->request_id; }
const char *st_client_id(const st_req *req) { return req->client_id; }
int st_attempt(const st_req *req) { return req->attempt; }
bool st_is_async(const st_req *req) { return req->async; }

st_time st_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (st_time)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- async requests: the runner the async engine calls ------------------- */

#include "async.h"
#include "metrics.h"
#include "worker.h"

#define RUN_ARENA_MAX (16u * 1024 * 1024)

static int job_progress_op(st_req *req, double pct, const char *msg)
{
	return st__job_progress(req->ops_ud, pct, msg);
}

static bool job_cancelled_op(st_req *req)
{
	return st__job_stopped(req->ops_ud);
}

static const st__req_ops job_ops = { job_progress_op, job_cancelled_op };

static void outcome_fail(st__outcome *out, const char *code, const char *msg)
{
	out->ok = false;
	snprintf(out->code, sizeof out->code, "%s", code);
	snprintf(out->message, sizeof out->message, "%s", msg ? msg : "");
}

void st__req_run(void *ud, st__job *job, st__outcome *out)
{
	(void)ud;
	const st_action *act = st__job_action(job);
	st_arena *a = st_arena_create(RUN_ARENA_MAX);
	void *payload = a ? st_arena_alloc(a, act->payload_size ? act->payload_size : 1) : NULL;
	void *result = a ? st_arena_alloc(a, act->result_size ? act->result_size : 1) : NULL;
	if (!payload || !result) {
		outcome_fail(out, ST_E_INTERNAL_ERROR, "out of memory");
		goto done;
	}
	st_verr e;
	st_verr_init(&e);
	st_json j;
	st_json_init(&j, st__job_payload(job), st__job_payload_len(job));
	if (act->payload_decode_json(&j, payload, a, &e) < 0 || st_json_end(&j, &e) < 0) {
		/* It was validated when queued: only a changed schema gets here. */
		outcome_fail(out, ST_E_VALIDATION_ERROR, e.msg);
		goto done;
	}
	st_req req;
	st__req_init(&req, a, act, st__job_user_id(job), st__job_tenant_id(job));
	req.request_id = st__job_request_id(job);
	req.client_id = st__job_client_id(job);
	req.attempt = st__job_attempt(job);
	req.async = true;
	req.ops = &job_ops;
	req.ops_ud = job;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = act->handler(&req, payload, result);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	st__metrics_handler_seconds(act, (double)(t1.tv_sec - t0.tv_sec) +
					 (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (rc == ST_OK) {
		act->result_encode_json(result, &out->result);
		if (out->result.failed) {
			outcome_fail(out, ST_E_INTERNAL_ERROR, "the result is too large");
			goto done;
		}
		out->ok = true;
		goto done;
	}
	if (rc != ST_FAIL && !req.err_code)
		st_fail(&req, "(bad return value)", NULL);
	bool undeclared;
	const char *code = st__req_wire_code(&req, &undeclared);
	outcome_fail(out, code, undeclared ? NULL : req.err_message);
done:
	st_arena_free(a);
}

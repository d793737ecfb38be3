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

/* router.c: envelope -> action -> permission -> decode/validate -> handler
 * (on the pool) -> response. JSON text frames and FlatBuffers binary frames
 * (envelope.h); every answer goes out in the format of the message it
 * answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "envelope.h"
#include "log.h"
#include "metrics.h"
#include "req.h"
#include "router.h"

/* Actions declared to take at most this long (the demo's echo, the
 * language spec's example: 10ms) are quick jobs: the loop's thread may run
 * them itself between passes, with a standby thread to take the loop over
 * from one that runs late (server.c, run_inline). Slower ones go straight
 * to the workers. */
#define QUICK_MS 10

typedef enum env_type {
	T_REQUEST, T_CANCEL, T_STATUS, T_LIST, T_PING, T_UNKNOWN,
} env_type;

/* A parsed envelope; strings live in the loop's arena or the frame. */
typedef struct envelope {
	env_type type;
	st__format format;
	st_str id, action, request_id, trace_id;
	const char *payload; /* JSON: the payload value's raw text; FB: the
				nested <Action>Payload buffer's bytes */
	size_t payload_len;
	bool has_id, has_action, has_request_id, has_payload;
} envelope;

static struct {
	const st_registry *reg;
	const st__config *cfg;
	st__pool *pool;
	st__async *async;
	st__send_fn send;
	st_arena *loop_arena; /* envelope strings; reset per message */
} R;

/* --- ids and time ---------------------------------------------------------- */

static _Thread_local uint64_t rng[2];

static uint64_t rng_next(void)
{
	if (!rng[0] && !rng[1]) {
		if (getrandom(rng, sizeof rng, 0) != sizeof rng) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			rng[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32);
			rng[1] = (uint64_t)(uintptr_t)&ts | 1;
		}
	}
	/* xorshift128+ */
	uint64_t s1 = rng[0];
	const uint64_t s0 = rng[1];
	rng[0] = s0;
	s1 ^= s1 << 23;
	rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
	return rng[1] + s0;
}

void st__uuid_text(char out[37])
{
	uint8_t b[16];
	uint64_t a = rng_next(), c = rng_next();
	memcpy(b, &a, 8);
	memcpy(b + 8, &c, 8);
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	static const char hex[] = "0123456789abcdef";
	/* where byte i's two digits go: the dashes sit at 8, 13, 18, 23 */
	static const unsigned char at[16] = {
		0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34,
	};
	for (int i = 0; i < 16; i++) {
		out[at[i]] = hex[b[i] >> 4];
		out[at[i] + 1] = hex[b[i] & 15];
	}
	out[8] = out[13] = out[18] = out[23] = '-';
	out[36] = '\0';
}

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- encoders ---------------------------------------------------------------- */

/* {"type":T[,"request_id":R][,"id":I] -- the caller closes it. */
static void w_head(st_buf *b, const char *type, const char *request_id,
		   const char *id)
{
	st_buf_lit(b, "{\"type\":");
	st_jw_str(b, type, strlen(type));
	if (request_id && *request_id) {
		st_buf_lit(b, ",\"request_id\":");
		st_jw_str(b, request_id, strlen(request_id));
	}
	if (id) {
		st_buf_lit(b, ",\"id\":");
		st_jw_str(b, id, strlen(id));
	}
}

static void w_error(st_buf *b, const char *request_id, const char *id,
		    const char *code, const char *message, const char *field,
		    long retry_after_ms)
{
	if (!message)
		message = st__builtin_message(code);
	if (!message)
		message = "Error";
	w_head(b, "error", request_id, id);
	st_buf_lit(b, ",\"error\":{\"code\":");
	st_jw_str(b, code, strlen(code));
	st_buf_lit(b, ",\"message\":");
	st_jw_str(b, message, strlen(message));
	if (field) {
		st_buf_lit(b, ",\"field\":");
		st_jw_str(b, field, strlen(field));
	}
	if (retry_after_ms >= 0)
		st_buf_printf(b, ",\"retry_after_ms\":%ld", retry_after_ms);
	st_buf_lit(b, "}}");
}

/* The finished buffer as a message; an encoder that overflowed becomes an
 * INTERNAL_ERROR so that the request still gets its one answer. */
static st__msg *finish(st_buf *b, st__msg_type t, const char *request_id,
		       const char *id)
{
	if (b->failed) {
		st_buf_reset(b);
		w_error(b, request_id, id, ST_E_INTERNAL_ERROR,
			"the answer is too large", NULL, -1);
		t = ST__MT_ERROR;
	}
	st__msg *m = st__msg_create(b->data ? b->data : "", b->len, false, t);
	st_buf_fini(b);
	return m;
}

/* A NUL-terminated C string as an optional envelope string. */
static st_str opt_str(const char *s)
{
	return s ? (st_str){ s, strlen(s) } : (st_str){ NULL, 0 };
}

/* The envelope as a binary message; like finish(), one that does not fit
 * becomes an INTERNAL_ERROR. */
static st__msg *fb_finish(const st__env *env, st__msg_type t)
{
	st_fbb b;
	const uint8_t *p;
	size_t n;
	st__msg *m = NULL;
	st_fbb_init(&b, ST__OUT_MAX);
	if (st__env_encode(&b, env, &p, &n) == 0) {
		m = st__msg_create(p, n, true, t);
	} else {
		st__env_error er = { .code = ST_STR("INTERNAL_ERROR"),
				     .message = ST_STR("the answer is too large") };
		st__env e2 = { .type = ST__ENV_ERROR, .id = env->id,
			       .request_id = env->request_id, .error = &er };
		if (st__env_encode(&b, &e2, &p, &n) == 0)
			m = st__msg_create(p, n, true, ST__MT_ERROR);
	}
	st_fbb_fini(&b);
	return m;
}

/* An `error` message in format f; retry_after_ms < 0: none. */
static st__msg *error_msg(st__format f, const char *request_id, const char *id,
			  const char *code, const char *message,
			  const char *field, long retry_after_ms)
{
	if (f == ST__FMT_FB) {
		if (!message)
			message = st__builtin_message(code);
		st__env_error er = {
			.code = opt_str(code),
			.message = opt_str(message ? message : "Error"),
			.field = opt_str(field),
			.has_retry_after_ms = retry_after_ms >= 0,
			.retry_after_ms = retry_after_ms,
		};
		st__env env = { .type = ST__ENV_ERROR, .id = opt_str(id),
				.request_id = opt_str(request_id && *request_id ? request_id : NULL),
				.error = &er };
		return fb_finish(&env, ST__MT_ERROR);
	}
	st_buf b;
	st_buf_init(&b, ST__OUT_MAX);
	w_error(&b, request_id, id, code, message, field, retry_after_ms);
	return finish(&b, ST__MT_ERROR, request_id, id);
}

static void send_msg(const char *conn_id, st__msg *m, bool final)
{
	if (!m)
		return; /* OOM: nothing better to do */
	m->final = final;
	R.send(conn_id, m);
}

/* The one answer of a sync request: nothing else of that request follows
 * it, so the server may write it at once (conn_enqueue). */
static void send_answer(const char *conn_id, st__msg *m)
{
	if (m)
		m->answer = true;
	send_msg(conn_id, m, true);
}

static void send_error(const char *conn_id, st__format f, const char *request_id,
		       const char *id, const char *code, const char *message,
		       const char *field)
{
	send_msg(conn_id, error_msg(f, request_id, id, code, message, field, -1), true);
}

st__msg *st__router_error_msg(bool binary, const char *code, const char *message,
			      long retry_after_ms)
{
	return error_msg(binary ? ST__FMT_FB : ST__FMT_JSON, NULL, NULL, code,
			 message, NULL, retry_after_ms);
}

static const st_action *lookup(const char *name);

/* An action's result, given as JSON text (what the async engine stores),
 * as a finished <Action>Result FlatBuffer in `nb`: 0 and the bytes (valid
 * until nb changes), or -1 (unknown action, no codec, a result that does
 * not decode: a server-side bug, logged by the caller). */
static int result_fb_from_json(const char *action, const char *json, st_fbb *nb,
			       const uint8_t **p, size_t *n)
{
	const st_action *act = action ? lookup(action) : NULL;
	if (!act || !act->result_decode_json || !act->result_encode_fb || !json)
		return -1;
	st_arena *a = st_arena_create(ST__REQ_ARENA_MAX);
	void *res = a ? st_arena_alloc(a, act->result_size ? act->result_size : 1) : NULL;
	int rc = -1;
	st_verr e;
	st_verr_init(&e);
	st_json j;
	st_json_init(&j, json, strlen(json));
	if (res && act->result_decode_json(&j, res, a, &e) == 0 && st_json_end(&j, &e) == 0) {
		st_fbb_reset(nb);
		st_fbref root = act->result_encode_fb(nb, res);
		rc = st_fbb_finish(nb, root, NULL, p, n);
	}
	st_arena_free(a);
	return rc;
}

/* An async event as an envelope. */
static st__msg *event_msg_fb(const st__event *ev)
{
	st__env env = { .id = opt_str(ev->client_id), .request_id = opt_str(ev->request_id) };
	st__env_error er = { 0 };
	st_fbb nb;
	st_fbb_init(&nb, ST__OUT_MAX);
	st__msg_type t = ST__MT_ERROR;
	switch (ev->kind) {
	case ST__EV_ACK:
		t = ST__MT_ACK;
		env.type = ST__ENV_ACK;
		env.status = ST_STR("queued");
		env.estimated_duration_ms = ev->estimated_duration_ms;
		break;
	case ST__EV_PROGRESS:
		t = ST__MT_PROGRESS;
		env.type = ST__ENV_PROGRESS;
		env.percentage = ev->percentage;
		env.message = opt_str(ev->message ? ev->message : "");
		env.timestamp = ev->timestamp_ms;
		break;
	case ST__EV_COMPLETE: {
		const uint8_t *p;
		size_t n;
		if (result_fb_from_json(ev->action, ev->result_json, &nb, &p, &n) < 0) {
			st__logctx lc = { ev->connection_id, ev->request_id, NULL };
			st__log(ST__LOG_ERROR, &lc, "result has no FlatBuffers form",
				"action=%s", ev->action ? ev->action : "");
			env.type = ST__ENV_ERROR;
			er.code = ST_STR("INTERNAL_ERROR");
			er.message = ST_STR("the result cannot be sent as FlatBuffers");
			env.error = &er;
			break;
		}
		t = ST__MT_COMPLETE;
		env.type = ST__ENV_COMPLETE;
		env.success = true;
		env.has_payload = true;
		env.payload = (st_bytes){ p, n };
		env.timestamp = ev->timestamp_ms;
		break;
	}
	case ST__EV_ERROR: {
		const char *code = ev->error_code ? ev->error_code : ST_E_INTERNAL_ERROR;
		const char *msg = ev->error_message && *ev->error_message
					  ? ev->error_message : st__builtin_message(code);
		env.type = ST__ENV_ERROR;
		er.code = opt_str(code);
		er.message = opt_str(msg ? msg : "Error");
		env.error = &er;
		break;
	}
	}
	st__msg *m = fb_finish(&env, t);
	st_fbb_fini(&nb);
	return m;
}

st__msg *st__router_event_msg(const st__event *ev, st__format f)
{
	if (f == ST__FMT_FB) {
		st__msg *m = event_msg_fb(ev);
		if (m)
			m->final = ev->kind == ST__EV_COMPLETE || ev->kind == ST__EV_ERROR;
		return m;
	}
	st_buf b;
	st_buf_init(&b, ST__OUT_MAX);
	st__msg_type t = ST__MT_ERROR;
	switch (ev->kind) {
	case ST__EV_ACK:
		t = ST__MT_ACK;
		w_head(&b, "acknowledgment", ev->request_id, ev->client_id);
		st_buf_printf(&b, ",\"status\":\"queued\",\"estimated_duration_ms\":%u}",
			      ev->estimated_duration_ms);
		break;
	case ST__EV_PROGRESS:
		t = ST__MT_PROGRESS;
		w_head(&b, "progress", ev->request_id, ev->client_id);
		st_buf_lit(&b, ",\"percentage\":");
		st_jw_f64(&b, ev->percentage);
		st_buf_lit(&b, ",\"message\":");
		st_jw_str(&b, ev->message ? ev->message : "",
			  ev->message ? strlen(ev->message) : 0);
		st_buf_printf(&b, ",\"timestamp\":%lld}", (long long)ev->timestamp_ms);
		break;
	case ST__EV_COMPLETE:
		t = ST__MT_COMPLETE;
		w_head(&b, "complete", ev->request_id, ev->client_id);
		st_buf_lit(&b, ",\"success\":true,\"data\":");
		if (ev->result_json && *ev->result_json)
			st_buf_append(&b, ev->result_json, strlen(ev->result_json));
		else
			st_buf_lit(&b, "null");
		st_buf_printf(&b, ",\"timestamp\":%lld}", (long long)ev->timestamp_ms);
		break;
	case ST__EV_ERROR:
		w_error(&b, ev->request_id, ev->client_id,
			ev->error_code ? ev->error_code : ST_E_INTERNAL_ERROR,
			ev->error_message, NULL, -1);
		break;
	}
	st__msg *m = finish(&b, t, ev->request_id, ev->client_id);
	if (m)
		m->final = ev->kind == ST__EV_COMPLETE || ev->kind == ST__EV_ERROR;
	return m;
}

/* --- the envelope --------------------------------------------------------- */

static int env_str(st_json *j, st_str *out, size_t max, const char *name,
		   st_verr *e)
{
	if (st_json_str(j, R.loop_arena, out, NULL, e) < 0)
		return st_verr_in_field(e, name);
	if (out->len > max) {
		st_verr_set(e, "must be at most %zu bytes", max);
		return st_verr_in_field(e, name);
	}
	return 0;
}

/* Keys point into the frame: compare with their length. */
static bool key_is(st_str k, const char *name)
{
	size_t n = strlen(name);
	return k.len == n && memcmp(k.ptr, name, n) == 0;
}

/* The metadata object (JSON text in both formats): its trace_id. */
static int meta_parse(st_json *j, envelope *env, st_verr *e)
{
	st_str k;
	int r;
	if (st_json_obj_begin(j, e) < 0)
		return st_verr_in_field(e, "metadata");
	while ((r = st_json_obj_key(j, R.loop_arena, &k, e)) == 1) {
		if (key_is(k, "trace_id") && !st_json_null(j)) {
			if (env_str(j, &env->trace_id, ST__TRACE_ID_MAX, "trace_id", e) < 0)
				return st_verr_in_field(e, "metadata");
		} else if (st_json_skip(j, NULL, NULL, e) < 0) {
			return st_verr_in_field(e, "metadata");
		}
	}
	return r < 0 ? st_verr_in_field(e, "metadata") : 0;
}

/* An envelope string field's length limit. */
static int fb_limit(st_str s, size_t max, const char *name, st_verr *e)
{
	if (s.ptr && s.len > max) {
		st_verr_set(e, "must be at most %zu bytes", max);
		return st_verr_in_field(e, name);
	}
	return 0;
}

/* Parses a binary frame: an Envelope, verified as it is read (any failure
 * is the client's: VALIDATION_ERROR). Strings and the payload point into
 * the frame. 0, or -1 with the reason (and field) in e. */
static int env_parse_fb(const char *buf, size_t len, envelope *env, st_verr *e)
{
	st__env fe;
	memset(env, 0, sizeof *env);
	env->format = ST__FMT_FB;
	if (st__env_decode((const uint8_t *)buf, len, R.loop_arena, &fe, e) < 0)
		return -1;
	env->type = fe.type == ST__ENV_REQUEST ? T_REQUEST
		  : fe.type == ST__ENV_CANCEL  ? T_CANCEL
		  : fe.type == ST__ENV_STATUS  ? T_STATUS
		  : fe.type == ST__ENV_LIST    ? T_LIST
		  : fe.type == ST__ENV_PING    ? T_PING
					       : T_UNKNOWN;
	if (fb_limit(fe.id, ST__CLIENT_ID_MAX, "id", e) < 0 ||
	    fb_limit(fe.action, ST__ACTION_NAME_MAX, "action", e) < 0 ||
	    fb_limit(fe.request_id, 64, "request_id", e) < 0)
		return -1;
	env->id = fe.id;
	env->has_id = fe.id.ptr != NULL;
	env->action = fe.action;
	env->has_action = fe.action.ptr != NULL;
	env->request_id = fe.request_id;
	env->has_request_id = fe.request_id.ptr != NULL;
	if (fe.has_payload) {
		env->payload = (const char *)fe.payload.ptr;
		env->payload_len = fe.payload.len;
		env->has_payload = true;
	}
	if (fe.metadata.ptr) {
		st_json j;
		st_json_init(&j, fe.metadata.ptr, fe.metadata.len);
		if (meta_parse(&j, env, e) < 0)
			return -1;
		if (st_json_end(&j, e) < 0)
			return st_verr_in_field(e, "metadata");
	}
	return 0;
}

/* Parses a JSON envelope. 0, or -1 with the reason (and field) in e. */
static int env_parse_json(const char *buf, size_t len, envelope *env, st_verr *e)
{
	st_json j;
	st_str key;
	int r;
	memset(env, 0, sizeof *env);
	st_json_init(&j, buf, len);
	if (st_json_obj_begin(&j, e) < 0) {
		st_verr_init(e);
		return st_verr_set(e, "the message must be a JSON object");
	}
	while ((r = st_json_obj_key(&j, R.loop_arena, &key, e)) == 1) {
		if (st_json_null(&j))
			continue; /* null is absent */
		if (key_is(key, "type")) {
			st_str t;
			if (env_str(&j, &t, 32, "type", e) < 0)
				return -1;
			env->type = !strcmp(t.ptr, "request") ? T_REQUEST
				  : !strcmp(t.ptr, "cancel")  ? T_CANCEL
				  : !strcmp(t.ptr, "status")  ? T_STATUS
				  : !strcmp(t.ptr, "list")    ? T_LIST
				  : !strcmp(t.ptr, "ping")    ? T_PING
							      : T_UNKNOWN;
		} else if (key_is(key, "id")) {
			if (env_str(&j, &env->id, ST__CLIENT_ID_MAX, "id", e) < 0)
				return -1;
			env->has_id = true;
		} else if (key_is(key, "action")) {
			if (env_str(&j, &env->action, ST__ACTION_NAME_MAX, "action", e) < 0)
				return -1;
			env->has_action = true;
		} else if (key_is(key, "request_id")) {
			if (env_str(&j, &env->request_id, 64, "request_id", e) < 0)
				return -1;
			env->has_request_id = true;
		} else if (key_is(key, "payload")) {
			if (st_json_skip(&j, &env->payload, &env->payload_len, e) < 0)
				return st_verr_in_field(e, "payload");
			env->has_payload = true;
		} else if (key_is(key, "metadata")) {
			if (meta_parse(&j, env, e) < 0)
				return -1;
		} else if (st_json_skip(&j, NULL, NULL, e) < 0) {
			return -1;
		}
	}
	if (r < 0 || st_json_end(&j, e) < 0)
		return -1;
	return 0;
}

/* --- the request on the pool ------------------------------------------------ */

typedef struct job {
	const st_action *act;
	char conn_id[64];
	char request_id[37];
	char *client_id;  /* NULL when none */
	char *trace_id;   /* NULL when none */
	char *user_id, *tenant_id;
	char *payload;    /* JSON: the payload's text, "{}" when absent; FB:
			     the nested buffer, NULL when absent */
	size_t payload_len;
	st__format format;
	int64_t t0;       /* when the frame arrived (monotonic ns) */
	char mem[];       /* the strings above */
} job;

/* Copies `s` into the job's tail at *off. */
static char *job_put(job *jb, size_t *off, const char *s, size_t n)
{
	char *p = jb->mem + *off;
	memcpy(p, s, n);
	p[n] = '\0';
	*off += n + 1;
	return p;
}

static job *job_create(const st_action *act, const st__router_conn *c,
		       const envelope *env, const char *request_id, int64_t t0)
{
	bool fb = env->format == ST__FMT_FB;
	const char *pl = env->has_payload ? env->payload : fb ? "" : "{}";
	size_t pll = env->has_payload ? env->payload_len : fb ? 0 : 2;
	size_t ul = strlen(c->claims->sub), tl = strlen(c->claims->tenant_id);
	size_t need = pll + ul + tl + env->id.len + env->trace_id.len + 5;
	job *jb = st__pool_mem_alloc(R.pool, sizeof *jb + need);
	if (!jb)
		return NULL;
	size_t off = 0;
	jb->act = act;
	size_t cl = strnlen(c->conn_id, sizeof jb->conn_id - 1);
	memcpy(jb->conn_id, c->conn_id, cl);
	jb->conn_id[cl] = '\0';
	memcpy(jb->request_id, request_id, 37);
	jb->payload = job_put(jb, &off, pl, pll);
	if (fb && !env->has_payload)
		jb->payload = NULL;
	jb->payload_len = pll;
	jb->user_id = job_put(jb, &off, c->claims->sub, ul);
	jb->tenant_id = job_put(jb, &off, c->claims->tenant_id, tl);
	jb->client_id = env->has_id ? job_put(jb, &off, env->id.ptr, env->id.len) : NULL;
	jb->trace_id = env->trace_id.ptr ? job_put(jb, &off, env->trace_id.ptr,
						   env->trace_id.len) : NULL;
	jb->format = env->format;
	jb->t0 = t0;
	return jb;
}

/* The answer of a refused/failed request, with its metrics. */
static void job_error(job *jb, const char *code, const char *message,
		      const char *field)
{
	st__metrics_request(jb->act, code);
	st__metrics_e2e_seconds(jb->act, (double)(mono_ns() - jb->t0) / 1e9);
	send_answer(jb->conn_id, error_msg(jb->format, jb->request_id, jb->client_id,
					   code, message, field, -1));
}

/* The error the handler or validator recorded. */
static void job_req_error(job *jb, const st_req *req)
{
	bool undeclared;
	const char *code = st__req_wire_code(req, &undeclared);
	const char *msg = req->err_message;
	if (undeclared) {
		st__logctx lc = { jb->conn_id, jb->request_id, jb->trace_id };
		st__log(ST__LOG_WARN, &lc, req->err_code ? "undeclared error code"
			: "handler failed without st_fail",
			"action=%s code=%s message=%s", jb->act->name, req->err_code,
			req->err_message);
		msg = NULL;
	}
	job_error(jb, code, msg, req->err_field);
}

/* What the submit callback needs after the job is gone. */
typedef struct async_ctx {
	char conn_id[64];
	char request_id[37];
	const st_action *act;
	st__format format;
	int64_t t0;
	char *client_id; /* in mem */
	char mem[];
} async_ctx;

/* A new request's acknowledgment was posted by the engine; a repeated
 * client id gets the earlier request's id and status here; a failure its
 * error. */
static void async_done(void *ud, const st__submit_result *r)
{
	async_ctx *ac = ud;
	st__metrics_e2e_seconds(ac->act, (double)(mono_ns() - ac->t0) / 1e9);
	if (r->error_code)
		st__metrics_request(ac->act, r->error_code);
	if (ac->format == ST__FMT_FB && (r->error_code || r->existing)) {
		const char *rid = r->request_id ? r->request_id : ac->request_id;
		st__msg *m;
		if (r->error_code) {
			m = error_msg(ST__FMT_FB, rid, ac->client_id, r->error_code,
				      NULL, NULL, -1);
		} else {
			st__env env = {
				.type = ST__ENV_ACK, .id = opt_str(ac->client_id),
				.request_id = opt_str(r->request_id),
				.status = opt_str(r->status ? r->status : "pending"),
				.estimated_duration_ms = ac->act->duration_ms,
			};
			m = fb_finish(&env, ST__MT_ACK);
		}
		send_msg(ac->conn_id, m, r->error_code != NULL);
		free(ac);
		return;
	}
	st_buf b;
	st_buf_init(&b, ST__OUT_MAX);
	st__msg_type t = ST__MT_ACK;
	if (r->error_code) {
		w_error(&b, r->request_id ? r->request_id : ac->request_id,
			ac->client_id, r->error_code, NULL, NULL, -1);
		t = ST__MT_ERROR;
	} else if (r->existing) {
		w_head(&b, "acknowledgment", r->request_id, ac->client_id);
		st_buf_lit(&b, ",\"status\":");
		const char *s = r->status ? r->status : "pending";
		st_jw_str(&b, s, strlen(s));
		st_buf_printf(&b, ",\"estimated_duration_ms\":%u}", ac->act->duration_ms);
	}
	if (b.len)
		send_msg(ac->conn_id, finish(&b, t, ac->request_id, ac->client_id),
			 r->error_code != NULL);
	else
		st_buf_fini(&b);
	free(ac);
}

static void job_async(job *jb, const void *payload)
{
	if (!R.async) {
		job_error(jb, ST_E_SERVICE_UNAVAILABLE,
			  "async actions are not available on this server", NULL);
		return;
	}
	st_buf pj;
	st_buf_init(&pj, ST__REQ_ARENA_MAX);
	jb->act->payload_encode_json(payload, &pj);
	size_t cl = jb->client_id ? strlen(jb->client_id) : 0;
	async_ctx *ac = malloc(sizeof *ac + cl + 1);
	if (pj.failed || !ac) {
		free(ac);
		st_buf_fini(&pj);
		job_error(jb, ST_E_INTERNAL_ERROR, NULL, NULL);
		return;
	}
	memcpy(ac->conn_id, jb->conn_id, sizeof ac->conn_id);
	memcpy(ac->request_id, jb->request_id, sizeof ac->request_id);
	ac->act = jb->act;
	ac->format = jb->format;
	ac->t0 = jb->t0;
	ac->client_id = jb->client_id ? memcpy(ac->mem, jb->client_id, cl + 1) : NULL;
	st__submit s = {
		.action = jb->act,
		.user_id = jb->user_id,
		.tenant_id = jb->tenant_id,
		.client_id = jb->client_id,
		.connection_id = jb->conn_id,
		.payload_json = pj.data ? pj.data : "{}",
		.payload_len = pj.data ? pj.len : 2,
		.binary = jb->format == ST__FMT_FB,
	};
	if (st__async_submit(R.async, &s, async_done, ac) < 0) {
		free(ac);
		job_error(jb, ST_E_SERVICE_UNAVAILABLE, NULL, NULL);
	}
	st_buf_fini(&pj);
}

/* Decodes the job's payload in its format: 0, or -1 with e set. A binary
 * request without a payload decodes an empty table (every field absent). */
static int payload_decode(const job *jb, void *payload, st_arena *a, st_verr *e)
{
	const st_action *act = jb->act;
	if (jb->format == ST__FMT_JSON) {
		st_json j;
		st_json_init(&j, jb->payload, jb->payload_len);
		if (act->payload_decode_json(&j, payload, a, e) < 0)
			return -1;
		return st_json_end(&j, e);
	}
	if (!act->payload_decode_fb)
		return st_verr_set(e, "action '%s' takes no FlatBuffers payload", act->name);
	static const uint8_t empty_table[] = { /* root -> table, vtable {4, 4} */
		8, 0, 0, 0, 4, 0, 4, 0, 4, 0, 0, 0,
	};
	const uint8_t *p = jb->payload ? (const uint8_t *)jb->payload : empty_table;
	size_t n = jb->payload ? jb->payload_len : sizeof empty_table;
	st_fbr t;
	if (st_fbr_root(p, n, NULL, &t, e) < 0)
		return -1;
	return act->payload_decode_fb(&t, payload, a, e);
}

/* A sync action's `response` in the job's format; NULL when it does not
 * fit (or OOM). */
static st__msg *response_msg(const job *jb, const void *result)
{
	const st_action *act = jb->act;
	if (jb->format == ST__FMT_FB) {
		if (!act->result_encode_fb)
			return NULL;
		st_fbb nb;
		const uint8_t *p;
		size_t n;
		st__msg *m = NULL;
		st_fbb_init(&nb, ST__OUT_MAX);
		st_fbref root = act->result_encode_fb(&nb, result);
		if (st_fbb_finish(&nb, root, NULL, &p, &n) == 0) {
			st__env env = {
				.type = ST__ENV_RESPONSE, .id = opt_str(jb->client_id),
				.request_id = opt_str(jb->request_id), .success = true,
				.has_payload = true, .payload = { p, n },
			};
			m = fb_finish(&env, ST__MT_RESPONSE);
		}
		st_fbb_fini(&nb);
		return m;
	}
	st_buf b;
	st__msg_buf_init(&b, ST__OUT_MAX); /* encoded in place: no copy */
	w_head(&b, "response", jb->request_id, jb->client_id);
	st_buf_lit(&b, ",\"success\":true,\"data\":");
	act->result_encode_json(result, &b);
	st_buf_lit(&b, "}");
	st__msg *m = st__msg_from_buf(&b, false, ST__MT_RESPONSE);
	st_buf_fini(&b); /* what is left when it failed */
	return m;
}

static void job_run(void *arg)
{
	job *jb = arg;
	const st_action *act = jb->act;
	st_arena *own = NULL, *a = st__pool_arena(ST__REQ_ARENA_MAX);
	if (!a)
		a = own = st_arena_create(ST__REQ_ARENA_MAX);
	void *payload = a ? st_arena_alloc(a, act->payload_size ? act->payload_size : 1) : NULL;
	void *result = a ? st_arena_alloc(a, act->result_size ? act->result_size : 1) : NULL;
	if (!payload || !result) {
		job_error(jb, ST_E_INTERNAL_ERROR, "out of memory", NULL);
		goto done;
	}

	st_verr e;
	st_verr_init(&e);
	if (payload_decode(jb, payload, a, &e) < 0) {
		char field[ST_VERR_PATH_MAX + 16];
		const char *p = st_verr_path(&e);
		/* Generated decoders name the root "payload" themselves;
		 * hand-written ones may not. */
		bool rooted = !strncmp(p, "payload", 7) &&
			      (p[7] == '\0' || p[7] == '.' || p[7] == '[');
		if (rooted)
			snprintf(field, sizeof field, "%s", p);
		else
			snprintf(field, sizeof field, "payload%s%s",
				 *p && *p != '[' ? "." : "", p);
		job_error(jb, ST_E_VALIDATION_ERROR, e.msg[0] ? e.msg : NULL, field);
		goto done;
	}

	st_req req;
	st__req_init(&req, a, act, jb->user_id, jb->tenant_id);
	req.client_id = jb->client_id ? jb->client_id : "";
	if (act->validate && act->validate(&req, payload) != ST_OK) {
		job_req_error(jb, &req);
		goto done;
	}
	if (act->duration_ms > R.cfg->async_threshold_ms) {
		job_async(jb, payload);
		goto done;
	}

	int64_t h0 = mono_ns();
	int rc = act->handler(&req, payload, result);
	st__metrics_handler_seconds(act, (double)(mono_ns() - h0) / 1e9);
	if (rc == ST_DEFER) {
		job_async(jb, payload);
		goto done;
	}
	if (rc != ST_OK) {
		if (rc != ST_FAIL && !req.err_code)
			st_fail(&req, "(bad return value)", NULL);
		job_req_error(jb, &req);
		goto done;
	}

	st__msg *m = response_msg(jb, result);
	if (!m) {
		job_error(jb, ST_E_INTERNAL_ERROR, "the result is too large", NULL);
		goto done;
	}
	st__metrics_request(act, NULL);
	st__metrics_e2e_seconds(act, (double)(mono_ns() - jb->t0) / 1e9);
	send_answer(jb->conn_id, m);
done:
	st_arena_free(own);
	st__pool_mem_free(R.pool, jb);
}

/* --- dispatch (the loop) ---------------------------------------------- */

static const st_action *lookup(const char *name)
{
	size_t lo = 0, hi = R.reg->n_actions;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, R.reg->actions[mid].name);
		if (c == 0)
			return &R.reg->actions[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* For cancel/status/list answers. */
typedef enum ctl_kind { CTL_CANCEL, CTL_STATUS, CTL_LIST } ctl_kind;

typedef struct ctl_ctx {
	char conn_id[64];
	ctl_kind kind;
	st__format format;
	char *client_id;
	char mem[];
} ctl_ctx;

/* One request's state as protocol.md's status object. */
static void w_state(st_buf *b, const st__req_state *s, bool with_ids)
{
	st_buf_lit(b, "{");
	if (with_ids) {
		st_buf_lit(b, "\"request_id\":");
		st_jw_str(b, s->request_id, strlen(s->request_id));
		st_buf_lit(b, ",\"action\":");
		st_jw_str(b, s->action, strlen(s->action));
		if (s->client_id) {
			st_buf_lit(b, ",\"id\":");
			st_jw_str(b, s->client_id, strlen(s->client_id));
		}
		st_buf_lit(b, ",");
	}
	st_buf_lit(b, "\"status\":");
	st_jw_str(b, s->status, strlen(s->status));
	st_buf_lit(b, ",\"percentage\":");
	st_jw_f64(b, s->percentage);
	st_buf_lit(b, ",\"message\":");
	st_jw_str(b, s->message ? s->message : "", s->message ? strlen(s->message) : 0);
	st_buf_printf(b, ",\"attempts\":%d,\"created_at\":", s->attempts);
	st_jw_time(b, s->created_ms);
	if (s->result_json) {
		st_buf_lit(b, ",\"result\":");
		st_buf_append(b, s->result_json, strlen(s->result_json));
	}
	if (s->error_json) {
		st_buf_lit(b, ",\"error\":");
		st_buf_append(b, s->error_json, strlen(s->error_json));
	}
	st_buf_lit(b, "}");
}

/* The stored error object ({"code":..,"message":..}) as an ErrorInfo;
 * strings from `a`. Unknown keys are skipped; a malformed one reads as
 * INTERNAL_ERROR. */
static void error_from_json(const char *json, st_arena *a, st__env_error *er)
{
	st_json j;
	st_str k;
	st_verr e;
	int r;
	memset(er, 0, sizeof *er);
	st_json_init(&j, json, strlen(json));
	if (st_json_obj_begin(&j, &e) < 0)
		goto bad;
	while ((r = st_json_obj_key(&j, a, &k, &e)) == 1) {
		st_str *dst = key_is(k, "code") ? &er->code
			    : key_is(k, "message") ? &er->message
			    : key_is(k, "field") ? &er->field : NULL;
		if (dst && !st_json_null(&j)) {
			if (st_json_str(&j, a, dst, NULL, &e) < 0)
				goto bad;
		} else if (key_is(k, "retry_after_ms") && !st_json_null(&j)) {
			if (st_json_i64(&j, &er->retry_after_ms, &e) < 0)
				goto bad;
			er->has_retry_after_ms = true;
		} else if (st_json_skip(&j, NULL, NULL, &e) < 0) {
			goto bad;
		}
	}
	if (r == 0 && er->code.ptr)
		return;
bad:
	memset(er, 0, sizeof *er);
	er->code = ST_STR("INTERNAL_ERROR");
}

/* One request's state as a RequestState (strings borrowed from s; the
 * nested result and error from `a`). */
static void fb_state(const st__req_state *s, st_arena *a, st__env_state *o)
{
	memset(o, 0, sizeof *o);
	o->request_id = opt_str(s->request_id);
	o->action = opt_str(s->action);
	o->id = opt_str(s->client_id);
	o->status = opt_str(s->status);
	o->percentage = s->percentage;
	o->message = opt_str(s->message ? s->message : "");
	o->attempts = s->attempts;
	o->created_at = s->created_ms;
	if (s->result_json) {
		st_fbb nb;
		const uint8_t *p;
		size_t n;
		st_fbb_init(&nb, ST__OUT_MAX);
		if (result_fb_from_json(s->action, s->result_json, &nb, &p, &n) == 0) {
			uint8_t *copy = st_arena_alloc(a, n ? n : 1);
			if (copy) {
				memcpy(copy, p, n);
				o->has_result = true;
				o->result = (st_bytes){ copy, n };
			}
		}
		st_fbb_fini(&nb);
	}
	if (s->error_json) {
		st__env_error *er = st_arena_alloc(a, sizeof *er);
		if (er) {
			error_from_json(s->error_json, a, er);
			o->error = er;
		}
	}
}

/* ctl_done for a binary client: status/list carry `data`, a vector of
 * RequestState (one item for status). */
static void ctl_done_fb(ctl_ctx *cc, const st__query_result *r)
{
	const char *rid = r->n && cc->kind != CTL_LIST ? r->items[0].request_id : NULL;
	st__msg *m = NULL;
	if (r->error_code || (cc->kind != CTL_LIST && r->n == 0)) {
		m = error_msg(ST__FMT_FB, NULL, cc->client_id,
			      r->error_code ? r->error_code : ST_E_NOT_FOUND, NULL, NULL, -1);
	} else {
		size_t n = cc->kind == CTL_LIST ? r->n : 1;
		st_arena *a = st_arena_create(ST__REQ_ARENA_MAX);
		st__env_state *items = a ? st_arena_alloc(a, n * sizeof *items) : NULL;
		if (items) {
			for (size_t i = 0; i < n; i++)
				fb_state(&r->items[i], a, &items[i]);
			st__env env = {
				.type = cc->kind == CTL_LIST ? ST__ENV_LIST : ST__ENV_STATUS,
				.id = opt_str(cc->client_id), .request_id = opt_str(rid),
				.has_data = true, .data = items, .n_data = n,
			};
			m = fb_finish(&env, cc->kind == CTL_LIST ? ST__MT_LIST : ST__MT_STATUS);
		}
		st_arena_free(a);
	}
	send_msg(cc->conn_id, m, false);
	free(cc);
}

static void ctl_done(void *ud, const st__query_result *r)
{
	ctl_ctx *cc = ud;
	if (cc->format == ST__FMT_FB) {
		ctl_done_fb(cc, r);
		return;
	}
	st_buf b;
	st_buf_init(&b, ST__OUT_MAX);
	st__msg_type t = ST__MT_ERROR;
	const char *rid = r->n && cc->kind != CTL_LIST ? r->items[0].request_id : NULL;
	if (r->error_code) {
		w_error(&b, NULL, cc->client_id, r->error_code, NULL, NULL, -1);
	} else if (cc->kind == CTL_LIST) {
		t = ST__MT_LIST;
		w_head(&b, "list", NULL, cc->client_id);
		st_buf_lit(&b, ",\"data\":[");
		for (size_t i = 0; i < r->n; i++) {
			if (i)
				st_buf_lit(&b, ",");
			w_state(&b, &r->items[i], true);
		}
		st_buf_lit(&b, "]}");
	} else if (r->n == 0) {
		w_error(&b, NULL, cc->client_id, ST_E_NOT_FOUND, NULL, NULL, -1);
	} else {
		t = ST__MT_STATUS;
		w_head(&b, "status", rid, cc->client_id);
		st_buf_lit(&b, ",\"data\":");
		w_state(&b, &r->items[0], false);
		st_buf_lit(&b, "}");
	}
	send_msg(cc->conn_id, finish(&b, t, rid, cc->client_id), false);
	free(cc);
}

static void control(const st__router_conn *c, const envelope *env, ctl_kind kind)
{
	const char *cid = env->has_id ? env->id.ptr : NULL;
	if (kind != CTL_LIST && !env->has_request_id) {
		send_error(c->conn_id, env->format, NULL, cid, ST_E_VALIDATION_ERROR,
			   "request_id is required", "request_id");
		return;
	}
	size_t cl = cid ? env->id.len : 0;
	ctl_ctx *cc = malloc(sizeof *cc + cl + 1);
	if (!cc)
		return;
	snprintf(cc->conn_id, sizeof cc->conn_id, "%s", c->conn_id);
	cc->kind = kind;
	cc->format = env->format;
	cc->client_id = cid ? memcpy(cc->mem, cid, cl + 1) : NULL;
	const char *u = c->claims->sub, *t = c->claims->tenant_id;
	const char *rq = env->has_request_id ? env->request_id.ptr : NULL;
	int rc = -1;
	if (R.async) {
		switch (kind) {
		case CTL_CANCEL:
			rc = st__async_cancel(R.async, t, u, rq, ctl_done, cc);
			break;
		case CTL_STATUS:
			rc = st__async_status(R.async, t, u, rq, c->conn_id, ctl_done, cc);
			break;
		case CTL_LIST:
			rc = st__async_list(R.async, t, u, ctl_done, cc);
			break;
		}
	}
	if (rc < 0) {
		free(cc);
		send_error(c->conn_id, env->format, NULL, cid, ST_E_SERVICE_UNAVAILABLE,
			   "async requests are not available on this server", NULL);
	}
}

void st__router_dispatch(const st__router_conn *c, const char *buf, size_t len,
			 bool binary)
{
	int64_t t0 = c->t0;
	envelope env;
	st_verr e;
	st_verr_init(&e);
	st_arena_reset(R.loop_arena);
	int pr = binary ? env_parse_fb(buf, len, &env, &e)
			: env_parse_json(buf, len, &env, &e);
	if (pr < 0) {
		st__metrics_in(ST__MT_INVALID);
		const char *p = st_verr_path(&e);
		send_error(c->conn_id, env.format, NULL, env.has_id ? env.id.ptr : NULL,
			   ST_E_VALIDATION_ERROR, e.msg[0] ? e.msg : NULL, *p ? p : NULL);
		return;
	}
	const char *cid = env.has_id ? env.id.ptr : NULL;
	switch (env.type) {
	case T_PING: {
		st__metrics_in(ST__MT_PING);
		if (env.format == ST__FMT_FB) {
			st__env pong = { .type = ST__ENV_PONG, .id = env.id };
			send_msg(c->conn_id, fb_finish(&pong, ST__MT_PONG), false);
			return;
		}
		st_buf b;
		st_buf_init(&b, 1024);
		w_head(&b, "pong", NULL, cid);
		st_buf_lit(&b, "}");
		send_msg(c->conn_id, finish(&b, ST__MT_PONG, NULL, cid), false);
		return;
	}
	case T_CANCEL:
		st__metrics_in(ST__MT_CANCEL);
		control(c, &env, CTL_CANCEL);
		return;
	case T_STATUS:
		st__metrics_in(ST__MT_STATUS);
		control(c, &env, CTL_STATUS);
		return;
	case T_LIST:
		st__metrics_in(ST__MT_LIST);
		control(c, &env, CTL_LIST);
		return;
	case T_UNKNOWN:
		st__metrics_in(ST__MT_INVALID);
		send_error(c->conn_id, env.format, NULL, cid, ST_E_VALIDATION_ERROR,
			   "unknown message type", "type");
		return;
	case T_REQUEST:
		break;
	}

	st__metrics_in(ST__MT_REQUEST);
	char rid[37];
	st__uuid_text(rid);
	st__logctx lc = { c->conn_id, rid, env.trace_id.ptr };
	if (!env.has_action || env.action.len == 0) {
		st__metrics_request(NULL, ST_E_VALIDATION_ERROR);
		send_error(c->conn_id, env.format, rid, cid, ST_E_VALIDATION_ERROR,
			   "action is required", "action");
		return;
	}
	const st_action *act = lookup(env.action.ptr);
	if (!act) {
		char msg[ST__ACTION_NAME_MAX + 32];
		snprintf(msg, sizeof msg, "unknown action '%s'", env.action.ptr);
		st__metrics_request(NULL, ST_E_INVALID_ACTION);
		send_error(c->conn_id, env.format, rid, cid, ST_E_INVALID_ACTION, msg, "action");
		return;
	}
	if (act->permission && !st__claims_has(c->claims, act->permission)) {
		char msg[ST__CLAIM_MAX + 64];
		snprintf(msg, sizeof msg, "permission '%s' is required", act->permission);
		st__metrics_request(act, ST_E_FORBIDDEN);
		send_error(c->conn_id, env.format, rid, cid, ST_E_FORBIDDEN, msg, NULL);
		return;
	}
	job *jb = job_create(act, c, &env, rid, t0);
	int (*submit)(st__pool *, st__pool_fn, void *) =
		act->duration_ms <= QUICK_MS ? st__pool_submit_quick : st__pool_submit;
	if (!jb || submit(R.pool, job_run, jb) < 0) {
		st__pool_mem_free(R.pool, jb);
		st__metrics_count(ST__C_POOL_FULL);
		st__metrics_request(act, ST_E_SERVICE_UNAVAILABLE);
		st__log(ST__LOG_WARN, &lc, "handler pool full", "action=%s", act->name);
		send_error(c->conn_id, env.format, rid, cid, ST_E_SERVICE_UNAVAILABLE,
			   "the server is busy; retry later", NULL);
		return;
	}
	if (st__log_enabled(ST__LOG_DEBUG))
		st__log(ST__LOG_DEBUG, &lc, "request", "action=%s", act->name);
}

int st__router_init(const st_registry *reg, const st__config *cfg,
		    st__pool *pool, st__async *async, st__send_fn send)
{
	R.async = async;
	R.reg = reg;
	R.cfg = cfg;
	R.pool = pool;
	R.send = send;
	R.loop_arena = st_arena_create(cfg->max_frame * 2 + 65536);
	return R.loop_arena ? 0 : -1;
}

void st__router_fini(void)
{
	st_arena_free(R.loop_arena);
	R.loop_arena = NULL;
}

/* fakereg.c: a hand-written registration table for gateway tests, one
 * action per path through the router (st__test_registry). */
#include <string.h>
#include <time.h>

#include "fakereg.h"

typedef struct msg_payload { st_str message; } msg_payload;
typedef struct echo_result { st_str message; st_time echoed_at; } echo_result;
typedef struct sleep_payload { int32_t ms; } sleep_payload;
typedef struct empty { int unused; } empty;

/* {"message": string(1..4096)} or {"code": string} */
static int str_field_decode(st_json *j, st_str *out, const char *name,
			    size_t maxcp, st_arena *a, st_verr *e)
{
	st_str key;
	int r;
	bool have = false;
	if (st_json_obj_begin(j, e) < 0)
		return -1;
	while ((r = st_json_obj_key(j, a, &key, e)) == 1) {
		if (key.len == strlen(name) && !memcmp(key.ptr, name, key.len)) {
			size_t ncp;
			if (st_json_str(j, a, out, &ncp, e) < 0)
				return st_verr_in_field(e, name);
			if (ncp < 1 || ncp > maxcp) {
				st_verr_set(e, "must be 1 to %zu characters", maxcp);
				return st_verr_in_field(e, name);
			}
			have = true;
		} else {
			st_verr_set(e, "is not a field of this payload");
			return st_verr_in_key(e, key.ptr, key.len);
		}
	}
	if (r < 0)
		return -1;
	if (!have) {
		st_verr_set(e, "is required");
		return st_verr_in_field(e, name);
	}
	return 0;
}

static int msg_decode(st_json *j, void *out, st_arena *a, st_verr *e)
{
	return str_field_decode(j, &((msg_payload *)out)->message, "message", 4096, a, e);
}

static int code_decode(st_json *j, void *out, st_arena *a, st_verr *e)
{
	return str_field_decode(j, &((msg_payload *)out)->message, "code", 64, a, e);
}

static int sleep_decode(st_json *j, void *out, st_arena *a, st_verr *e)
{
	sleep_payload *p = out;
	st_str key;
	int r;
	if (st_json_obj_begin(j, e) < 0)
		return -1;
	while ((r = st_json_obj_key(j, a, &key, e)) == 1) {
		if (key.len == 2 && !memcmp(key.ptr, "ms", 2)) {
			if (st_json_i32(j, &p->ms, e) < 0)
				return st_verr_in_field(e, "ms");
			if (p->ms < 0 || p->ms > 10000) {
				st_verr_set(e, "must be 0 to 10000");
				return st_verr_in_field(e, "ms");
			}
		} else if (st_json_skip(j, NULL, NULL, e) < 0) {
			return -1;
		}
	}
	return r;
}

static int empty_decode(st_json *j, void *out, st_arena *a, st_verr *e)
{
	(void)out;
	st_str key;
	int r;
	if (st_json_obj_begin(j, e) < 0)
		return -1;
	while ((r = st_json_obj_key(j, a, &key, e)) == 1)
		if (st_json_skip(j, NULL, NULL, e) < 0)
			return -1;
	return r;
}

static void msg_encode(const void *in, st_buf *b)
{
	const msg_payload *p = in;
	st_buf_lit(b, "{\"message\":");
	st_jw_str(b, p->message.ptr, p->message.len);
	st_buf_lit(b, "}");
}

static void echo_result_encode(const void *in, st_buf *b)
{
	const echo_result *r = in;
	st_buf_lit(b, "{\"message\":");
	st_jw_str(b, r->message.ptr, r->message.len);
	st_buf_lit(b, ",\"echoed_at\":");
	st_jw_time(b, r->echoed_at);
	st_buf_lit(b, "}");
}

static void empty_encode(const void *in, st_buf *b)
{
	(void)in;
	st_buf_lit(b, "{}");
}

static void sleep_encode(const void *in, st_buf *b)
{
	st_buf_printf(b, "{\"slept\":%d}", ((const sleep_payload *)in)->ms);
}

static int echo_handler(st_req *req, const void *payload, void *result)
{
	(void)req;
	const msg_payload *p = payload;
	echo_result *r = result;
	r->message = p->message;
	r->echoed_at = st_now();
	return ST_OK;
}

static int boom_handler(st_req *req, const void *payload, void *result)
{
	(void)payload, (void)result;
	return st_fail(req, "NOT_DECLARED_ANYWHERE", "this code is not declared");
}

static int fail_handler(st_req *req, const void *payload, void *result)
{
	(void)result;
	const msg_payload *p = payload;
	return st_fail(req, p->message.ptr, "failed with %s on purpose", p->message.ptr);
}

static int ok_handler(st_req *req, const void *payload, void *result)
{
	(void)req, (void)payload, (void)result;
	return ST_OK;
}

static int sleep_handler(st_req *req, const void *payload, void *result)
{
	(void)req;
	const sleep_payload *p = payload;
	struct timespec ts = { p->ms / 1000, (long)(p->ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
	*(sleep_payload *)result = *p;
	return ST_OK;
}

static int validate_not_bad(st_req *req, const void *payload)
{
	const msg_payload *p = payload;
	if (!strcmp(p->message.ptr, "bad"))
		return st_invalid(req, "payload.message", "must not be 'bad'");
	return ST_OK;
}

static const char *const fail_errors[] = { "LEDGER_BUSY" };

#define MSG_CODECS .payload_size = sizeof(msg_payload), \
	.payload_decode_json = msg_decode, .payload_encode_json = msg_encode
#define EMPTY_CODECS .payload_size = sizeof(empty), .result_size = sizeof(empty), \
	.payload_decode_json = empty_decode, .payload_encode_json = empty_encode, \
	.result_encode_json = empty_encode

static const st_action actions[] = {
	{ .name = "boom", .service = "test", .duration_ms = 10, EMPTY_CODECS,
	  .handler = boom_handler },
	{ .name = "echo", .service = "test", .duration_ms = 10, MSG_CODECS,
	  .result_size = sizeof(echo_result), .result_encode_json = echo_result_encode,
	  .handler = echo_handler },
	{ .name = "fail", .service = "test", .duration_ms = 10,
	  .errors = fail_errors, .n_errors = 1,
	  .payload_size = sizeof(msg_payload), .payload_decode_json = code_decode,
	  .payload_encode_json = msg_encode, .result_size = sizeof(empty),
	  .result_encode_json = empty_encode, .handler = fail_handler },
	{ .name = "report", .service = "test", .duration_ms = 120000, EMPTY_CODECS,
	  .handler = ok_handler },
	{ .name = "secret", .service = "test", .duration_ms = 10,
	  .permission = "admin:read", EMPTY_CODECS, .handler = ok_handler },
	{ .name = "sleep", .service = "test", .duration_ms = 1000,
	  .payload_size = sizeof(sleep_payload), .payload_decode_json = sleep_decode,
	  .payload_encode_json = sleep_encode, .result_size = sizeof(sleep_payload),
	  .result_encode_json = sleep_encode, .handler = sleep_handler },
	/* sleep declared quick: the loop's thread may run it (server.c) */
	{ .name = "stall", .service = "test", .duration_ms = 10,
	  .payload_size = sizeof(sleep_payload), .payload_decode_json = sleep_decode,
	  .payload_encode_json = sleep_encode, .result_size = sizeof(sleep_payload),
	  .result_encode_json = sleep_encode, .handler = sleep_handler },
	{ .name = "validated", .service = "test", .duration_ms = 10, MSG_CODECS,
	  .result_size = sizeof(echo_result), .result_encode_json = echo_result_encode,
	  .handler = echo_handler, .validate = validate_not_bad },
};

static const st_error_def errors[] = {
	{ "LEDGER_BUSY", "The ledger is busy", true },
};

const st_registry st__test_registry = {
	.actions = actions,
	.n_actions = sizeof actions / sizeof actions[0],
	.errors = errors,
	.n_errors = 1,
};

/* Binary (FlatBuffers) frames against the real streamerd (idl/demo.stream):
 * ping, echo with a nested EchoResult read by the generated decoder, the
 * router's errors as binary ErrorInfo, corrupted envelopes (every
 * truncation, bit flips, garbage) answered or closed but never a crash,
 * the async `delay` (acknowledgment, progress, complete) all binary, then
 * status and list with RequestState data, JSON again on the same
 * connection, and async requests that keep their own format while the
 * client switches (a JSON ping after a binary delay, and back). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../runtime/envelope.h"
#include "demo.h"
#include "tap.h"
#include "wsclient.h"

static wsc c;
static st_arena *arena;

static bool str_is(st_str s, const char *want)
{
	return s.ptr && s.len == strlen(want) && !memcmp(s.ptr, want, s.len);
}

/* The envelope `env` as bytes (malloc'd). */
static uint8_t *build(const st__env *env, size_t *n)
{
	st_fbb b;
	const uint8_t *p;
	uint8_t *out = NULL;
	st_fbb_init(&b, 1 << 20);
	if (st__env_encode(&b, env, &p, n) == 0 && (out = malloc(*n)))
		memcpy(out, p, *n);
	st_fbb_fini(&b);
	return out;
}

/* An echo request: id, message; the payload an EchoPayload buffer. */
static uint8_t *echo_request(const char *id, const char *message, size_t *n)
{
	st_fbb pb;
	const uint8_t *pp;
	size_t pn;
	st_fbb_init(&pb, 1 << 16);
	demo_echo_payload pl = { .message = { message, strlen(message) } };
	st_fbref root = demo_echo_payload_encode_fb(&pb, &pl);
	st_fbb_finish(&pb, root, NULL, &pp, &pn);
	st__env env = { .type = ST__ENV_REQUEST, .id = { id, strlen(id) },
			.action = ST_STR("echo"), .has_payload = true,
			.payload = { pp, pn },
			.metadata = ST_STR("{\"trace_id\":\"bin-1\"}") };
	uint8_t *out = build(&env, n);
	st_fbb_fini(&pb);
	return out;
}

/* Receives the next message: must be binary and an Envelope; decoded into
 * *env (pointing into *raw, which the caller frees). 0 or -1. */
static int recv_env(st__env *env, char **raw, int timeout_ms)
{
	size_t len;
	*raw = NULL;
	int op = wsc_recv(&c, timeout_ms, raw, &len);
	if (op != WS_BIN) {
		diag("expected a binary frame, got opcode %d: %.200s", op,
		     op == WS_TEXT && *raw ? *raw : "");
		free(*raw);
		*raw = NULL;
		return -1;
	}
	st_verr e;
	st_verr_init(&e);
	if (st__env_decode((const uint8_t *)*raw, len, arena, env, &e) < 0) {
		diag("not an Envelope: %s %s", e.msg, st_verr_path(&e));
		return -1;
	}
	return 0;
}

/* Sends `p`; expects a binary error with `code` (and `field`). */
static void expect_error(const void *p, size_t n, const char *code,
			 const char *field, const char *name)
{
	st__env env;
	char *raw = NULL;
	bool good = wsc_send_frame(&c, WS_BIN, true, p, n) == 0 &&
		    recv_env(&env, &raw, 5000) == 0 && env.type == ST__ENV_ERROR &&
		    env.error && str_is(env.error->code, code) && env.error->message.ptr &&
		    (!field || str_is(env.error->field, field));
	ok(good, "%s: binary %s%s%s", name, code, field ? " field " : "", field ? field : "");
	if (!good && env.error)
		diag("got %s / %s / %s", env.error->code.ptr ? env.error->code.ptr : "",
		     env.error->message.ptr ? env.error->message.ptr : "",
		     env.error->field.ptr ? env.error->field.ptr : "");
	free(raw);
}

/* The server is still answering (binary ping). */
static bool alive(void)
{
	st__env ping = { .type = ST__ENV_PING }, env;
	size_t n;
	uint8_t *p = build(&ping, &n);
	char *raw = NULL;
	bool good = p && wsc_send_frame(&c, WS_BIN, true, p, n) == 0 &&
		    recv_env(&env, &raw, 5000) == 0 && env.type == ST__ENV_PONG;
	free(p);
	free(raw);
	return good;
}

/* What came back on `c` for async request `id` (its client id) sent in
 * FlatBuffers (`binary`) or JSON, followed by a ping in the other format:
 * until its complete, the request's events in its format, the pongs in
 * the other, and anything else. */
typedef struct mixed {
	int events, pongs, strays;
	bool done;
} mixed;

static mixed mixed_round(const char *id, bool binary)
{
	mixed m = { 0, 0, 0, false };
	char quoted[32];
	snprintf(quoted, sizeof quoted, "\"%s\"", id);
	for (int i = 0; i < 20 && !m.done; i++) {
		size_t len;
		char *r = NULL;
		int op = wsc_recv(&c, 10000, &r, &len);
		st__env a;
		st_verr e;
		st_verr_init(&e);
		bool env = op == WS_BIN &&
			   st__env_decode((const uint8_t *)r, len, arena, &a, &e) == 0;
		if (binary ? env && str_is(a.id, id) && a.type != ST__ENV_ERROR
			   : op == WS_TEXT && strstr(r, quoted) && !strstr(r, "\"error\"")) {
			m.events++;
			m.done = binary ? a.type == ST__ENV_COMPLETE : strstr(r, "\"complete\"") != NULL;
		} else if (binary ? op == WS_TEXT && strstr(r, "\"pong\"")
				  : env && a.type == ST__ENV_PONG) {
			m.pongs++;
		} else {
			m.strays++;
			if (op != WS_TEXT && op != WS_BIN)
				i = 20;
		}
		free(r);
	}
	return m;
}

static int connect_as(int port, const char *tok)
{
	char target[4096];
	snprintf(target, sizeof target, "/?Authorization=Bearer%%20%s", tok);
	return wsc_connect(&c, port, target, NULL, 0);
}

int main(void)
{
	const char *build_dir = getenv("ST_BUILD") ? getenv("ST_BUILD") : "build";
	if (!getenv("ST_TMP") || !getenv("DATABASE_URL"))
		skip_all("needs ST_TMP and DATABASE_URL (run under make test)");
	arena = st_arena_create(1 << 24);
	char bin[512];
	snprintf(bin, sizeof bin, "%s/streamerd", build_dir);
	const char *senv[] = { "JWT_SECRET=bin-secret", "LOG_LEVEL=debug",
			       "STREAMER_RATE_LIMIT=100000",
			       "STREAMER_RATE_BURST=100000", "STREAMER_STATIC=", NULL };
	tsrv s;
	if (tsrv_start(&s, bin, senv) < 0)
		BAIL_OUT("streamerd did not start");
	char *tok = sh_line("%s/streamer-cli token --alg HS256 --secret bin-secret --sub u1 --tenant t1",
			    build_dir);
	if (!tok || connect_as(s.port, tok) != 101)
		BAIL_OUT("cannot connect");

	ok(alive(), "a binary ping is answered by a binary pong");

	/* echo */
	size_t n;
	uint8_t *req = echo_request("b-1", "h\xc3\xa9llo", &n);
	st__env env;
	char *raw = NULL;
	int64_t t0 = st_now();
	ok(wsc_send_frame(&c, WS_BIN, true, req, n) == 0 && recv_env(&env, &raw, 5000) == 0,
	   "a binary echo request gets a binary answer");
	ok(env.type == ST__ENV_RESPONSE && env.success, "  a successful response");
	ok(str_is(env.id, "b-1"), "  the client's id echoed");
	ok(env.request_id.ptr && env.request_id.len == 36, "  a request_id (%s)",
	   env.request_id.ptr ? env.request_id.ptr : "none");
	st_fbr rt;
	st_verr e;
	st_verr_init(&e);
	demo_echo_result res = { 0 };
	bool dec = env.has_payload &&
		   st_fbr_root(env.payload.ptr, env.payload.len, NULL, &rt, &e) == 0 &&
		   demo_echo_result_decode_fb(&rt, &res, arena, &e) == 0;
	ok(dec, "  payload is an EchoResult the generated decoder reads (%s)", e.msg);
	ok(dec && str_is(res.message, "h\xc3\xa9llo"), "  with the message");
	ok(dec && res.echoed_at >= t0 - 1000 && res.echoed_at <= st_now() + 1000,
	   "  and echoed_at (%lld)", (long long)res.echoed_at);
	free(raw);
	free(req);

	/* errors */
	req = echo_request("b-2", "", &n);
	expect_error(req, n, "VALIDATION_ERROR", "payload.message", "an empty message");
	free(req);
	{
		st__env r = { .action = ST_STR("nope"), .id = ST_STR("b-3") };
		req = build(&r, &n);
		expect_error(req, n, "INVALID_ACTION", "action", "an unknown action");
		free(req);
		st__env r2 = { .id = ST_STR("b-4") };
		req = build(&r2, &n);
		expect_error(req, n, "VALIDATION_ERROR", "action", "no action");
		free(req);
		st__env r3 = { .type = (st__env_type)77 };
		req = build(&r3, &n);
		expect_error(req, n, "VALIDATION_ERROR", "type", "an unknown type");
		free(req);
		st__env r4 = { .type = ST__ENV_RESPONSE };
		req = build(&r4, &n);
		expect_error(req, n, "VALIDATION_ERROR", "type", "a server-only type");
		free(req);
		static const uint8_t junk[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
		st__env r5 = { .action = ST_STR("echo"), .has_payload = true,
			       .payload = { junk, sizeof junk } };
		req = build(&r5, &n);
		expect_error(req, n, "VALIDATION_ERROR", NULL, "a payload that is not a FlatBuffer");
		free(req);
		st__env r6 = { .action = ST_STR("echo") };
		req = build(&r6, &n);
		expect_error(req, n, "VALIDATION_ERROR", "payload.message", "no payload (message required)");
		free(req);
		st__env r7 = { .action = ST_STR("echo"), .metadata = ST_STR("[1]") };
		req = build(&r7, &n);
		expect_error(req, n, "VALIDATION_ERROR", "metadata", "metadata that is not a JSON object");
		free(req);
	}
	expect_error("hello, world", 12, "VALIDATION_ERROR", NULL, "a binary frame that is not an Envelope");
	expect_error("", 0, "VALIDATION_ERROR", NULL, "an empty binary frame");
	{
		/* right size, wrong identifier */
		req = echo_request("b-5", "x", &n);
		memcpy(req + 4, "JUNK", 4);
		expect_error(req, n, "VALIDATION_ERROR", NULL, "a wrong file identifier");
		free(req);
	}

	/* Corruption: every truncation, then bit flips over the whole
	 * envelope. Each gets exactly one answer (an error or, for the
	 * harmless ones, a response), or a close; the server stays up. */
	req = echo_request("b-6", "corrupt me", &n);
	int answered = 0, errors = 0, closed = 0, sent = 0;
	for (size_t len = 0; len < n && !c.closed; len++) {
		st__env a;
		char *r = NULL;
		sent++;
		if (wsc_send_frame(&c, WS_BIN, true, req, len) < 0)
			break;
		if (recv_env(&a, &r, 5000) == 0) {
			answered++;
			errors += a.type == ST__ENV_ERROR;
		}
		free(r);
		st_arena_reset(arena);
	}
	ok(answered == sent && errors == sent, "every truncation (%d) is answered by a binary error (%d)",
	   sent, errors);
	int flips = 0;
	answered = 0;
	for (size_t bit = 0; bit < n * 8 && !c.closed; bit += 3) {
		uint8_t *m = malloc(n);
		memcpy(m, req, n);
		m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		st__env a;
		char *r = NULL;
		flips++;
		if (wsc_send_frame(&c, WS_BIN, true, m, n) == 0 && recv_env(&a, &r, 5000) == 0 &&
		    (a.type == ST__ENV_ERROR || a.type == ST__ENV_RESPONSE ||
		     a.type == ST__ENV_PONG || a.type == ST__ENV_ACK))
			answered++;
		free(r);
		free(m);
		st_arena_reset(arena);
	}
	if (c.closed) {
		closed = 1;
		wsc_close(&c);
		connect_as(s.port, tok);
	}
	ok(answered + closed >= flips, "%d bit flips: each answered in binary (%d) or the connection closed (%d)",
	   flips, answered, closed);
	free(req);
	ok(alive(), "the server still answers after the corrupted frames");

	/* async delay, all binary */
	st_fbb pb;
	const uint8_t *pp;
	size_t pn;
	st_fbb_init(&pb, 1 << 16);
	demo_delay_payload dp = { .ms = 300, .steps = 3 };
	st_fbb_finish(&pb, demo_delay_payload_encode_fb(&pb, &dp), NULL, &pp, &pn);
	st__env dreq = { .id = ST_STR("d-1"), .action = ST_STR("delay"), .has_payload = true,
			 .payload = { pp, pn } };
	req = build(&dreq, &n);
	st_fbb_fini(&pb);
	ok(wsc_send_frame(&c, WS_BIN, true, req, n) == 0, "a binary delay request is sent");
	free(req);
	int acks = 0, progress = 0, completes = 0, others = 0, texts = 0;
	double last_pct = -1;
	bool pct_ok = true, order_ok = true;
	int64_t slept = -1;
	char rid[64] = "";
	for (int i = 0; i < 20 && !completes; i++) {
		size_t len;
		char *r = NULL;
		int op = wsc_recv(&c, 10000, &r, &len);
		if (op == WS_TEXT)
			texts++;
		if (op != WS_BIN) {
			free(r);
			if (op != WS_TEXT)
				break;
			continue;
		}
		st__env a;
		st_verr_init(&e);
		if (st__env_decode((const uint8_t *)r, len, arena, &a, &e) < 0) {
			others++;
		} else if (a.type == ST__ENV_ACK) {
			acks++;
			order_ok = order_ok && progress == 0;
			if (a.request_id.ptr)
				snprintf(rid, sizeof rid, "%s", a.request_id.ptr);
			if (!str_is(a.id, "d-1") || !str_is(a.status, "queued") ||
			    a.estimated_duration_ms <= 0)
				others++;
		} else if (a.type == ST__ENV_PROGRESS) {
			progress++;
			pct_ok = pct_ok && a.percentage >= last_pct && a.percentage <= 100 &&
				 a.message.ptr && a.timestamp > 0;
			last_pct = a.percentage;
		} else if (a.type == ST__ENV_COMPLETE) {
			completes++;
			st_fbr t;
			demo_delay_result dr = { 0 };
			if (a.success && a.has_payload &&
			    st_fbr_root(a.payload.ptr, a.payload.len, NULL, &t, &e) == 0 &&
			    demo_delay_result_decode_fb(&t, &dr, arena, &e) == 0)
				slept = dr.slept_ms;
		} else {
			others++;
			if (a.error)
				diag("unexpected: %s %s", a.error->code.ptr ? a.error->code.ptr : "",
				     a.error->message.ptr ? a.error->message.ptr : "");
		}
		free(r);
	}
	is_int(acks, 1, "delay: one binary acknowledgment (queued, estimated_duration_ms)");
	ok(progress >= 1 && pct_ok, "delay: binary progress (%d), percentages never decrease", progress);
	ok(order_ok, "delay: the acknowledgment comes before any progress");
	is_int(completes, 1, "delay: one binary complete");
	is_int(slept, 300, "delay: complete's payload is a DelayResult (slept_ms)");
	is_int(others + texts, 0, "delay: nothing else, and no text frame");

	/* status and list, binary */
	{
		st__env q = { .type = ST__ENV_STATUS, .id = ST_STR("s-1"),
			      .request_id = { rid, strlen(rid) } }, a;
		req = build(&q, &n);
		ok(wsc_send_frame(&c, WS_BIN, true, req, n) == 0 && recv_env(&a, &raw, 5000) == 0 &&
		   a.type == ST__ENV_STATUS && str_is(a.id, "s-1") && str_is(a.request_id, rid),
		   "status in binary answers a binary status");
		const st__env_state *st = a.n_data == 1 ? &a.data[0] : NULL;
		st_fbr t;
		demo_delay_result dr = { 0 };
		ok(st && str_is(st->status, "completed") && st->percentage == 100 &&
		   st->attempts == 1 && st->created_at > 0 && str_is(st->action, "delay"),
		   "  data[0] is the RequestState (completed, 100, 1 attempt)");
		ok(st && st->has_result &&
		   st_fbr_root(st->result.ptr, st->result.len, NULL, &t, &e) == 0 &&
		   demo_delay_result_decode_fb(&t, &dr, arena, &e) == 0 && dr.slept_ms == 300,
		   "  its result a nested DelayResult");
		free(raw);
		free(req);
		st__env l = { .type = ST__ENV_LIST }, la;
		req = build(&l, &n);
		bool found = false;
		ok(wsc_send_frame(&c, WS_BIN, true, req, n) == 0 && recv_env(&la, &raw, 5000) == 0 &&
		   la.type == ST__ENV_LIST && la.has_data, "list in binary answers a binary list");
		for (size_t i = 0; i < la.n_data; i++)
			found = found || (str_is(la.data[i].request_id, rid) && str_is(la.data[i].id, "d-1"));
		ok(found, "  holding the delay request with its id");
		free(raw);
		free(req);
		st__env nf = { .type = ST__ENV_STATUS,
			       .request_id = ST_STR("00000000-0000-4000-8000-000000000000") };
		req = build(&nf, &n);
		expect_error(req, n, "NOT_FOUND", NULL, "status of an unknown request");
		free(req);
	}

	/* JSON on the same connection is answered in JSON. */
	wsc_send_text(&c, "{\"action\":\"echo\",\"payload\":{\"message\":\"j\"}}");
	char *txt = wsc_recv_text(&c, 5000);
	ok(txt && strstr(txt, "\"response\""), "a JSON request on the same connection gets JSON");
	free(txt);

	/* Mixed: each async request's events keep its own format, whatever
	 * the client sends meanwhile; the ping between is answered in its. */
	{
		st_fbb_init(&pb, 1 << 16);
		demo_delay_payload dp2 = { .ms = 300, .steps = 3 };
		st_fbb_finish(&pb, demo_delay_payload_encode_fb(&pb, &dp2), NULL, &pp, &pn);
		st__env d2 = { .id = ST_STR("d-2"), .action = ST_STR("delay"),
			       .has_payload = true, .payload = { pp, pn } };
		req = build(&d2, &n);
		st_fbb_fini(&pb);
		wsc_send_frame(&c, WS_BIN, true, req, n);
		free(req);
		wsc_send_text(&c, "{\"type\":\"ping\",\"id\":\"jp\"}");
		mixed m = mixed_round("d-2", true);
		ok(m.done && m.events >= 3, "a binary delay after which the client sent JSON:"
		   " ack, progress and complete all binary (%d)", m.events);
		is_int(m.pongs, 1, "  the JSON ping sent meanwhile answered in JSON");
		is_int(m.strays, 0, "  nothing else");

		wsc_send_text(&c, "{\"type\":\"request\",\"id\":\"j-1\",\"action\":\"delay\","
			      "\"payload\":{\"ms\":300,\"steps\":3}}");
		st__env ping = { .type = ST__ENV_PING };
		req = build(&ping, &n);
		wsc_send_frame(&c, WS_BIN, true, req, n);
		free(req);
		m = mixed_round("j-1", false);
		ok(m.done && m.events >= 3, "a JSON delay after which the client sent binary:"
		   " ack, progress and complete all JSON (%d)", m.events);
		is_int(m.pongs, 1, "  the binary ping sent meanwhile answered in binary");
		is_int(m.strays, 0, "  nothing else");
	}
	/* Binary echoes one at a time, their jobs run by the loop's thread
	 * (server.c, run_inline). */
	int whole = 0;
	for (int i = 0; i < 50; i++) {
		char id[16];
		snprintf(id, sizeof id, "w-%d", i);
		req = echo_request(id, "one at a time", &n);
		raw = NULL;
		if (wsc_send_frame(&c, WS_BIN, true, req, n) == 0 &&
		    recv_env(&env, &raw, 5000) == 0 && env.type == ST__ENV_RESPONSE &&
		    str_is(env.id, id))
			whole++;
		free(req);
		free(raw);
	}
	is_int(whole, 50, "50 binary echoes one at a time, each answered whole");
	ok(tsrv_log_has(&s, "jobs run on the loop's thread"),
	   "  their jobs ran on the loop's thread (log)");
	wsc_close(&c);

	is_int(tsrv_stop(&s), 0, "streamerd stops cleanly");
	free(tok);
	st_arena_free(arena);
	done_testing();
}

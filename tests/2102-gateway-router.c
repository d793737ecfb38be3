/* The router over a real connection: ping, a sync answer, every error code
 * the router emits (with `field` where it applies), a slow handler that
 * does not stall other messages, and the counters in /metrics. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "wsclient.h"

static wsc c;

/* Sends `msg` and returns the next answer parsed (NULL on none). */
static json_t *ask(wsc *w, const char *msg)
{
	if (wsc_send_text(w, msg) < 0)
		return NULL;
	char *r = wsc_recv_text(w, 5000);
	if (!r)
		return NULL;
	json_t *j = json_loads(r, 0, NULL);
	if (!j)
		diag("not JSON: %s", r);
	free(r);
	return j;
}

static const char *str(json_t *j, const char *path)
{
	/* "a.b": nested objects */
	char buf[128];
	snprintf(buf, sizeof buf, "%s", path);
	json_t *v = j;
	for (char *tok = strtok(buf, "."); tok && v; tok = strtok(NULL, "."))
		v = json_object_get(v, tok);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The next message, parsed; NULL after `ms` without one. */
static json_t *next_json(wsc *w, int ms)
{
	char *r = wsc_recv_text(w, ms);
	json_t *j = r ? json_loads(r, 0, NULL) : NULL;
	free(r);
	return j;
}

/* A request `id` that takes 1.5 s was just sent: a ping and an echo sent
 * after it are answered first, then its own answer arrives. */
static void overtaken(const char *id, const char *what)
{
	json_t *j = ask(&c, "{\"type\":\"ping\"}");
	is(str(j, "type"), "pong", "a ping sent after %s is answered first", what);
	json_decref(j);
	j = ask(&c, "{\"action\":\"echo\",\"payload\":{\"message\":\"fast\"}}");
	is(str(j, "data.message"), "fast", "  and so is a quick request meanwhile");
	json_decref(j);
	j = next_json(&c, 5000);
	is(str(j, "id"), id, "  then the %s answer arrives", id);
	json_decref(j);
}

/* Sends msg; checks the answer is an error with `code` (and `field`). */
static void expect_error(const char *msg, const char *code, const char *field,
			 const char *name)
{
	json_t *j = ask(&c, msg);
	const char *got = str(j, "error.code");
	bool good = got && !strcmp(got, code) && str(j, "type") && !strcmp(str(j, "type"), "error");
	if (field)
		good = good && str(j, "error.field") && !strcmp(str(j, "error.field"), field);
	good = good && str(j, "error.message");
	ok(good, "%s: %s%s%s", name, code, field ? " field " : "", field ? field : "");
	if (!good) {
		char *d = j ? json_dumps(j, 0) : NULL;
		diag("got %s", d ? d : "(nothing)");
		free(d);
	}
	json_decref(j);
}

static bool is_uuid(const char *s)
{
	if (!s || strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
			return false;
	}
	return true;
}

static int connect_as(wsc *w, int port, const char *tok)
{
	char target[4096];
	snprintf(target, sizeof target, "/?Authorization=Bearer%%20%s", tok);
	return wsc_connect(w, port, target, NULL, 0);
}

int main(void)
{
	const char *build = getenv("ST_BUILD") ? getenv("ST_BUILD") : "build";
	if (!getenv("ST_TMP") || !getenv("DATABASE_URL"))
		skip_all("needs ST_TMP and DATABASE_URL (run under make test)");
	char srvbin[512];
	snprintf(srvbin, sizeof srvbin, "%s/tests/lib/fakesrv", build);
	const char *env[] = { "JWT_SECRET=router-secret", "STREAMER_SYNC_THREADS=2", NULL };
	tsrv s;
	if (tsrv_start(&s, srvbin, env) < 0)
		BAIL_OUT("the server did not start");
	char *tok = sh_line("%s/streamer-cli token --alg HS256 --secret router-secret --sub u1 --tenant t1 --perm reports:read", build);
	char *admin = sh_line("%s/streamer-cli token --alg HS256 --secret router-secret --sub u2 --tenant t1 --perm admin:read", build);
	if (!tok || !admin || connect_as(&c, s.port, tok) != 101)
		BAIL_OUT("cannot connect");

	json_t *j = ask(&c, "{\"type\":\"ping\"}");
	ok(j && str(j, "type") && !strcmp(str(j, "type"), "pong"), "ping is answered by pong");
	json_decref(j);

	j = ask(&c, "{\"type\":\"request\",\"id\":\"c-1\",\"action\":\"echo\","
		    "\"payload\":{\"message\":\"h\\u00e9llo \\\"w\\\"\"},\"metadata\":{\"trace_id\":\"tr-1\"}}");
	ok(j && !strcmp(str(j, "type") ? str(j, "type") : "", "response"), "echo answers a response");
	ok(j && json_is_true(json_object_get(j, "success")), "success is true");
	is(str(j, "id"), "c-1", "the client's id is echoed");
	ok(is_uuid(str(j, "request_id")), "request_id is a server-assigned UUID (%s)",
	   str(j, "request_id") ? str(j, "request_id") : "none");
	is(str(j, "data.message"), "h\xc3\xa9llo \"w\"", "data.message is the payload's, unescaped and re-escaped");
	ok(str(j, "data.echoed_at") && strlen(str(j, "data.echoed_at")) == 24,
	   "data.echoed_at is a timestamp (%s)", str(j, "data.echoed_at") ? str(j, "data.echoed_at") : "");
	json_decref(j);

	j = ask(&c, "{\"action\":\"echo\",\"payload\":{\"message\":\"no type\"}}");
	is(str(j, "type"), "response", "type defaults to request");
	json_decref(j);

	/* Envelope errors. */
	expect_error("not json", "VALIDATION_ERROR", NULL, "a body that is not JSON");
	expect_error("[1,2]", "VALIDATION_ERROR", NULL, "a JSON array");
	expect_error("{\"type\":\"request\",\"action\":\"echo\"", "VALIDATION_ERROR", NULL,
		     "truncated JSON");
	expect_error("{\"type\":\"bogus\"}", "VALIDATION_ERROR", "type", "unknown type");
	expect_error("{\"type\":\"request\"}", "VALIDATION_ERROR", "action", "missing action");
	{
		char big[512];
		snprintf(big, sizeof big, "{\"id\":\"%0129d\",\"action\":\"echo\"}", 0);
		expect_error(big, "VALIDATION_ERROR", "id", "an id of 129 bytes");
		snprintf(big, sizeof big, "{\"id\":\"%0128d\",\"action\":\"echo\",\"payload\":{\"message\":\"x\"}}", 0);
		j = ask(&c, big);
		is(str(j, "type"), "response", "an id of 128 bytes is fine");
		json_decref(j);
	}
	expect_error("{\"id\":7,\"action\":\"echo\"}", "VALIDATION_ERROR", "id", "an id that is not a string");
	j = ask(&c, "{\"id\":\"x\",\"action\":\"no_such\"}");
	is(str(j, "error.code"), "INVALID_ACTION", "an unknown action: INVALID_ACTION");
	ok(str(j, "error.message") && strstr(str(j, "error.message"), "no_such"),
	   "the message names the action (%s)", str(j, "error.message") ? str(j, "error.message") : "");
	is(str(j, "id"), "x", "errors carry the client's id");
	json_decref(j);

	/* Permission. */
	expect_error("{\"action\":\"secret\"}", "FORBIDDEN", NULL, "without the permission");
	{
		wsc a;
		ok(connect_as(&a, s.port, admin) == 101, "a second client with admin:read");
		j = ask(&a, "{\"action\":\"secret\",\"payload\":{}}");
		is(str(j, "type"), "response", "gets the answer");
		json_decref(j);
		wsc_close(&a);
	}

	/* Payload validation. */
	expect_error("{\"action\":\"echo\",\"payload\":{\"message\":\"\"}}", "VALIDATION_ERROR",
		     "payload.message", "an empty message");
	expect_error("{\"action\":\"echo\",\"payload\":{\"message\":5}}", "VALIDATION_ERROR",
		     "payload.message", "a number for a string");
	expect_error("{\"action\":\"echo\",\"payload\":{}}", "VALIDATION_ERROR",
		     "payload.message", "a missing field");
	expect_error("{\"action\":\"echo\"}", "VALIDATION_ERROR", "payload.message",
		     "no payload at all");
	expect_error("{\"action\":\"echo\",\"payload\":{\"message\":\"a\",\"extra\":1}}",
		     "VALIDATION_ERROR", "payload.extra", "an unknown field");
	expect_error("{\"action\":\"echo\",\"payload\":[]}", "VALIDATION_ERROR", "payload",
		     "a payload that is not an object");
	expect_error("{\"action\":\"validated\",\"payload\":{\"message\":\"bad\"}}",
		     "VALIDATION_ERROR", "payload.message", "the user's validator");
	j = ask(&c, "{\"action\":\"validated\",\"payload\":{\"message\":\"good\"}}");
	is(str(j, "type"), "response", "which passes good payloads");
	json_decref(j);

	/* Handler errors. */
	j = ask(&c, "{\"action\":\"fail\",\"payload\":{\"code\":\"LEDGER_BUSY\"}}");
	is(str(j, "error.code"), "LEDGER_BUSY", "a declared service code reaches the client");
	is(str(j, "error.message"), "failed with LEDGER_BUSY on purpose", "with the handler's message");
	json_decref(j);
	expect_error("{\"action\":\"fail\",\"payload\":{\"code\":\"NOT_FOUND\"}}", "NOT_FOUND",
		     NULL, "a built-in code");
	expect_error("{\"action\":\"fail\",\"payload\":{\"code\":\"REPORT_TOO_LARGE\"}}",
		     "INTERNAL_ERROR", NULL, "a code the action does not declare");
	expect_error("{\"action\":\"boom\",\"payload\":{}}", "INTERNAL_ERROR", NULL,
		     "an undeclared code");
	ok(tsrv_log_has(&s, "undeclared error code"), "is logged");
	ok(tsrv_log_has(&s, "NOT_DECLARED_ANYWHERE"), "with the code the handler used");

	/* Async: validated here, queued by the engine, acknowledged, run by a
	 * worker through the runner of req.c, completed. */
	j = ask(&c, "{\"id\":\"r-1\",\"action\":\"report\",\"payload\":{}}");
	is(str(j, "type"), "acknowledgment", "an async action is acknowledged");
	is(str(j, "id"), "r-1", "with the client's id");
	char *rid = str(j, "request_id") ? strdup(str(j, "request_id")) : NULL;
	ok(is_uuid(rid), "and its request_id");
	json_decref(j);
	char *r = wsc_recv_text(&c, 10000);
	j = r ? json_loads(r, 0, NULL) : NULL;
	is(str(j, "type"), "complete", "then it completes");
	is(str(j, "request_id"), rid, "same request_id");
	json_decref(j);
	free(r);
	j = ask(&c, "{\"type\":\"list\"}");
	is(str(j, "type"), "list", "list answers");
	json_t *first = json_array_get(json_object_get(j, "data"), 0);
	is(str(first, "request_id"), rid, "with the request");
	json_decref(j);
	char sq[200];
	snprintf(sq, sizeof sq, "{\"type\":\"status\",\"request_id\":\"%s\"}", rid ? rid : "");
	j = ask(&c, sq);
	is(str(j, "data.status"), "completed", "status says completed");
	json_decref(j);
	free(rid);
	expect_error("{\"type\":\"status\"}", "VALIDATION_ERROR", "request_id",
		     "status without request_id");
	expect_error("{\"type\":\"status\",\"request_id\":\"00000000-0000-4000-8000-000000000000\"}",
		     "NOT_FOUND", NULL, "status of an unknown request");

	/* A slow handler runs on the pool: the loop keeps answering. */
	wsc_send_text(&c, "{\"id\":\"slow\",\"action\":\"sleep\",\"payload\":{\"ms\":1500}}");
	overtaken("slow", "a slow request");
	ok(http_metric(s.port, "streamer_loop_takeovers_total") == 0,
	   "an action declared slow ran on a worker: the loop was never taken over");

	/* One declared quick (10ms) that runs late: the loop's thread runs
	 * it, and the standby thread takes the loop over (server.c,
	 * run_inline), so the loop still answers at once. */
	wsc_send_text(&c, "{\"id\":\"before\",\"action\":\"echo\",\"payload\":{\"message\":\"b\"}}");
	wsc_send_text(&c, "{\"id\":\"stall\",\"action\":\"stall\",\"payload\":{\"ms\":1500}}");
	j = next_json(&c, 1000);
	is(str(j, "id"), "before", "a quick request just before it is answered at once"
	   " (not held for the late one's turn)");
	json_decref(j);
	overtaken("stall", "a late quick request");
	ok(http_metric(s.port, "streamer_loop_takeovers_total") >= 1,
	   "  the standby took the loop over (streamer_loop_takeovers_total)");
	j = ask(&c, "{\"action\":\"echo\",\"payload\":{\"message\":\"after\"}}");
	is(str(j, "data.message"), "after", "  and requests are answered after it");
	json_decref(j);

	/* Fragmented message: reassembled. */
	const char *m = "{\"action\":\"echo\",\"payload\":{\"message\":\"in pieces\"}}";
	wsc_send_frame(&c, WS_TEXT, false, m, 10);
	wsc_send_frame(&c, WS_CONT, false, m + 10, 20);
	wsc_send_frame(&c, WS_CONT, true, m + 30, strlen(m) - 30);
	r = wsc_recv_text(&c, 5000);
	j = r ? json_loads(r, 0, NULL) : NULL;
	is(str(j, "data.message"), "in pieces", "a fragmented message is reassembled");
	json_decref(j);
	free(r);

	/* UTF-8 (RFC 6455; checked by the server itself, not by lws). Valid
	 * multibyte text, in one frame and with a character split between
	 * fragments, is echoed intact. */
	const char *mb = "{\"action\":\"echo\",\"payload\":{\"message\":"
			 "\"h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80\"}}";
	size_t cut = strstr(mb, "\xe2") - mb + 1; /* inside the check mark */
	for (int k = 0; k < 2; k++) {
		if (k == 0) {
			wsc_send_text(&c, mb);
		} else {
			wsc_send_frame(&c, WS_TEXT, false, mb, cut);
			wsc_send_frame(&c, WS_CONT, true, mb + cut, strlen(mb) - cut);
		}
		r = wsc_recv_text(&c, 5000);
		j = r ? json_loads(r, 0, NULL) : NULL;
		is(str(j, "data.message"), "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80", "%s",
		   k == 0 ? "multibyte UTF-8 is accepted and echoed intact"
			  : "a character split between two fragments is accepted");
		json_decref(j);
		free(r);
	}

	/* Invalid UTF-8 in a text frame: 1007. */
	wsc_send_frame(&c, WS_TEXT, true, "{\"a\":\"\xff\"}", 9);
	is_int(wsc_wait_close(&c, 5000), 1007, "invalid UTF-8 closes with 1007");
	wsc_close(&c);
	static const struct { const char *text, *what; } bad[] = {
		{ "{\"message\":\"0123456789abcdef\xc0\xaf\"}", "an overlong encoding after 16 ASCII bytes" },
		{ "{\"m\":\"\xed\xa0\x80\"}", "an encoded surrogate" },
		{ "{\"m\":\"\xe2\x9c\"}", "a truncated character" },
		{ "{\"m\":\"\xf4\x90\x80\x80\"}", "a code point above U+10FFFF" },
	};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		wsc w;
		if (connect_as(&w, s.port, tok) != 101) {
			ok(0, "reconnect for %s", bad[k].what);
			continue;
		}
		wsc_send_text(&w, bad[k].text);
		is_int(wsc_wait_close(&w, 5000), 1007, "%s closes with 1007", bad[k].what);
		wsc_close(&w);
	}

	char *body;
	is_int(http_get(s.port, "/metrics", &body), 200, "/metrics answers");
	ok(body && strstr(body, "streamer_requests_total{action=\"echo\",status=\"ok\"} "),
	   "requests by action and status");
	ok(body && strstr(body, "streamer_requests_total{action=\"fail\",status=\"LEDGER_BUSY\"} 1"),
	   "service codes too");
	ok(body && strstr(body, "streamer_requests_total{action=\"_unknown\",status=\"INVALID_ACTION\"} 1"),
	   "unknown actions under one label");
	ok(body && strstr(body, "streamer_messages_in_total{type=\"ping\"} 3"), "messages in by type");
	ok(body && strstr(body, "streamer_messages_out_total{type=\"pong\"} 3"), "messages out by type");
	ok(body && strstr(body, "streamer_handler_duration_seconds_bucket{action=\"sleep\",le=\"2.5\"} 1"),
	   "handler latency histogram");
	free(body);
	is_int(tsrv_stop(&s), 0, "stops cleanly");
	free(tok);
	free(admin);
	return done_testing();
}

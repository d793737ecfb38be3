/* The binary frame's Envelope (runtime/envelope.c) against flatc 2.0.8 and
 * gen/streamer.fbs: what we build, flatc reads back field by field; what
 * flatc builds from JSON, we read; our own round trip; and every
 * truncation and single-bit flip of an envelope is read without reading
 * outside it (run under SAN=1 for the proof). */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../runtime/envelope.h"
#include "files.h"
#include "tap.h"

static char dir[512], fbs[512];

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static bool str_is(st_str s, const char *want)
{
	return s.ptr && s.len == strlen(want) && !memcmp(s.ptr, want, s.len);
}

/* A small nested buffer: a table with one string (like an EchoResult). */
static const uint8_t nested[] = { 1, 2, 3, 250, 0, 7 };

static void ours_to_flatc(void)
{
	st__env_error err = { .code = ST_STR("RATE_LIMITED"), .message = ST_STR("slow down"),
			      .field = ST_STR("payload.x"), .has_retry_after_ms = true,
			      .retry_after_ms = 0 };
	st__env_error serr = { .code = ST_STR("TIMEOUT"), .message = ST_STR("late") };
	st__env_state st[2] = {
		{ .request_id = ST_STR("r-1"), .action = ST_STR("delay"),
		  .status = ST_STR("completed"), .percentage = 100, .message = ST_STR("done"),
		  .attempts = 1, .created_at = 1764150000123LL, .has_result = true,
		  .result = { nested, sizeof nested }, .id = ST_STR("c-1") },
		{ .request_id = ST_STR("r-2"), .action = ST_STR("delay"),
		  .status = ST_STR("failed"), .percentage = 42.5, .attempts = 2,
		  .error = &serr },
	};
	st__env env = {
		.type = ST__ENV_LIST, .id = ST_STR("h\xc3\xa9"), .request_id = ST_STR("rid"),
		.action = ST_STR("echo"), .message = ST_STR("m"), .status = ST_STR("queued"),
		.metadata = ST_STR("{\"trace_id\":\"t\"}"), .has_payload = true,
		.payload = { nested, sizeof nested }, .percentage = 12.25,
		.timestamp = -5, .success = true, .estimated_duration_ms = 9007199254740993LL,
		.error = &err, .has_data = true, .data = st, .n_data = 2,
	};
	st_fbb b;
	st_fbb_init(&b, 1 << 20);
	const uint8_t *p;
	size_t n;
	if (!ok(st__env_encode(&b, &env, &p, &n) == 0, "our encoder builds a full envelope")) {
		st_fbb_fini(&b);
		return;
	}
	char bin[600], out[600];
	snprintf(bin, sizeof bin, "%s/ours.bin", dir);
	file_write(bin, p, n);

	/* our reader, first */
	st_arena *a = st_arena_create(1 << 20);
	st__env d;
	st_verr e;
	st_verr_init(&e);
	int r = st__env_decode(p, n, a, &d, &e);
	ok(r == 0, "our reader reads it back (%s %s)", e.msg, st_verr_path(&e));
	ok(r == 0 && d.type == ST__ENV_LIST && str_is(d.id, "h\xc3\xa9") &&
	   str_is(d.metadata, "{\"trace_id\":\"t\"}") && d.payload.len == sizeof nested &&
	   !memcmp(d.payload.ptr, nested, sizeof nested) && d.percentage == 12.25 &&
	   d.timestamp == -5 && d.success && d.estimated_duration_ms == 9007199254740993LL &&
	   d.error && str_is(d.error->field, "payload.x") && d.error->has_retry_after_ms &&
	   d.error->retry_after_ms == 0 && d.n_data == 2 && str_is(d.data[0].id, "c-1") &&
	   d.data[0].has_result && d.data[1].error && str_is(d.data[1].error->code, "TIMEOUT") &&
	   d.data[1].percentage == 42.5 && !d.data[1].has_result,
	   "  every field round-trips");
	st_arena_free(a);

	ok(sh("flatc --json --strict-json --raw-binary -o %s %s -- %s 2>/dev/null", dir, fbs, bin) == 0,
	   "flatc --json reads our envelope");
	snprintf(out, sizeof out, "%s/ours.json", dir);
	json_t *j = json_load_file(out, 0, NULL);
	json_t *jerr = json_object_get(j, "error");
	json_t *data = json_object_get(j, "data");
	json_t *d0 = json_array_get(data, 0), *d1 = json_array_get(data, 1);
	json_t *pl = json_object_get(j, "payload");
	is(jstr(j, "type"), "list", "  type (enum by name)");
	is(jstr(j, "id"), "h\xc3\xa9", "  id");
	is(jstr(j, "request_id"), "rid", "  request_id");
	is(jstr(j, "action"), "echo", "  action");
	is(jstr(j, "message"), "m", "  message");
	is(jstr(j, "status"), "queued", "  status");
	is(jstr(j, "metadata"), "{\"trace_id\":\"t\"}", "  metadata");
	ok(json_array_size(pl) == sizeof nested &&
	   json_integer_value(json_array_get(pl, 3)) == 250, "  payload bytes");
	ok(json_real_value(json_object_get(j, "percentage")) == 12.25, "  percentage");
	ok(json_integer_value(json_object_get(j, "timestamp")) == -5, "  timestamp");
	ok(json_is_true(json_object_get(j, "success")), "  success");
	ok(json_integer_value(json_object_get(j, "estimated_duration_ms")) == 9007199254740993LL,
	   "  estimated_duration_ms (all 64 bits)");
	is(jstr(jerr, "code"), "RATE_LIMITED", "  error.code");
	is(jstr(jerr, "field"), "payload.x", "  error.field");
	ok(json_is_integer(json_object_get(jerr, "retry_after_ms")) &&
	   json_integer_value(json_object_get(jerr, "retry_after_ms")) == 0,
	   "  error.retry_after_ms present although 0 (= null default)");
	ok(json_array_size(data) == 2, "  data has 2 RequestState");
	is(jstr(d0, "request_id"), "r-1", "  data[0].request_id");
	is(jstr(d0, "id"), "c-1", "  data[0].id");
	ok(json_integer_value(json_object_get(d0, "attempts")) == 1 &&
	   json_integer_value(json_object_get(d0, "created_at")) == 1764150000123LL &&
	   json_array_size(json_object_get(d0, "result")) == sizeof nested,
	   "  data[0] attempts, created_at, result");
	ok(json_real_value(json_object_get(d1, "percentage")) == 42.5 &&
	   !strcmp(jstr(json_object_get(d1, "error"), "code") ? jstr(json_object_get(d1, "error"), "code") : "", "TIMEOUT"),
	   "  data[1] percentage and error");
	if (!j)
		diag("flatc wrote no JSON");
	json_decref(j);
	st_fbb_fini(&b);
}

static void flatc_to_ours(void)
{
	char js[600], bin[600];
	snprintf(js, sizeof js, "%s/theirs.json", dir);
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:[i,i,i], s:s, s:f, s:b, s:I,"
			      " s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:i}]}",
			      "type", "progress", "id", "c-9", "request_id", "r-9",
			      "action", "delay", "payload", 9, 8, 7, "message", "half",
			      "percentage", 50.5, "success", 1, "timestamp", (json_int_t)1764150000000LL,
			      "error", "code", "NOT_FOUND", "message", "gone", "retry_after_ms",
			      (json_int_t)1500, "data", "request_id", "r-10", "status", "running",
			      "attempts", 3);
	json_dump_file(j, js, 0);
	json_decref(j);
	ok(sh("flatc -b -o %s %s %s 2>/dev/null", dir, fbs, js) == 0, "flatc -b builds an envelope from JSON");
	snprintf(bin, sizeof bin, "%s/theirs.bin", dir);
	size_t n = 0;
	uint8_t *p = file_read(bin, &n);
	st_arena *a = st_arena_create(1 << 20);
	st__env d;
	st_verr e;
	st_verr_init(&e);
	int r = p ? st__env_decode(p, n, a, &d, &e) : -1;
	ok(r == 0, "our reader reads flatc's envelope (%s)", e.msg);
	ok(r == 0 && d.type == ST__ENV_PROGRESS && str_is(d.id, "c-9") &&
	   str_is(d.request_id, "r-9") && str_is(d.action, "delay") &&
	   d.has_payload && d.payload.len == 3 && d.payload.ptr[2] == 7 &&
	   str_is(d.message, "half") && d.percentage == 50.5 && d.success &&
	   d.timestamp == 1764150000000LL, "  scalars, strings and payload");
	ok(r == 0 && d.error && str_is(d.error->code, "NOT_FOUND") &&
	   d.error->has_retry_after_ms && d.error->retry_after_ms == 1500 &&
	   !d.error->field.ptr, "  the ErrorInfo table");
	ok(r == 0 && d.n_data == 1 && str_is(d.data[0].request_id, "r-10") &&
	   str_is(d.data[0].status, "running") && d.data[0].attempts == 3 &&
	   !d.data[0].error, "  the RequestState vector");

	/* A request with nothing but an action: the type is the default. */
	file_write(js, "{\"action\":\"echo\"}", 17);
	sh("flatc -b -o %s %s %s 2>/dev/null", dir, fbs, js);
	free(p);
	p = file_read(bin, &n);
	r = p ? st__env_decode(p, n, a, &d, &e) : -1;
	ok(r == 0 && d.type == ST__ENV_REQUEST && str_is(d.action, "echo") && !d.id.ptr &&
	   !d.has_payload && !d.error && !d.has_data, "an absent type reads as request, absent fields as absent");
	free(p);
	st_arena_free(a);
}

/* Every truncation and every single-bit flip: read or refused, never a
 * read outside the buffer (each mutant lives in a malloc of its own size,
 * so ASan sees any overrun). */
static void corruption(void)
{
	st__env_error err = { .code = ST_STR("X"), .message = ST_STR("y") };
	st__env_state st = { .request_id = ST_STR("r"), .has_result = true,
			     .result = { nested, sizeof nested }, .error = &err };
	st__env env = { .type = ST__ENV_STATUS, .id = ST_STR("id"), .action = ST_STR("a"),
			.has_payload = true, .payload = { nested, sizeof nested },
			.percentage = 1, .error = &err, .has_data = true, .data = &st,
			.n_data = 1 };
	st_fbb b;
	st_fbb_init(&b, 1 << 16);
	const uint8_t *p;
	size_t n;
	st__env_encode(&b, &env, &p, &n);
	st_arena *a = st_arena_create(1 << 20);
	int refused = 0, read = 0;
	for (size_t len = 0; len < n; len++) {
		uint8_t *m = malloc(len ? len : 1);
		memcpy(m, p, len);
		st__env d;
		st_verr e;
		st_verr_init(&e);
		if (st__env_decode(m, len, a, &d, &e) < 0)
			refused++;
		free(m);
		st_arena_reset(a);
	}
	/* Only the builder's trailing padding may go unnoticed. */
	ok(refused >= (int)n - 7, "every truncation (%zu) is read or refused (%d refused)",
	   n, refused);
	refused = 0;
	for (size_t bit = 0; bit < n * 8; bit++) {
		uint8_t *m = malloc(n);
		memcpy(m, p, n);
		m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		st__env d;
		st_verr e;
		st_verr_init(&e);
		if (st__env_decode(m, n, a, &d, &e) < 0)
			refused++;
		else
			read++;
		free(m);
		st_arena_reset(a);
	}
	ok(read > 0 && refused > 0, "every bit flip (%zu) is read or refused (%d read)", n * 8, read);
	st_arena_free(a);
	st_fbb_fini(&b);
}

int main(void)
{
	const char *tmp = getenv("ST_TMP") ? getenv("ST_TMP") : "/tmp";
	snprintf(dir, sizeof dir, "%s/envelope.%d", tmp, (int)getpid());
	snprintf(fbs, sizeof fbs, "gen/streamer.fbs");
	if (sh("mkdir -p %s", dir) != 0)
		BAIL_OUT("no temporary folder");
	bool have_flatc = sh("flatc --version >/dev/null 2>&1") == 0;
	ok(have_flatc, "flatc is installed");
	ok(sh("test -r %s", fbs) == 0, "%s exists (make gen)", fbs);
	ours_to_flatc();
	flatc_to_ours();
	corruption();
	sh("rm -rf %s", dir);
	done_testing();
}

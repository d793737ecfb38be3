/* 0003-codec-json-values.c: every JSON value reader, valid and invalid, with
 * its message; expected values worked out by hand or with Python's
 * datetime, never with the code under test. */
#include <math.h>

#include "streamer/codec.h"
#include "tap.h"

enum { K_BOOL, K_I32, K_I64, K_F64, K_STR, K_BYTES, K_DATE, K_TIME, K_UUID };
static const char *kname[] = { "bool", "i32", "i64", "f64", "str",
			       "bytes", "date", "time", "uuid" };

#define MSG_INT "must be an integer"
#define MSG_I32 "must be a 32-bit integer"
#define MSG_I64 "must be a 64-bit integer"
#define MSG_NUM "must be a number"
#define MSG_FIN "must be a finite number"
#define MSG_STR "must be a string"
#define MSG_BOOL "must be a boolean"
#define MSG_B64 "must be base64"
#define MSG_DATE "must be a valid date (YYYY-MM-DD)"
#define MSG_TIME "must be an RFC 3339 timestamp"
#define MSG_UUID "must be a UUID"
#define MSG_UTF8 "must not contain invalid UTF-8"

typedef struct vcase {
	int kind;
	const char *json;
	const char *msg;  /* NULL: valid */
	int64_t i;        /* bool, ints, date, time */
	double d;
	const char *s;    /* str, bytes, uuid (16 bytes) */
	size_t slen;
} vcase;

#define OK_I(k, j, v) { k, j, NULL, v, 0, NULL, 0 }
#define OK_D(j, v) { K_F64, j, NULL, 0, v, NULL, 0 }
#define OK_S(k, j, s) { k, j, NULL, 0, 0, s, sizeof(s) - 1 }
#define BAD(k, j, m) { k, j, m, 0, 0, NULL, 0 }

static const vcase cases[] = {
	OK_I(K_BOOL, "true", 1), OK_I(K_BOOL, " false ", 0),
	BAD(K_BOOL, "1", MSG_BOOL), BAD(K_BOOL, "0", MSG_BOOL),
	BAD(K_BOOL, "\"true\"", MSG_BOOL), BAD(K_BOOL, "null", MSG_BOOL),
	BAD(K_BOOL, "[]", MSG_BOOL), BAD(K_BOOL, "{}", MSG_BOOL),
	BAD(K_BOOL, "True", "invalid JSON at byte 0: unexpected 'T'"),
	BAD(K_BOOL, "truee", "invalid JSON at byte 4: unexpected character after a value"),

	OK_I(K_I32, "0", 0), OK_I(K_I32, "-0", 0), OK_I(K_I32, "42", 42),
	OK_I(K_I32, "-17", -17), OK_I(K_I32, "2147483647", 2147483647),
	OK_I(K_I32, "-2147483648", -2147483647 - 1),
	BAD(K_I32, "2147483648", MSG_I32), BAD(K_I32, "-2147483649", MSG_I32),
	BAD(K_I32, "99999999999999999999999", MSG_I32),
	BAD(K_I32, "1.0", MSG_INT), BAD(K_I32, "1.5", MSG_INT),
	BAD(K_I32, "1e2", MSG_INT), BAD(K_I32, "-0.0", MSG_INT),
	BAD(K_I32, "\"1\"", MSG_INT), BAD(K_I32, "true", MSG_INT),
	BAD(K_I32, "null", MSG_INT), BAD(K_I32, "[1]", MSG_INT),
	BAD(K_I32, "01", "invalid JSON at byte 1: unexpected character after a value"),
	BAD(K_I32, "+1", "invalid JSON at byte 0: unexpected '+'"),
	BAD(K_I32, "", "invalid JSON: unexpected end of input"),

	OK_I(K_I64, "9223372036854775807", INT64_MAX),
	OK_I(K_I64, "-9223372036854775808", INT64_MIN),
	OK_I(K_I64, "9007199254740993", 9007199254740993LL),
	OK_I(K_I64, "\"9007199254740993\"", 9007199254740993LL),
	OK_I(K_I64, "\"-5\"", -5), OK_I(K_I64, "\"0\"", 0),
	OK_I(K_I64, "\"9223372036854775807\"", INT64_MAX),
	OK_I(K_I64, "\"-9223372036854775808\"", INT64_MIN),
	BAD(K_I64, "9223372036854775808", MSG_I64),
	BAD(K_I64, "-9223372036854775809", MSG_I64),
	BAD(K_I64, "\"9223372036854775808\"", MSG_I64),
	BAD(K_I64, "\"\"", MSG_INT), BAD(K_I64, "\" 5\"", MSG_INT),
	BAD(K_I64, "\"5 \"", MSG_INT), BAD(K_I64, "\"05\"", MSG_INT),
	BAD(K_I64, "\"5.0\"", MSG_INT), BAD(K_I64, "\"+5\"", MSG_INT),
	BAD(K_I64, "\"1e3\"", MSG_INT), BAD(K_I64, "\"0x10\"", MSG_INT),
	BAD(K_I64, "\"\\u0035\"", MSG_INT), BAD(K_I64, "\"abc\"", MSG_INT),
	BAD(K_I64, "1e3", MSG_INT), BAD(K_I64, "2.5", MSG_INT),
	BAD(K_I64, "false", MSG_INT),

	OK_D("0", 0.0), OK_D("1.5", 1.5), OK_D("-2", -2.0), OK_D("0.1", 0.1),
	OK_D("1e308", 1e308), OK_D("-1.7976931348623157e308", -1.7976931348623157e308),
	OK_D("5e-324", 5e-324), OK_D("1e-400", 0.0), OK_D("1E+2", 100.0),
	OK_D("123456789012345678901234567890", 1.2345678901234568e29),
	OK_D("0.00000000000000000000000000000000000000000000000000000000000000000"
	     "00000000000000000000000000000000000000000000000000000000000000000"
	     "00000000000000000000000000000000000000000000000000000000000000001",
	     1e-195),  /* 194 zeros after the point */
	BAD(K_F64, "1e309", MSG_FIN), BAD(K_F64, "-1e999", MSG_FIN),
	BAD(K_F64, "\"1.5\"", MSG_NUM), BAD(K_F64, "null", MSG_NUM),
	BAD(K_F64, "NaN", "invalid JSON at byte 0: unexpected 'N'"),
	BAD(K_F64, "Infinity", "invalid JSON at byte 0: unexpected 'I'"),
	BAD(K_F64, "-Infinity", "invalid JSON at byte 0: unexpected '-'"),
	BAD(K_F64, ".5", "invalid JSON at byte 0: unexpected '.'"),

	OK_S(K_STR, "\"\"", ""), OK_S(K_STR, "\"hello\"", "hello"),
	OK_S(K_STR, "\"caf\\u00e9\"", "caf\xc3\xa9"),
	OK_S(K_STR, "\"tab\\there\"", "tab\there"),
	BAD(K_STR, "5", MSG_STR), BAD(K_STR, "null", MSG_STR),
	BAD(K_STR, "[\"a\"]", MSG_STR), BAD(K_STR, "{}", MSG_STR),
	BAD(K_STR, "\"\xc0\xaf\"", MSG_UTF8), BAD(K_STR, "\"\xed\xb2\x80\"", MSG_UTF8),
	BAD(K_STR, "\"\xf4\x90\x80\x80\"", MSG_UTF8),

	OK_S(K_BYTES, "\"\"", ""), OK_S(K_BYTES, "\"Zg==\"", "f"),
	OK_S(K_BYTES, "\"Zm8=\"", "fo"), OK_S(K_BYTES, "\"Zm9v\"", "foo"),
	OK_S(K_BYTES, "\"Zm9vYg==\"", "foob"), OK_S(K_BYTES, "\"Zm9vYmE=\"", "fooba"),
	OK_S(K_BYTES, "\"Zm9vYmFy\"", "foobar"), OK_S(K_BYTES, "\"+/8=\"", "\xfb\xff"),
	OK_S(K_BYTES, "\"\\/w==\"", "\xff"), OK_S(K_BYTES, "\"AAA=\"", "\0\0"),
	BAD(K_BYTES, "\"Zg\"", MSG_B64), BAD(K_BYTES, "\"Zg=\"", MSG_B64),
	BAD(K_BYTES, "\"Zm8\"", MSG_B64), BAD(K_BYTES, "\"Zh==\"", MSG_B64),
	BAD(K_BYTES, "\"Zm9=\"", MSG_B64), BAD(K_BYTES, "\"Z===\"", MSG_B64),
	BAD(K_BYTES, "\"====\"", MSG_B64), BAD(K_BYTES, "\"=Zg=\"", MSG_B64),
	BAD(K_BYTES, "\"Zg=a\"", MSG_B64), BAD(K_BYTES, "\"Zg==Zg==\"", MSG_B64),
	BAD(K_BYTES, "\"Zm 9v\"", MSG_B64), BAD(K_BYTES, "\"Zm9v\\n\"", MSG_B64),
	BAD(K_BYTES, "\"Zm-_\"", MSG_B64), BAD(K_BYTES, "12", MSG_B64),
	BAD(K_BYTES, "null", MSG_B64),

	OK_I(K_DATE, "\"1970-01-01\"", 0), OK_I(K_DATE, "\"1970-01-02\"", 1),
	OK_I(K_DATE, "\"1969-12-31\"", -1), OK_I(K_DATE, "\"2000-02-29\"", 11016),
	OK_I(K_DATE, "\"2000-03-01\"", 11017), OK_I(K_DATE, "\"2024-02-29\"", 19782),
	OK_I(K_DATE, "\"2023-12-31\"", 19722), OK_I(K_DATE, "\"1600-02-29\"", -135081),
	OK_I(K_DATE, "\"0001-01-01\"", -719162), OK_I(K_DATE, "\"9999-12-31\"", 2932896),
	OK_I(K_DATE, "\"\\u0031970-01-01\"", 0),
	BAD(K_DATE, "\"2023-02-29\"", MSG_DATE), BAD(K_DATE, "\"1900-02-29\"", MSG_DATE),
	BAD(K_DATE, "\"2000-02-30\"", MSG_DATE), BAD(K_DATE, "\"2023-04-31\"", MSG_DATE),
	BAD(K_DATE, "\"2023-13-01\"", MSG_DATE), BAD(K_DATE, "\"2023-00-10\"", MSG_DATE),
	BAD(K_DATE, "\"2023-01-00\"", MSG_DATE), BAD(K_DATE, "\"2023-01-32\"", MSG_DATE),
	BAD(K_DATE, "\"0000-01-01\"", MSG_DATE), BAD(K_DATE, "\"2023-1-01\"", MSG_DATE),
	BAD(K_DATE, "\"2023/01/01\"", MSG_DATE), BAD(K_DATE, "\"20230101\"", MSG_DATE),
	BAD(K_DATE, "\" 2023-01-01\"", MSG_DATE), BAD(K_DATE, "\"2023-01-01 \"", MSG_DATE),
	BAD(K_DATE, "\"2023-01-01T00:00:00Z\"", MSG_DATE), BAD(K_DATE, "\"+2023-01-01\"", MSG_DATE),
	BAD(K_DATE, "\"\"", MSG_DATE), BAD(K_DATE, "19700101", MSG_DATE),
	BAD(K_DATE, "null", MSG_DATE),

	OK_I(K_TIME, "\"1970-01-01T00:00:00Z\"", 0),
	OK_I(K_TIME, "\"1970-01-01T00:00:00.123Z\"", 123),
	OK_I(K_TIME, "\"1970-01-01T00:00:00.1Z\"", 100),
	OK_I(K_TIME, "\"1970-01-01T00:00:00.12Z\"", 120),
	OK_I(K_TIME, "\"1970-01-01T00:00:00.1239Z\"", 123),
	OK_I(K_TIME, "\"1970-01-01T00:00:00.000000001Z\"", 0),
	OK_I(K_TIME, "\"1970-01-01T01:00:00+01:00\"", 0),
	OK_I(K_TIME, "\"1970-01-01T00:00:00-00:00\"", 0),
	OK_I(K_TIME, "\"1969-12-31T23:59:59.999Z\"", -1),
	OK_I(K_TIME, "\"1969-12-31T23:59:59.9999Z\"", -1),
	OK_I(K_TIME, "\"2026-11-26T09:30:00Z\"", 1795685400000LL),
	OK_I(K_TIME, "\"2026-11-26t09:30:00z\"", 1795685400000LL),
	OK_I(K_TIME, "\"2026-11-26T09:30:00-05:30\"", 1795705200000LL),
	OK_I(K_TIME, "\"0001-01-01T00:00:00Z\"", -62135596800000LL),
	OK_I(K_TIME, "\"9999-12-31T23:59:59.999Z\"", 253402300799999LL),
	OK_I(K_TIME, "\"2000-02-29T12:34:56.789+14:00\"", 951777296789LL),
	BAD(K_TIME, "\"1998-12-31T23:59:60Z\"", MSG_TIME),
	BAD(K_TIME, "\"2026-11-26T24:00:00Z\"", MSG_TIME),
	BAD(K_TIME, "\"2026-11-26T12:60:00Z\"", MSG_TIME),
	BAD(K_TIME, "\"2026-11-26T09:30:00\"", MSG_TIME),
	BAD(K_TIME, "\"2026-11-26T09:30:00+0100\"", MSG_TIME),
	BAD(K_TIME, "\"2026-11-26T09:30:00+01:00:00\"", MSG_TIME),
	BAD(K_TIME, "\"2026-11-26T09:30:00+24:00\"", MSG_TIME),
	BAD(K_TIME, "\"2026-11-26T09:30:00+01:60\"", MSG_TIME),
	BAD(K_TIME, "\"2026-11-26 09:30:00Z\"", MSG_TIME),
	BAD(K_TIME, "\"2026-11-26T09:30Z\"", MSG_TIME),
	BAD(K_TIME, "\"2026-11-26T09:30:00.Z\"", MSG_TIME),
	BAD(K_TIME, "\"2026-11-26T09:30:00ZZ\"", MSG_TIME),
	BAD(K_TIME, "\"2026-11-26T9:30:00Z\"", MSG_TIME),
	BAD(K_TIME, "\"2026-02-30T00:00:00Z\"", MSG_TIME),
	BAD(K_TIME, "\"2026-11-26\"", MSG_TIME),
	BAD(K_TIME, "\"\"", MSG_TIME), BAD(K_TIME, "1795685400000", MSG_TIME),

	OK_S(K_UUID, "\"123e4567-e89b-12d3-a456-426614174000\"",
	     "\x12\x3e\x45\x67\xe8\x9b\x12\xd3\xa4\x56\x42\x66\x14\x17\x40\x00"),
	OK_S(K_UUID, "\"FFFFFFFF-ABCD-EF01-2345-6789ABCDEF0a\"",
	     "\xff\xff\xff\xff\xab\xcd\xef\x01\x23\x45\x67\x89\xab\xcd\xef\x0a"),
	OK_S(K_UUID, "\"00000000-0000-0000-0000-000000000000\"",
	     "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"),
	BAD(K_UUID, "\"123e4567e89b12d3a456426614174000\"", MSG_UUID),
	BAD(K_UUID, "\"{123e4567-e89b-12d3-a456-426614174000}\"", MSG_UUID),
	BAD(K_UUID, "\"123e4567-e89b-12d3-a456-42661417400\"", MSG_UUID),
	BAD(K_UUID, "\"123e4567-e89b-12d3-a456-4266141740000\"", MSG_UUID),
	BAD(K_UUID, "\"123e4567-e89b-12d3-a4564-26614174000\"", MSG_UUID),
	BAD(K_UUID, "\"123g4567-e89b-12d3-a456-426614174000\"", MSG_UUID),
	BAD(K_UUID, "\"123e4567-e89b-12d3-a456_426614174000\"", MSG_UUID),
	BAD(K_UUID, "\" 23e4567-e89b-12d3-a456-426614174000\"", MSG_UUID),
	BAD(K_UUID, "\"urn:uuid:123e4567-e89b-12d3-a456-426614174000\"", MSG_UUID),
	BAD(K_UUID, "42", MSG_UUID),
};

/* Runs the reader of c->kind over exactly n bytes at s (a heap block of
 * that size, so that ASan sees any overread). */
static int run(const vcase *c, const char *src, size_t n, st_arena *a,
	       st_verr *e, int64_t *iv, double *dv, const void **sp,
	       size_t *slen)
{
	char *s = malloc(n ? n : 1);
	memcpy(s, src, n);
	st_json j;
	st_json_init(&j, s, n);
	st_verr_init(e);
	int r = -1;
	bool b;
	int32_t i32;
	st_str str;
	st_bytes by;
	st_date d;
	static st_uuid u;
	switch (c->kind) {
	case K_BOOL: r = st_json_bool(&j, &b, e); *iv = b; break;
	case K_I32: r = st_json_i32(&j, &i32, e); *iv = i32; break;
	case K_I64: r = st_json_i64(&j, iv, e); break;
	case K_F64: r = st_json_f64(&j, dv, e); break;
	case K_STR: r = st_json_str(&j, a, &str, NULL, e);
		*sp = str.ptr; *slen = str.len; break;
	case K_BYTES: r = st_json_bytes(&j, a, &by, e);
		*sp = by.ptr; *slen = by.len; break;
	case K_DATE: r = st_json_date(&j, &d, e); *iv = d; break;
	case K_TIME: r = st_json_time(&j, iv, e); break;
	case K_UUID: r = st_json_uuid(&j, &u, e); *sp = u.b; *slen = 16; break;
	}
	if (r == 0)
		r = st_json_end(&j, e);
	free(s);
	return r;
}

static void test_table(void)
{
	st_arena *a = st_arena_create(1 << 20);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const vcase *c = &cases[i];
		int64_t iv = 0;
		double dv = 0;
		const void *sp = NULL;
		size_t slen = 0;
		st_verr e;
		int r = run(c, c->json, strlen(c->json), a, &e, &iv, &dv, &sp, &slen);
		if (c->msg) {
			is_int(r, -1, "%s %s refused", kname[c->kind], c->json);
			is(e.msg, c->msg, "%s %s message", kname[c->kind], c->json);
			continue;
		}
		if (!ok(r == 0, "%s %s read", kname[c->kind], c->json)) {
			diag("error: %s", e.msg);
			continue;
		}
		switch (c->kind) {
		case K_F64:
			ok(dv == c->d, "%s value %.17g", c->json, dv);
			break;
		case K_STR: case K_BYTES: case K_UUID:
			ok(slen == c->slen && !memcmp(sp, c->s, slen),
			   "%s %s value", kname[c->kind], c->json);
			break;
		default:
			is_int(iv, c->i, "%s %s value", kname[c->kind], c->json);
		}
	}
	st_arena_reset(a);

	/* every case cut at every length: no overread (ASan), and a strict
	 * prefix of a string value is never accepted */
	int cuts = 0, bad = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const vcase *c = &cases[i];
		size_t n = strlen(c->json);
		for (size_t k = 0; k < n; k++) {
			int64_t iv;
			double dv;
			const void *sp;
			size_t slen;
			st_verr e;
			int r = run(c, c->json, k, a, &e, &iv, &dv, &sp, &slen);
			cuts++;
			if (r == 0 && c->json[0] == '"')
				bad++;
			if (r < 0 && e.msg[0] == '\0')
				bad++;
		}
		st_arena_reset(a);
	}
	is_int(bad, 0, "%d cuts: no string prefix accepted, every error has a message", cuts);
	st_arena_free(a);
}

static void test_misc(void)
{
	st_json j;
	st_verr e;
	double d = 1;
	st_json_init(&j, "-0", 2);
	ok(st_json_f64(&j, &d, &e) == 0 && d == 0 && signbit(d), "-0 keeps its sign");

	/* a string larger than the arena */
	st_arena *a = st_arena_create(64);
	char big[200];
	memset(big, 'x', sizeof(big));
	big[0] = big[sizeof(big) - 1] = '"';
	st_str s;
	st_json_init(&j, big, sizeof(big));
	is_int(st_json_str(&j, a, &s, NULL, &e), -1, "string over the arena cap");
	is(e.msg, "is too large for this request's memory", "its message");
	st_arena_free(a);

	/* strings are copied so that ptr[len] is '\0' (streamer.h) */
	a = st_arena_create(4096);
	const char *src = "\"abc\",";
	st_json_init(&j, src, 5);
	size_t ncp = 0;
	ok(st_json_str(&j, a, &s, &ncp, &e) == 0 && s.ptr[3] == '\0' && ncp == 3,
	   "value string terminated");
	st_arena_free(a);

	/* values inside a document and the depth counter */
	a = st_arena_create(4096);
	const char *doc = "{\"when\":\"2026-11-26T09:30:00Z\",\"n\":[1,2,3]}";
	st_json_init(&j, doc, strlen(doc));
	st_str k;
	st_time t = 0;
	int64_t sum = 0;
	st_json_obj_begin(&j, &e);
	while (st_json_obj_key(&j, a, &k, &e) == 1) {
		if (k.len == 4) {
			st_json_time(&j, &t, &e);
		} else {
			st_json_arr_begin(&j, &e);
			while (st_json_arr_next(&j, &e) == 1) {
				int64_t v;
				st_json_i64(&j, &v, &e);
				sum += v;
			}
		}
	}
	is_int(t, 1795685400000LL, "timestamp inside an object");
	is_int(sum, 6, "integers inside an array");
	is_int(st_json_end(&j, &e), 0, "document ends");
	st_arena_free(a);
}

int main(void)
{
	test_table();
	test_misc();
	return done_testing();
}

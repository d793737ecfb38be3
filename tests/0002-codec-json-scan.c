/* 0002-codec-json-scan.c: the JSON scanner's grammar, strings, UTF-8 and
 * bounds, with jansson as the independent oracle for what is JSON. */
#include <jansson.h>

#include "streamer/codec.h"
#include "tap.h"

/* The input in a heap block of exactly n bytes: under ASan any read past
 * the end is caught (the scanner must never look beyond `end`). */
static char *exact(const char *s, size_t n)
{
	char *p = malloc(n ? n : 1);
	memcpy(p, s, n);
	return p;
}

static int scan_all(const char *s, size_t n, st_verr *e)
{
	char *p = exact(s, n);
	st_json j;
	st_json_init(&j, p, n);
	st_verr_init(e);
	int r = st_json_skip(&j, NULL, NULL, e) < 0 || st_json_end(&j, e) < 0 ? -1 : 0;
	free(p);
	return r;
}

/* Printable test names: TAP lines must not break. */
static const char *vis(const char *s, size_t n)
{
	static char out[4][200];
	static int k;
	char *o = out[k++ % 4];
	size_t j = 0;
	for (size_t i = 0; i < n && j < sizeof(out[0]) - 5; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f)
			o[j++] = (char)c;
		else
			j += (size_t)sprintf(o + j, "\\x%02x", c);
	}
	o[j] = '\0';
	return o;
}

/* jansson's verdict: 0 or -1, or 1 when it cannot judge: it refuses numbers
 * too big for its types and stops at a NUL byte, both of which are valid
 * or invalid JSON for reasons of its own. */
static int jansson_ok(const char *s, size_t n)
{
	json_error_t err;
	if (memchr(s, 0, n))
		return 1;
	json_t *v = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	if (!v)
		return strstr(err.text, "too big") || strstr(err.text, "overflow") ? 1 : -1;
	json_decref(v);
	return 0;
}

static const struct {
	const char *json;
	int ok;
} grammar[] = {
	{ "{}", 0 }, { "[]", 0 }, { " \t\r\n[ ] \n", 0 }, { "[1,2,3]", 0 },
	{ "{\"a\":1}", 0 }, { "{\"a\":[{\"b\":null},{}],\"c\":\"d\"}", 0 },
	{ "1", 0 }, { "-0", 0 }, { "0", 0 }, { "-1.5e-3", 0 }, { "1E+5", 0 },
	{ "1e5", 0 }, { "0.0", 0 }, { "123456789012345678901234567890", 0 },
	{ "\"\"", 0 }, { "\"x\"", 0 }, { "true", 0 }, { "false", 0 },
	{ "null", 0 }, { "[true,false,null]", 0 }, { "{\"\":\"\"}", 0 },
	{ "\"\\u00e9\\n\\/\\\\\\\"\\b\\f\\r\\t\"", 0 },
	{ "\"\\ud83d\\ude00\"", 0 }, { "\"\\uD83D\\uDE00\"", 0 },
	{ "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", 0 },
	{ "\"\x7f\"", 0 }, { "[[[[[]]]]]", 0 }, { "{\"a\":{\"b\":{}}}", 0 },
	{ "", -1 }, { " ", -1 }, { "{", -1 }, { "}", -1 }, { "[", -1 },
	{ "]", -1 }, { "{,}", -1 }, { "[,]", -1 }, { "[1,]", -1 },
	{ "[,1]", -1 }, { "[1 2]", -1 }, { "{\"a\" 1}", -1 },
	{ "{\"a\":1,}", -1 }, { "{\"a\":1 \"b\":2}", -1 }, { "{a:1}", -1 },
	{ "{1:1}", -1 }, { "{\"a\"}", -1 }, { "{\"a\":}", -1 },
	{ "01", -1 }, { "-01", -1 }, { "1.", -1 }, { ".5", -1 }, { "+1", -1 },
	{ "-", -1 }, { "1e", -1 }, { "1e+", -1 }, { "1.e5", -1 }, { "0x10", -1 },
	{ "tru", -1 }, { "truex", -1 }, { "nul", -1 }, { "True", -1 },
	{ "NaN", -1 }, { "Infinity", -1 }, { "-Infinity", -1 }, { "'a'", -1 },
	{ "\"abc", -1 }, { "\"\\x\"", -1 }, { "\"\\u12\"", -1 },
	{ "\"\\u12g4\"", -1 }, { "\"\\\"", -1 }, { "\"\\U0041\"", -1 },
	{ "\"\\ud800\"", -1 }, { "\"\\udc00\"", -1 }, { "\"\\udc00\\ud800\"", -1 },
	{ "\"\\ud800\\u0041\"", -1 }, { "\"\\ud800\\ud800\"", -1 },
	{ "\"\\ud800x\"", -1 }, { "\"a\tb\"", -1 }, { "\"a\nb\"", -1 },
	{ "\"\x01\"", -1 }, { "\"\x1f\"", -1 }, { "\"\x80\"", -1 },
	{ "\"\xc0\x80\"", -1 }, { "\"\xc1\xbf\"", -1 }, { "\"\xe0\x80\x80\"", -1 },
	{ "\"\xe0\x9f\xbf\"", -1 }, { "\"\xed\xa0\x80\"", -1 },
	{ "\"\xed\xbf\xbf\"", -1 }, { "\"\xf0\x8f\xbf\xbf\"", -1 },
	{ "\"\xf4\x90\x80\x80\"", -1 }, { "\"\xf5\x80\x80\x80\"", -1 },
	{ "\"\xff\"", -1 }, { "\"\xc3\"", -1 }, { "\"\xe2\x82\"", -1 },
	{ "\"\xf0\x9f\x98\"", -1 }, { "\"\xc3\xa9\xa9\"", -1 },
	{ "\xef\xbb\xbf{}", -1 }, { "{}}", -1 }, { "[]]", -1 }, { "1 2", -1 },
	{ "[1]x", -1 }, { "{\"a\":1}{}", -1 }, { "[1:2]", -1 },
	{ "{\"a\",1}", -1 }, { "[-]", -1 }, { "[1.5e]", -1 }, { "[0 1]", -1 },
	{ "[\"a\"\"b\"]", -1 }, { "[null,]", -1 }, { "/*c*/1", -1 },
	{ "[1]\x00", -1 }, { "\x00", -1 },
};

static void test_grammar(void)
{
	st_verr e;
	for (size_t i = 0; i < sizeof(grammar) / sizeof(grammar[0]); i++) {
		const char *s = grammar[i].json;
		size_t n = strlen(s);
		if (i == sizeof(grammar) / sizeof(grammar[0]) - 1 ||
		    i == sizeof(grammar) / sizeof(grammar[0]) - 2)
			n++;  /* the last two carry a real NUL byte */
		int r = scan_all(s, n, &e);
		ok(r == grammar[i].ok, "grammar %zu %s: %s%s%s", i,
		   grammar[i].ok ? "refused" : "accepted", vis(s, n),
		   r ? " -- " : "", r ? e.msg : "");
		if (r < 0)
			ok(e.msg[0] != '\0', "grammar %zu: a message", i);
		/* jansson agrees, except where the two legitimately differ */
		int o = jansson_ok(s, n);
		if (o != 1)
			is_int(o, grammar[i].ok, "jansson agrees on %zu", i);
	}
}

/* Each valid document cut at every length: no read past the cut, and the
 * verdict on every prefix matches jansson's. */
static const char *docs[] = {
	"{\"name\":\"r\xc3\xa9sum\xc3\xa9\",\"n\":[1,-2.5e3,0,true,false,null],"
	"\"o\":{\"k\":\"\\u00e9\\ud83d\\ude00\\n\"},\"e\":[],\"f\":{}}",
	"[12345, 0.5, -0, 1e10, \"\xf0\x9f\x98\x80\", [[[]]], {\"\":\"\"}]",
	"  \"plain string\"  ",
	"-123.456e-7",
	"true",
};

static void test_cuts(void)
{
	st_verr e;
	for (size_t d = 0; d < sizeof(docs) / sizeof(docs[0]); d++) {
		size_t n = strlen(docs[d]), agree = 0;
		for (size_t k = 0; k <= n; k++) {
			int r = scan_all(docs[d], k, &e), o = jansson_ok(docs[d], k);
			if (r == o || o == 1)
				agree++;
			else
				diag("doc %zu cut at %zu: scanner %d", d, k, r);
		}
		is_int(agree, n + 1, "doc %zu: all %zu cuts agree with jansson", d, n + 1);
		is_int(scan_all(docs[d], n, &e), 0, "doc %zu whole is valid", d);
	}
}

/* Random mutations of the documents, judged by both parsers. */
static void test_mutations(void)
{
	static const char alphabet[] = "{}[],:\"\\ 019-+.eEtrufalsnu\x00\x1f\x7f"
				       "\x80\xbf\xc0\xc3\xe0\xed\xf0\xf4\xf5\xff";
	unsigned seed = 12345;
	int agree = 0, total = 0, valid = 0;
	st_verr e;
	for (int round = 0; round < 20000; round++) {
		const char *d = docs[round % 5];
		char buf[512];
		size_t n = strlen(d);
		memcpy(buf, d, n);
		int muts = 1 + round % 3;
		for (int m = 0; m < muts; m++) {
			seed = seed * 1103515245 + 12345;
			size_t at = (seed >> 8) % (n + 1);
			char c = alphabet[(seed >> 20) % (sizeof(alphabet) - 1)];
			switch ((seed >> 4) % 3) {
			case 0: if (at < n) buf[at] = c; break;
			case 1: if (n < sizeof(buf) - 1) {
					memmove(buf + at + 1, buf + at, n - at);
					buf[at] = c;
					n++;
				}
				break;
			default: if (at < n) {
					memmove(buf + at, buf + at + 1, n - at - 1);
					n--;
				}
			}
		}
		int r = scan_all(buf, n, &e), o = jansson_ok(buf, n);
		if (o == 1)
			continue;
		total++;
		valid += r == 0;
		if (r == o)
			agree++;
		else if (total - agree <= 10)
			diag("mutation %d disagrees (scanner %d, jansson %d): %s",
			     round, r, o, vis(buf, n));
	}
	is_int(agree, total, "%d mutations judged as jansson does", total);
	ok(valid > 100 && valid < total - 100,
	   "mutations mix valid (%d) and invalid ones", valid);
}

static void test_depth(void)
{
	char buf[300];
	st_verr e;
	for (int d = ST_JSON_MAX_DEPTH - 1; d <= ST_JSON_MAX_DEPTH + 1; d++) {
		for (int i = 0; i < d; i++) {
			buf[i] = i % 2 ? '[' : '[';
			buf[2 * d - 1 - i] = ']';
		}
		int r = scan_all(buf, (size_t)(2 * d), &e);
		is_int(r, d <= ST_JSON_MAX_DEPTH ? 0 : -1, "arrays nested %d deep", d);
		if (r < 0)
			is(e.msg, "is nested more than 64 levels deep", "depth message");
	}
	/* objects count too, and the depth goes back down */
	char obj[600] = "";
	for (int i = 0; i < 40; i++)
		strcat(obj, "{\"a\":");
	strcat(obj, "1");
	for (int i = 0; i < 40; i++)
		strcat(obj, "}");
	char two[1300];
	snprintf(two, sizeof(two), "[%s,%s]", obj, obj);
	is_int(scan_all(two, strlen(two), &e), 0, "two 41-deep siblings are fine");
}

/* Walks {"a":[1,"x",{"b":true}],"c\u00e9":null} with the pull API. */
static void test_walk(void)
{
	const char *src = " { \"a\" : [ 1 , \"x\" , { \"b\" : true } ] , "
			  "\"c\\u00e9\" : null } ";
	st_arena *a = st_arena_create(4096);
	st_json j;
	st_verr e;
	st_str k;
	st_verr_init(&e);
	st_json_init(&j, src, strlen(src));
	is_int(st_json_obj_begin(&j, &e), 0, "obj_begin");
	is_int(st_json_obj_key(&j, a, &k, &e), 1, "first key");
	ok(k.len == 1 && k.ptr[0] == 'a', "key a");
	ok(k.ptr > src && k.ptr < src + strlen(src), "unescaped key points into the input");
	is_int(st_json_arr_begin(&j, &e), 0, "arr_begin");
	is_int(st_json_arr_next(&j, &e), 1, "item 0");
	int32_t i32 = 0;
	is_int(st_json_i32(&j, &i32, &e), 0, "read 1");
	is_int(i32, 1, "value 1");
	is_int(st_json_arr_next(&j, &e), 1, "item 1");
	const char *start;
	size_t len;
	is_int(st_json_skip(&j, &start, &len, &e), 0, "skip \"x\"");
	ok(len == 3 && !memcmp(start, "\"x\"", 3), "skip gives the raw text");
	is_int(st_json_arr_next(&j, &e), 1, "item 2");
	is_int(st_json_skip(&j, &start, &len, &e), 0, "skip the object");
	is_int(len, strlen("{ \"b\" : true }"), "raw object length");
	ok(!memcmp(start, "{ \"b\" : true }", len), "raw object text");
	is_int(st_json_arr_next(&j, &e), 0, "end of array");
	is_int(st_json_obj_key(&j, a, &k, &e), 1, "second key");
	ok(k.len == 3 && !memcmp(k.ptr, "c\xc3\xa9", 4), "escaped key unescaped and terminated");
	is_int(st_json_null(&j), 1, "null consumed");
	is_int(st_json_obj_key(&j, a, &k, &e), 0, "end of object");
	is_int(j.depth, 0, "depth back to 0");
	is_int(st_json_end(&j, &e), 0, "nothing after");

	/* st_json_null leaves a non-null alone */
	st_json_init(&j, " nullx", 6);
	is_int(st_json_null(&j), 0, "nullx is not null");
	is_int(j.cur - j.base, 0, "and was not consumed");
	st_json_init(&j, "\"null\"", 6);
	is_int(st_json_null(&j), 0, "\"null\" is not null");
	st_json_init(&j, "[null]", 6);
	st_json_arr_begin(&j, &e);
	st_json_arr_next(&j, &e);
	is_int(st_json_null(&j), 1, "null in an array");
	is_int(st_json_arr_next(&j, &e), 0, "then the end");

	/* empty containers and errors with messages */
	st_json_init(&j, "{ }", 3);
	st_json_obj_begin(&j, &e);
	is_int(st_json_obj_key(&j, a, &k, &e), 0, "{ } has no key");
	st_json_init(&j, "[ ]", 3);
	st_json_arr_begin(&j, &e);
	is_int(st_json_arr_next(&j, &e), 0, "[ ] has no item");
	st_json_init(&j, "[1]", 3);
	is_int(st_json_obj_begin(&j, &e), -1, "array is not an object");
	is(e.msg, "must be an object", "object message");
	st_json_init(&j, "{}", 2);
	is_int(st_json_arr_begin(&j, &e), -1, "object is not an array");
	is(e.msg, "must be an array", "array message");
	st_json_init(&j, "[1,]", 4);
	st_json_arr_begin(&j, &e);
	st_json_arr_next(&j, &e);
	st_json_i32(&j, &i32, &e);
	is_int(st_json_arr_next(&j, &e), -1, "trailing comma");
	is(e.msg, "invalid JSON at byte 3: trailing comma", "trailing comma message");
	st_json_init(&j, "{\"a\":1 ", 7);
	st_json_obj_begin(&j, &e);
	st_json_obj_key(&j, a, &k, &e);
	st_json_i32(&j, &i32, &e);
	is_int(st_json_obj_key(&j, a, &k, &e), -1, "unclosed object");
	is(e.msg, "invalid JSON: unexpected end of input", "end of input message");
	st_json_init(&j, "1 2", 3);
	st_json_i32(&j, &i32, &e);
	is_int(st_json_end(&j, &e), -1, "data after the value");
	is(e.msg, "invalid JSON at byte 2: unexpected data after the value", "its message");
	st_json_init(&j, "{\"a\"", 4);
	st_json_obj_begin(&j, &e);
	is_int(st_json_obj_key(&j, a, &k, &e), -1, "key without colon");
	st_arena_free(a);
}

/* Escapes, by hand: JSON text and the bytes it stands for. */
static const struct {
	const char *json, *bytes;
	size_t len, ncp;
} escapes[] = {
	{ "\"\"", "", 0, 0 },
	{ "\"abc\"", "abc", 3, 3 },
	{ "\"\\u00e9\"", "\xc3\xa9", 2, 1 },
	{ "\"\\u00E9\"", "\xc3\xa9", 2, 1 },
	{ "\"\\u0041\\u007f\\u0080\"", "A\x7f\xc2\x80", 4, 3 },
	{ "\"\\u07ff\\u0800\"", "\xdf\xbf\xe0\xa0\x80", 5, 2 },
	{ "\"\\ud7ff\\ue000\\uffff\"", "\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf", 9, 3 },
	{ "\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4, 1 },
	{ "\"\\ud800\\udc00\"", "\xf0\x90\x80\x80", 4, 1 },
	{ "\"\\udbff\\udfff\"", "\xf4\x8f\xbf\xbf", 4, 1 },
	{ "\"a\\u0000b\"", "a\0b", 3, 3 },
	{ "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8, 8 },
	{ "\"x\xc3\xa9y\xe2\x82\xac\xf0\x9f\x98\x80\"", "x\xc3\xa9y\xe2\x82\xac\xf0\x9f\x98\x80", 11, 5 },
};

static void test_escapes(void)
{
	st_arena *a = st_arena_create(1 << 16);
	for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
		st_json j;
		st_verr e;
		st_str s = { 0 };
		size_t ncp = 99;
		char *p = exact(escapes[i].json, strlen(escapes[i].json));
		st_json_init(&j, p, strlen(escapes[i].json));
		int r = st_json_str(&j, a, &s, &ncp, &e);
		ok(r == 0 && s.len == escapes[i].len &&
		   !memcmp(s.ptr, escapes[i].bytes, s.len),
		   "escape %zu: %s", i, vis(escapes[i].json, strlen(escapes[i].json)));
		is_int(ncp, escapes[i].ncp, "escape %zu: code points", i);
		ok(r == 0 && s.ptr[s.len] == '\0', "escape %zu: terminated", i);
		free(p);
	}
	st_arena_free(a);
}

/* The re2c UTF-8 rules against st_utf8_check (written separately), on
 * random short byte strings biased toward the interesting bytes. */
static void test_utf8_cross(void)
{
	static const unsigned char pick[] = {
		'a', 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2,
		0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4,
		0xf5, 0xfe, 0xff,
	};
	st_arena *a = st_arena_create(1 << 20);
	unsigned seed = 7;
	int agree = 0, valid = 0, n = 50000;
	for (int t = 0; t < n; t++) {
		char buf[16];
		size_t len = 0;
		buf[len++] = '"';
		seed = seed * 1103515245 + 12345;
		size_t k = 1 + (seed >> 16) % 6;
		for (size_t i = 0; i < k; i++) {
			seed = seed * 1103515245 + 12345;
			buf[len++] = (char)pick[(seed >> 16) % sizeof(pick)];
		}
		buf[len++] = '"';
		st_json j;
		st_verr e;
		st_str s;
		size_t c1 = 0, c2 = 0;
		char *p = exact(buf, len);
		st_json_init(&j, p, len);
		int r1 = st_json_str(&j, a, &s, &c1, &e);
		int r2 = st_utf8_check(buf + 1, k, &c2);
		if (r1 == r2 && (r1 < 0 || c1 == c2))
			agree++;
		else if (n - agree < 5)
			diag("disagree on %zu bytes", k);
		if (r1 < 0 && strcmp(e.msg, "must not contain invalid UTF-8"))
			diag("odd message %s", e.msg);
		valid += r1 == 0;
		free(p);
		st_arena_reset(a);
	}
	is_int(agree, n, "re2c and st_utf8_check agree on %d strings", n);
	ok(valid > 1000, "%d of them valid", valid);
	st_arena_free(a);
}

static void test_utf8_table(void)
{
	static const struct {
		const char *s;
		int ok;
		size_t ncp;
	} t[] = {
		{ "", 0, 0 }, { "a", 0, 1 }, { "\x7f", 0, 1 },
		{ "\xc2\x80", 0, 1 }, { "\xdf\xbf", 0, 1 },
		{ "\xe0\xa0\x80", 0, 1 }, { "\xed\x9f\xbf", 0, 1 },
		{ "\xee\x80\x80", 0, 1 }, { "\xef\xbf\xbf", 0, 1 },
		{ "\xf0\x90\x80\x80", 0, 1 }, { "\xf4\x8f\xbf\xbf", 0, 1 },
		{ "a\xc3\xa9z", 0, 3 },
		{ "\x80", -1, 0 }, { "\xbf", -1, 0 }, { "\xc0\x80", -1, 0 },
		{ "\xc1\xbf", -1, 0 }, { "\xc2", -1, 0 }, { "\xc2\x7f", -1, 0 },
		{ "\xc2\xc0", -1, 0 }, { "\xe0\x9f\xbf", -1, 0 },
		{ "\xed\xa0\x80", -1, 0 }, { "\xed\xbf\xbf", -1, 0 },
		{ "\xe1\x80", -1, 0 }, { "\xf0\x8f\xbf\xbf", -1, 0 },
		{ "\xf4\x90\x80\x80", -1, 0 }, { "\xf5\x80\x80\x80", -1, 0 },
		{ "\xf8\x88\x80\x80\x80", -1, 0 }, { "\xfe", -1, 0 },
		{ "\xff", -1, 0 }, { "\xf0\x90\x80", -1, 0 },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = 99;
		int r = st_utf8_check(t[i].s, strlen(t[i].s), &n);
		is_int(r, t[i].ok, "utf8 case %zu", i);
		if (r == 0)
			is_int(n, t[i].ncp, "utf8 case %zu code points", i);
	}
	size_t n;
	is_int(st_utf8_check("a\0b", 3, &n), 0, "NUL is valid UTF-8");
	is_int(n, 3, "counted");
}

static void test_string_errors(void)
{
	static const struct {
		const char *json, *msg;
	} t[] = {
		{ "\"\\ud800\"", "must not contain an unpaired surrogate escape" },
		{ "\"\\udfff\\u0041\"", "must not contain an unpaired surrogate escape" },
		{ "\"\xc3\x28\"", "must not contain invalid UTF-8" },
		{ "\"\xed\xa0\x80\"", "must not contain invalid UTF-8" },
		{ "\"ab\x01\"", "invalid JSON at byte 3: control character in a string" },
		{ "\"a\\q\"", "invalid JSON at byte 2: invalid escape in a string" },
		{ "\"abc", "invalid JSON at byte 4: unterminated string" },
		{ "5", "must be a string" },
		{ "", "invalid JSON: unexpected end of input" },
		{ "}", "invalid JSON at byte 0: unexpected '}'" },
	};
	st_arena *a = st_arena_create(4096);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		st_json j;
		st_verr e;
		st_str s;
		st_verr_init(&e);
		char *p = exact(t[i].json, strlen(t[i].json));
		st_json_init(&j, p, strlen(t[i].json));
		is_int(st_json_str(&j, a, &s, NULL, &e), -1, "string error %zu", i);
		is(e.msg, t[i].msg, "string error %zu message", i);
		free(p);
	}
	st_arena_free(a);
}

int main(void)
{
	test_grammar();
	test_cuts();
	test_mutations();
	test_depth();
	test_walk();
	test_escapes();
	test_utf8_cross();
	test_utf8_table();
	test_string_errors();
	return done_testing();
}

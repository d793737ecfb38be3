/* 0004-codec-json-write.c: the output buffer and the JSON value writer;
 * expected text by hand, validity and round trips checked with jansson and
 * with our own reader. */
#include <jansson.h>
#include <math.h>

#include "streamer/codec.h"
#include "tap.h"

static st_buf b;

static const char *w(void)
{
	return b.failed ? "(failed)" : b.data ? b.data : "";
}

#define OUT(call, want, ...)                                                 \
	do {                                                                 \
		st_buf_reset(&b);                                            \
		call;                                                        \
		is(w(), want, __VA_ARGS__);                                  \
	} while (0)

static void test_buf(void)
{
	st_buf x;
	st_buf_init(&x, 10);
	st_buf_lit(&x, "12345");
	st_buf_append(&x, "67890", 5);
	ok(!x.failed && x.len == 10 && !strcmp(x.data, "1234567890"), "exactly max");
	st_buf_append(&x, "a", 1);
	ok(x.failed && x.len == 10, "one byte over max fails, nothing written");
	st_buf_lit(&x, "");
	ok(x.failed, "failure is sticky");
	st_buf_reset(&x);
	ok(!x.failed && x.len == 0, "reset");
	st_buf_printf(&x, "%d-%s", 42, "ab");
	is(x.data, "42-ab", "printf");
	st_buf_printf(&x, "%300s", "x");
	ok(x.failed, "printf over max fails");
	st_buf_fini(&x);

	st_buf_init(&x, 1 << 20);
	char big[1000];
	memset(big, 'z', sizeof(big));
	for (int i = 0; i < 100; i++)
		st_buf_append(&x, big, sizeof(big));
	st_buf_printf(&x, "%500s", "end");
	ok(!x.failed && x.len == 100500 && x.data[x.len] == '\0' &&
	   !memcmp(x.data + x.len - 3, "end", 3), "grows; long printf");
	st_buf_fini(&x);
}

static void test_scalars(void)
{
	OUT(st_jw_bool(&b, true), "true", "true");
	OUT(st_jw_bool(&b, false), "false", "false");
	OUT(st_jw_i32(&b, 0), "0", "i32 0");
	OUT(st_jw_i32(&b, INT32_MIN), "-2147483648", "i32 min");
	OUT(st_jw_i32(&b, INT32_MAX), "2147483647", "i32 max");
	OUT(st_jw_i64(&b, 9007199254740991LL), "9007199254740991", "2^53-1 as a number");
	OUT(st_jw_i64(&b, -9007199254740991LL), "-9007199254740991", "-(2^53-1) as a number");
	OUT(st_jw_i64(&b, 9007199254740992LL), "\"9007199254740992\"", "2^53 as a string");
	OUT(st_jw_i64(&b, -9007199254740992LL), "\"-9007199254740992\"", "-2^53 as a string");
	OUT(st_jw_i64(&b, INT64_MIN), "\"-9223372036854775808\"", "i64 min");
	OUT(st_jw_i64(&b, INT64_MAX), "\"9223372036854775807\"", "i64 max");

	OUT(st_jw_f64(&b, 0.0), "0", "f64 0");
	OUT(st_jw_f64(&b, -0.0), "-0", "f64 -0");
	OUT(st_jw_f64(&b, 1.5), "1.5", "f64 1.5");
	OUT(st_jw_f64(&b, 0.1), "0.1", "0.1 shortest");
	OUT(st_jw_f64(&b, 0.1 + 0.2), "0.30000000000000004", "0.1+0.2 needs 17");
	OUT(st_jw_f64(&b, 1.0 / 3), "0.3333333333333333", "1/3 needs 16");
	OUT(st_jw_f64(&b, 1e21), "1e+21", "1e21");
	OUT(st_jw_f64(&b, 123456789.0), "123456789", "integral");
	OUT(st_jw_f64(&b, 5e-324), "4.94065645841247e-324",
	    "smallest denormal: 15 digits already read back");
	OUT(st_jw_f64(&b, 1.7976931348623157e308), "1.7976931348623157e+308", "largest");
	OUT(st_jw_f64(&b, NAN), "null", "NaN as null");
	OUT(st_jw_f64(&b, INFINITY), "null", "inf as null");
	OUT(st_jw_f64(&b, -INFINITY), "null", "-inf as null");
}

/* Random doubles of every magnitude: the text is valid JSON and reads back
 * to the same bits, through jansson and through st_json_f64. */
static void test_f64_roundtrip(void)
{
	uint64_t x = 0x9E3779B97F4A7C15ull;
	int n = 20000, good = 0;
	for (int i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		double d;
		memcpy(&d, &x, 8);
		if (!isfinite(d)) {
			good++;
			continue;
		}
		st_buf_reset(&b);
		st_jw_f64(&b, d);
		st_json j;
		st_verr e;
		double back = 0;
		st_json_init(&j, b.data, b.len);
		json_error_t err;
		json_t *v = json_loadb(b.data, b.len, JSON_DECODE_ANY, &err);
		if (st_json_f64(&j, &back, &e) == 0 && st_json_end(&j, &e) == 0 &&
		    !memcmp(&back, &d, 8) && v && json_number_value(v) == d)
			good++;
		else if (n - good < 5)
			diag("no round trip: %s", b.data);
		json_decref(v);
	}
	is_int(good, n, "%d random doubles round-trip", n);
}

static void test_str(void)
{
	OUT(st_jw_str(&b, "", 0), "\"\"", "empty");
	OUT(st_jw_str(&b, "plain", 5), "\"plain\"", "plain");
	OUT(st_jw_str(&b, "a\"b\\c", 5), "\"a\\\"b\\\\c\"", "quote and backslash");
	OUT(st_jw_str(&b, "a/b", 3), "\"a/b\"", "slash kept");
	OUT(st_jw_str(&b, "\n\t\r", 3), "\"\\n\\t\\r\"", "newline tab return");
	OUT(st_jw_str(&b, "\x01\x1f\b\f", 4), "\"\\u0001\\u001f\\u0008\\u000c\"",
	    "other controls as \\u00XX");
	OUT(st_jw_str(&b, "a\0b", 3), "\"a\\u0000b\"", "NUL");
	OUT(st_jw_str(&b, "\x7f", 1), "\"\x7f\"", "DEL kept");
	OUT(st_jw_str(&b, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14),
	    "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"", "UTF-8 kept");
	OUT(st_jw_str(&b, "\xe2\x80\xa8", 3), "\"\xe2\x80\xa8\"", "U+2028 kept");
	OUT(st_jw_str(&b, "a\xffz", 3), "\"a\xef\xbf\xbdz\"", "invalid byte -> U+FFFD");
	OUT(st_jw_str(&b, "\xc3", 1), "\"\xef\xbf\xbd\"", "cut sequence -> U+FFFD");
	OUT(st_jw_str(&b, "\xed\xa0\x80", 3),
	    "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"", "encoded surrogate -> 3 x U+FFFD");
	OUT(st_jw_str(&b, "\xc0\xaf", 2), "\"\xef\xbf\xbd\xef\xbf\xbd\"", "overlong -> U+FFFD");

	/* every byte string of random bytes: valid JSON whose value is the
	 * input when the input was valid UTF-8 */
	st_arena *a = st_arena_create(1 << 20);
	uint32_t x = 1;
	int n = 5000, good = 0;
	for (int i = 0; i < n; i++) {
		char in[24];
		size_t len = (size_t)(i % 24);
		for (size_t k = 0; k < len; k++) {
			x = x * 1664525 + 1013904223;
			in[k] = (char)(i % 3 ? x >> 24 : (x >> 24) & 0x7f);
		}
		st_buf_reset(&b);
		st_jw_str(&b, in, len);
		json_error_t err;
		json_t *v = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
		st_json j;
		st_verr e;
		st_str s;
		st_json_init(&j, b.data, b.len);
		int r = st_json_str(&j, a, &s, NULL, &e);
		size_t ncp;
		bool valid = st_utf8_check(in, len, &ncp) == 0;
		if (v && r == 0 && (!valid || (s.len == len && !memcmp(s.ptr, in, len) &&
					       json_string_length(v) == len)))
			good++;
		else if (n - good < 5)
			diag("string %d did not round-trip", i);
		json_decref(v);
		st_arena_reset(a);
	}
	is_int(good, n, "%d random strings: valid JSON, same value when valid UTF-8", n);
	st_arena_free(a);
}

static void test_bytes(void)
{
	/* RFC 4648 section 10 test vectors */
	OUT(st_jw_bytes(&b, (const uint8_t *)"", 0), "\"\"", "base64 empty");
	OUT(st_jw_bytes(&b, (const uint8_t *)"f", 1), "\"Zg==\"", "f");
	OUT(st_jw_bytes(&b, (const uint8_t *)"fo", 2), "\"Zm8=\"", "fo");
	OUT(st_jw_bytes(&b, (const uint8_t *)"foo", 3), "\"Zm9v\"", "foo");
	OUT(st_jw_bytes(&b, (const uint8_t *)"foob", 4), "\"Zm9vYg==\"", "foob");
	OUT(st_jw_bytes(&b, (const uint8_t *)"fooba", 5), "\"Zm9vYmE=\"", "fooba");
	OUT(st_jw_bytes(&b, (const uint8_t *)"foobar", 6), "\"Zm9vYmFy\"", "foobar");
	OUT(st_jw_bytes(&b, (const uint8_t *)"\xfb\xff", 2), "\"+/8=\"", "+ and /");

	/* all lengths 0..300 of all byte values round-trip through the reader */
	st_arena *a = st_arena_create(1 << 20);
	uint8_t in[300];
	for (int i = 0; i < 300; i++)
		in[i] = (uint8_t)(i * 7 + 3);
	int good = 0;
	for (size_t len = 0; len < 300; len++) {
		st_buf_reset(&b);
		st_jw_bytes(&b, in, len);
		st_json j;
		st_verr e;
		st_bytes out;
		st_json_init(&j, b.data, b.len);
		if (st_json_bytes(&j, a, &out, &e) == 0 && out.len == len &&
		    !memcmp(out.ptr, in, len) && b.len == 2 + (len + 2) / 3 * 4)
			good++;
		st_arena_reset(a);
	}
	is_int(good, 300, "base64 of 300 lengths round-trips");
	st_arena_free(a);

	st_buf x;
	st_buf_init(&x, 8);
	st_jw_bytes(&x, in, 100);
	ok(x.failed, "base64 over max fails");
	st_buf_fini(&x);
}

static void test_dates(void)
{
	OUT(st_jw_date(&b, 0), "\"1970-01-01\"", "epoch day");
	OUT(st_jw_date(&b, -1), "\"1969-12-31\"", "day -1");
	OUT(st_jw_date(&b, 11016), "\"2000-02-29\"", "2000-02-29");
	OUT(st_jw_date(&b, 19782), "\"2024-02-29\"", "2024-02-29");
	OUT(st_jw_date(&b, -719162), "\"0001-01-01\"", "first day");
	OUT(st_jw_date(&b, 2932896), "\"9999-12-31\"", "last day");

	OUT(st_jw_time(&b, 0), "\"1970-01-01T00:00:00.000Z\"", "epoch");
	OUT(st_jw_time(&b, -1), "\"1969-12-31T23:59:59.999Z\"", "-1 ms");
	OUT(st_jw_time(&b, 1795685400000LL), "\"2026-11-26T09:30:00.000Z\"", "2026");
	OUT(st_jw_time(&b, 951777296789LL), "\"2000-02-28T22:34:56.789Z\"", "+14:00 back to UTC");
	OUT(st_jw_time(&b, -62135596800000LL), "\"0001-01-01T00:00:00.000Z\"", "first");
	OUT(st_jw_time(&b, 253402300799999LL), "\"9999-12-31T23:59:59.999Z\"", "last");

	/* every day from 0001 to 9999 (step 1) round-trips through the reader */
	int good = 0, n = 0;
	for (int32_t d = -719162; d <= 2932896; d += 1, n++) {
		st_buf_reset(&b);
		st_jw_date(&b, d);
		st_json j;
		st_verr e;
		st_date back;
		st_json_init(&j, b.data, b.len);
		good += st_json_date(&j, &back, &e) == 0 && back == d;
	}
	is_int(good, n, "all %d days of years 1..9999 round-trip", n);

	/* timestamps at random instants round-trip */
	uint64_t x = 88172645463325252ull;
	good = 0;
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		st_time t = (int64_t)(x % 315537897600000ull) - 62135596800000LL;
		st_buf_reset(&b);
		st_jw_time(&b, t);
		st_json j;
		st_verr e;
		st_time back;
		st_json_init(&j, b.data, b.len);
		good += st_json_time(&j, &back, &e) == 0 && back == t;
	}
	is_int(good, 20000, "20000 random timestamps round-trip");

	st_uuid u = { { 0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4,
			0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00 } };
	OUT(st_jw_uuid(&b, &u), "\"123e4567-e89b-12d3-a456-426614174000\"", "uuid");
}

int main(void)
{
	st_buf_init(&b, 1 << 20);
	test_buf();
	test_scalars();
	test_f64_roundtrip();
	test_str();
	test_bytes();
	test_dates();
	st_buf_fini(&b);
	return done_testing();
}

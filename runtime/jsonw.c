/* jsonw.c: the output buffer and the JSON value writer. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codecint.h"

void st_buf_init(st_buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max;
	b->failed = false;
}

void st_buf_fini(st_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void st_buf_reset(st_buf *b)
{
	b->len = 0;
	b->failed = false;
}

/* buf_room when the room is not there yet: grows b, or fails it. */
static bool buf_grow(st_buf *b, size_t n)
{
	if (b->failed)
		return false;
	if (n > b->max - b->len) {
		b->failed = true;
		return false;
	}
	size_t need = b->len + n + 1;
	if (need <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	char *p = realloc(b->data, cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

/* Room for n more bytes plus a '\0' we keep after the data (so that text
 * output can be handed to C string functions); false once over max. The
 * common case, room already there, inline: it runs for every append. */
static inline bool buf_room(st_buf *b, size_t n)
{
	if (!b->failed && n < b->cap - b->len && n <= b->max - b->len)
		return true;
	return buf_grow(b, n);
}

void st_buf_append(st_buf *b, const void *p, size_t n)
{
	if (!buf_room(b, n))
		return;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void st_buf_printf(st_buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if ((size_t)n < sizeof(tmp)) {
		st_buf_append(b, tmp, (size_t)n);
		return;
	}
	if (!buf_room(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
	size_t n;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		n = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		n = 3;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		n = 4;
	else
		return 0;
	if (n > avail)
		return 0;
	size_t ncp;
	return st_utf8_check((const char *)s, n, &ncp) == 0 ? n : 0;
}

/* How many leading bytes of s need no escaping (printable ASCII other than
 * '"' and '\\'), eight at a time: a byte b is flagged when b < 0x20
 * ((b - 0x20) borrows into bit 7 while b's bit 7 is clear), b >= 0x80, or
 * b equals '"' or '\\' (b ^ c is zero). Exact: no false flags. */
static size_t plain_prefix(const unsigned char *s, size_t len)
{
	const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t x, q, bs;
		memcpy(&x, s + i, 8);
		q = x ^ (ones * '"');
		bs = x ^ (ones * '\\');
		uint64_t bad = ((x - ones * 0x20) & ~x) | x |
			       ((q - ones) & ~q) | ((bs - ones) & ~bs);
		if (bad & high)
			break;
	}
	while (i < len && s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' && s[i] != '\\')
		i++;
	return i;
}

/* Quoted and escaped: '"', '\\' and control characters; UTF-8 is kept as
 * is. Bytes that are not valid UTF-8 become U+FFFD so that the output is
 * always valid JSON whatever a handler put in a string. */
void st_jw_str(st_buf *b, const char *str, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0;  /* s[run..i) is pending verbatim output */
	/* Most strings are plain printable ASCII: one check, one append. */
	i = plain_prefix(s, len);
	if (i == len && buf_room(b, len + 2)) {
		char *o = b->data + b->len;
		o[0] = '"';
		if (len)
			memcpy(o + 1, s, len);
		o[len + 1] = '"';
		b->len += len + 2;
		b->data[b->len] = '\0';
		return;
	}
	st_buf_lit(b, "\"");
	while (i < len) {
		unsigned char c = s[i];
		char esc[6];
		size_t esclen = 0, skip = 1;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			esclen = 2;
		} else if (c < 0x20) {
			const char *shortf = c == '\n' ? "\\n" : c == '\t' ? "\\t"
					   : c == '\r' ? "\\r" : NULL;
			if (shortf) {
				memcpy(esc, shortf, 2);
				esclen = 2;
			} else {
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 15];
				esclen = 6;
			}
		} else if (c >= 0x80) {
			skip = utf8_seq(s + i, len - i);
			if (skip) {
				i += skip;
				continue;
			}
			memcpy(esc, "\xEF\xBF\xBD", 3);  /* U+FFFD */
			esclen = 3;
			skip = 1;
		} else {
			i++;
			continue;
		}
		st_buf_append(b, s + run, i - run);
		st_buf_append(b, esc, esclen);
		i += skip;
		run = i;
	}
	st_buf_append(b, s + run, i - run);
	st_buf_lit(b, "\"");
}

void st_jw_bool(st_buf *b, bool v)
{
	if (v)
		st_buf_lit(b, "true");
	else
		st_buf_lit(b, "false");
}

/* Decimal digits of v at the end of out[20]; returns where they start.
 * (printf costs a few hundred instructions per number.) */
static char *u64_digits(char out[20], uint64_t v)
{
	char *p = out + 20;
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return p;
}

static void put_i64(st_buf *b, int64_t v)
{
	char tmp[21];
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	char *p = u64_digits(tmp + 1, u);
	if (v < 0)
		*--p = '-';
	st_buf_append(b, p, (size_t)(tmp + 21 - p));
}

void st_jw_i32(st_buf *b, int32_t v)
{
	put_i64(b, v);
}

/* JavaScript numbers hold integers exactly up to 2^53 - 1; past that a
 * number would silently lose digits in the client, a string does not. */
#define JS_SAFE_MAX 9007199254740991LL

void st_jw_i64(st_buf *b, int64_t v)
{
	if (v > JS_SAFE_MAX || v < -JS_SAFE_MAX) {
		st_buf_lit(b, "\"");
		put_i64(b, v);
		st_buf_lit(b, "\"");
	} else {
		put_i64(b, v);
	}
}

/* The shortest of %.15g, %.16g, %.17g that strtod reads back to the same
 * double (%.17g always does). JSON has no NaN or infinity: those are null,
 * though decoders never let them in. Assumes LC_NUMERIC is "C", as it is
 * unless the process calls setlocale. */
void st_jw_f64(st_buf *b, double v)
{
	if (!isfinite(v)) {
		st_buf_lit(b, "null");
		return;
	}
	char tmp[40];
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (prec == 17 || strtod(tmp, NULL) == v)
			break;
	}
	st_buf_append(b, tmp, strlen(tmp));
}

void st_jw_bytes(st_buf *b, const uint8_t *p, size_t len)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	st_buf_lit(b, "\"");
	if (len > (SIZE_MAX - 2) / 4 * 3 || !buf_room(b, (len + 2) / 3 * 4 + 1)) {
		b->failed = true;
		return;
	}
	char *o = b->data + b->len;
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t w = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = tab[w >> 18];
		*o++ = tab[w >> 12 & 63];
		*o++ = tab[w >> 6 & 63];
		*o++ = tab[w & 63];
	}
	if (len - i == 1) {
		uint32_t w = (uint32_t)p[i] << 16;
		*o++ = tab[w >> 18];
		*o++ = tab[w >> 12 & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (len - i == 2) {
		uint32_t w = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		*o++ = tab[w >> 18];
		*o++ = tab[w >> 12 & 63];
		*o++ = tab[w >> 6 & 63];
		*o++ = '=';
	}
	b->len = (size_t)(o - b->data);
	st_buf_lit(b, "\"");
}

/* Years outside 0001..9999 (never produced by our decoders) are written
 * with as many digits as they need, and a '-' before year 0. */
void st_jw_date(st_buf *b, st_date v)
{
	int64_t y;
	unsigned m, d;
	st__civil_from_days(v, &y, &m, &d);
	st_buf_printf(b, "\"%04" PRId64 "-%02u-%02u\"", y, m, d);
}

void st_jw_time(st_buf *b, st_time v)
{
	/* floor division: -1 ms is 1969-12-31T23:59:59.999Z */
	int64_t days = v / 86400000, ms = v % 86400000;
	if (ms < 0) {
		ms += 86400000;
		days--;
	}
	int64_t y;
	unsigned m, d;
	st__civil_from_days(days, &y, &m, &d);
	unsigned hh = (unsigned)(ms / 3600000), mi = (unsigned)(ms / 60000 % 60),
		 ss = (unsigned)(ms / 1000 % 60), mss = (unsigned)(ms % 1000);
	if (y < 0 || y > 9999) {
		st_buf_printf(b, "\"%04" PRId64 "-%02u-%02uT%02u:%02u:%02u.%03uZ\"",
			      y, m, d, hh, mi, ss, mss);
		return;
	}
	/* The common case by hand: this runs once per response. */
	char t[] = "\"0000-00-00T00:00:00.000Z\"";
	unsigned yy = (unsigned)y;
	t[1] = (char)('0' + yy / 1000);
	t[2] = (char)('0' + yy / 100 % 10);
	t[3] = (char)('0' + yy / 10 % 10);
	t[4] = (char)('0' + yy % 10);
	t[6] = (char)('0' + m / 10);
	t[7] = (char)('0' + m % 10);
	t[9] = (char)('0' + d / 10);
	t[10] = (char)('0' + d % 10);
	t[12] = (char)('0' + hh / 10);
	t[13] = (char)('0' + hh % 10);
	t[15] = (char)('0' + mi / 10);
	t[16] = (char)('0' + mi % 10);
	t[18] = (char)('0' + ss / 10);
	t[19] = (char)('0' + ss % 10);
	t[21] = (char)('0' + mss / 100);
	t[22] = (char)('0' + mss / 10 % 10);
	t[23] = (char)('0' + mss % 10);
	st_buf_append(b, t, sizeof t - 1);
}

void st_jw_uuid(st_buf *b, const st_uuid *v)
{
	const uint8_t *u = v->b;
	st_buf_printf(b,
		      "\"%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		      "%02x%02x%02x%02x%02x%02x\"",
		      u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
		      u[10], u[11], u[12], u[13], u[14], u[15]);
}

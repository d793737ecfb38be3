/* scalars.c: the text forms shared by JSON and FlatBuffers: dates, RFC 3339
 * timestamps, UUIDs, UTF-8 validation and base64. */
#include <string.h>

#include "codecint.h"

/* Howard Hinnant's days_from_civil / civil_from_days: exact for every
 * proleptic Gregorian date, no tables, no time zone database. */
int64_t st__days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void st__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned month_days(unsigned y, unsigned m)
{
	static const unsigned char days[12] = { 31, 28, 31, 30, 31, 30,
						31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* n decimal digits at s; -1 if any is not a digit. */
static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* "YYYY-MM-DD", years 0001..9999: the range RFC 3339 can write. */
static int parse_ymd(const char *s, int64_t *days)
{
	int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
	if (y < 1 || m < 1 || m > 12 || d < 1 || s[4] != '-' || s[7] != '-')
		return -1;
	if ((unsigned)d > month_days((unsigned)y, (unsigned)m))
		return -1;
	*days = st__days_from_civil(y, (unsigned)m, (unsigned)d);
	return 0;
}

int st_parse_date(const char *s, size_t len, st_date *out)
{
	int64_t days;
	if (len != 10 || parse_ymd(s, &days) < 0)
		return -1;
	*out = (st_date)days;
	return 0;
}

/* RFC 3339 section 5.6 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
 * with 't' and 'z' allowed in lower case. A leap second (:60) is refused:
 * Unix time cannot represent it and clamping would invent an instant.
 * Fractions beyond milliseconds are truncated toward the past. */
int st_parse_time(const char *s, size_t len, st_time *out)
{
	int64_t days;
	if (len < 20 || parse_ymd(s, &days) < 0)
		return -1;
	if (s[10] != 'T' && s[10] != 't')
		return -1;
	int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
	if (s[13] != ':' || s[16] != ':' || h < 0 || h > 23 || mi < 0 ||
	    mi > 59 || sec < 0 || sec > 59)
		return -1;
	size_t i = 19;
	int ms = 0;
	if (s[i] == '.') {
		size_t n = 0;
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, n++)
			if (n < 3)
				ms = ms * 10 + (s[i] - '0');
		if (n == 0)
			return -1;
		for (; n < 3; n++)
			ms *= 10;
	}
	if (i >= len)
		return -1;
	int64_t offset = 0;  /* seconds east of UTC */
	if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
		offset = 0;
	} else if ((s[i] == '+' || s[i] == '-') && i + 6 == len) {
		int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59 || s[i + 3] != ':')
			return -1;
		offset = (oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
	} else {
		return -1;
	}
	int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset;
	*out = secs * 1000 + ms;
	return 0;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 8-4-4-4-12 hex digits, either case, nothing else (no braces, no urn:). */
int st_parse_uuid(const char *s, size_t len, st_uuid *out)
{
	if (len != 36)
		return -1;
	st_uuid u;
	int n = 0;
	for (size_t i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -1;
			continue;
		}
		int hi = hexval((unsigned char)s[i]);
		int lo = i + 1 < 36 ? hexval((unsigned char)s[i + 1]) : -1;
		if (hi < 0 || lo < 0)
			return -1;
		u.b[n++] = (uint8_t)(hi << 4 | lo);
		i++;
	}
	*out = u;
	return 0;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no encoded surrogates, nothing
 * above U+10FFFF. Written independently of the re2c rules in json.re so that
 * the tests can check one against the other. */
int st_utf8_check(const char *str, size_t len, size_t *ncp)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, n = 0;
	while (i < len) {
		unsigned c = s[i];
		size_t k;           /* continuation bytes */
		unsigned lo = 0x80, hi = 0xBF; /* range of the second byte */
		if (c < 0x80) {
			i++;
			n++;
			continue;
		} else if (c >= 0xC2 && c <= 0xDF) {
			k = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			k = 2;
			if (c == 0xE0)
				lo = 0xA0;  /* overlong below U+0800 */
			if (c == 0xED)
				hi = 0x9F;  /* U+D800..U+DFFF */
		} else if (c >= 0xF0 && c <= 0xF4) {
			k = 3;
			if (c == 0xF0)
				lo = 0x90;  /* overlong below U+10000 */
			if (c == 0xF4)
				hi = 0x8F;  /* above U+10FFFF */
		} else {
			return -1;
		}
		if (len - i <= k)
			return -1;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return -1;
		for (size_t j = 2; j <= k; j++)
			if (s[i + j] < 0x80 || s[i + j] > 0xBF)
				return -1;
		i += k + 1;
		n++;
	}
	if (ncp)
		*ncp = n;
	return 0;
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int st__b64_decode(const char *str, size_t len, uint8_t *out, size_t *outlen)
{
	const unsigned char *s = (const unsigned char *)str;
	if (len % 4)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		int v[4];
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			v[k] = b64val(s[i + k]);
			if (v[k] < 0) {
				/* '=' only as the last one or two of the last group */
				if (s[i + k] != '=' || !last || k < 2)
					return -1;
				v[k] = 0;
				pad++;
			} else if (pad) {
				return -1;  /* "A=B=" */
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
			     (uint32_t)v[2] << 6 | (uint32_t)v[3];
		/* canonical: the bits the padding leaves unused must be 0 */
		if ((pad == 1 && (w & 0xFF)) || (pad == 2 && (w & 0xFFFF)))
			return -1;
		out[o++] = (uint8_t)(w >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(w >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)w;
	}
	*outlen = o;
	return 0;
}

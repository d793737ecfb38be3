/* log.c: JSON log lines on stderr. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "streamer/codec.h"

#define LOG_LINE_MAX 8192
#define LOG_STR_MAX 1024

static int log_level = ST__LOG_INFO;
static const char *const level_names[] = { "debug", "info", "warn", "error" };

void st__log_set_level(int level)
{
	log_level = level;
}

int st__log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

int st__log_enabled(int level)
{
	return level >= log_level;
}

static void put_str(st_buf *b, const char *s)
{
	if (!s) {
		st_buf_lit(b, "null");
		return;
	}
	size_t n = strlen(s);
	st_jw_str(b, s, n > LOG_STR_MAX ? LOG_STR_MAX : n);
}

static void put_id(st_buf *b, const char *key, const char *v)
{
	if (!v || !*v)
		return;
	st_buf_printf(b, ",\"%s\":", key);
	put_str(b, v);
}

/* Writes the fields of `fmt` ("k=%d k2=%s"): keys are ours (trusted),
 * values are escaped. */
static void put_fields(st_buf *b, const char *fmt, va_list ap)
{
	const char *p = fmt;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *eq = strchr(p, '=');
		if (!eq || eq[1] != '%')
			return; /* our bug: stop rather than misread va_args */
		st_buf_lit(b, ",\"");
		st_buf_append(b, p, (size_t)(eq - p));
		st_buf_lit(b, "\":");
		const char *c = eq + 2;
		if (strncmp(c, "s", 1) == 0) {
			put_str(b, va_arg(ap, const char *));
			c += 1;
		} else if (strncmp(c, "d", 1) == 0) {
			st_buf_printf(b, "%d", va_arg(ap, int));
			c += 1;
		} else if (strncmp(c, "u", 1) == 0) {
			st_buf_printf(b, "%u", va_arg(ap, unsigned));
			c += 1;
		} else if (strncmp(c, "lld", 3) == 0) {
			st_buf_printf(b, "%lld", va_arg(ap, long long));
			c += 3;
		} else if (strncmp(c, "llu", 3) == 0) {
			st_buf_printf(b, "%llu", va_arg(ap, unsigned long long));
			c += 3;
		} else if (strncmp(c, "zu", 2) == 0) {
			st_buf_printf(b, "%zu", va_arg(ap, size_t));
			c += 2;
		} else if (strncmp(c, "g", 1) == 0) {
			st_jw_f64(b, va_arg(ap, double));
			c += 1;
		} else {
			return;
		}
		p = c;
	}
}

void st__log(int level, const st__logctx *ctx, const char *msg,
	     const char *fields, ...)
{
	if (level < log_level)
		return;
	char tbuf[96];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(tbuf, sizeof tbuf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);

	st_buf b;
	st_buf_init(&b, LOG_LINE_MAX);
	st_buf_printf(&b, "{\"level\":\"%s\",\"time\":\"%s\",\"msg\":",
		      level_names[level], tbuf);
	put_str(&b, msg);
	if (ctx) {
		put_id(&b, "conn", ctx->conn);
		put_id(&b, "request", ctx->request);
		put_id(&b, "trace", ctx->trace);
	}
	if (fields) {
		va_list ap;
		va_start(ap, fields);
		put_fields(&b, fields, ap);
		va_end(ap);
	}
	st_buf_lit(&b, "}\n");
	if (b.failed) {
		st_buf_reset(&b);
		st_buf_printf(&b, "{\"level\":\"%s\",\"time\":\"%s\",\"msg\":"
			      "\"(log line too long)\"}\n",
			      level_names[level], tbuf);
	}
	/* One write(2): lines from threads do not interleave. */
	if (b.data) {
		ssize_t w = write(2, b.data, b.len);
		(void)w;
	}
	st_buf_fini(&b);
}

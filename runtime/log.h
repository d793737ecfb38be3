/* log.h: JSON log lines on stderr (level, time, message, ids, fields). */
#ifndef STREAMER_LOG_H
#define STREAMER_LOG_H

#include <stddef.h>

enum {
	ST__LOG_DEBUG,
	ST__LOG_INFO,
	ST__LOG_WARN,
	ST__LOG_ERROR,
};

/* The ids a line is about; any may be NULL. Borrowed for the call. */
typedef struct st__logctx {
	const char *conn;    /* connection id */
	const char *request; /* request id */
	const char *trace;   /* metadata.trace_id */
} st__logctx;

/* Lines below `level` are dropped. Not thread-safe: call before threads. */
void st__log_set_level(int level);
/* "debug", "info", "warn", "error" -> level, or -1. */
int st__log_level_parse(const char *s);
int st__log_enabled(int level);

/* One line: {"level":..,"time":..,"msg":..,"conn":..,"request":..,
 * "trace":..,<fields>}. `fields` is NULL or a space-separated list of
 * key=%d / %u / %lld / %llu / %zu / %g / %s, each taking one argument
 * (%s: any string, escaped; NULL gives null), e.g. "port=%d host=%s".
 * Thread-safe; one write per line; strings are cut at 1 KiB. */
void st__log(int level, const st__logctx *ctx, const char *msg,
	     const char *fields, ...);

#define st__log_info(msg, ...) st__log(ST__LOG_INFO, NULL, (msg), __VA_ARGS__)
#define st__log_warn(msg, ...) st__log(ST__LOG_WARN, NULL, (msg), __VA_ARGS__)
#define st__log_error(msg, ...) st__log(ST__LOG_ERROR, NULL, (msg), __VA_ARGS__)

#endif

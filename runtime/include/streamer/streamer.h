/* streamer.h: the API handlers call: request context, progress, errors, memory. */
#ifndef STREAMER_H
#define STREAMER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bumped whenever the layout of anything generated code relies on changes.
 * Generated headers refuse to compile against another version. */
#define ST_ABI_VERSION 1

/* --- Values ------------------------------------------------------------ */

/* A UTF-8 string; ptr[len] is always '\0'. Borrowed: valid as long as the
 * request (its arena, or the frame it was decoded from). */
typedef struct st_str {
	const char *ptr;
	size_t len;
} st_str;

/* Raw bytes (the IDL's `bytes`, base64 in JSON). Same lifetime as st_str. */
typedef struct st_bytes {
	const uint8_t *ptr;
	size_t len;
} st_bytes;

/* The IDL's `uuid`: 16 bytes, in the order of the canonical text form. */
typedef struct st_uuid {
	uint8_t b[16];
} st_uuid;

/* The IDL's `date`: days since 1970-01-01 (negative before). */
typedef int32_t st_date;

/* The IDL's `timestamp`: milliseconds since the Unix epoch, UTC. */
typedef int64_t st_time;

#define ST_STR(lit) ((st_str){ (lit), sizeof(lit) - 1 })

/* --- Error codes -------------------------------------------------------- */

/* The built-in codes: name, retryable, default message. Append only: the
 * list yields the ST_E_* strings, the runtime's table and the docs. */
#define ST_BUILTIN_ERRORS(X)                                              \
	X(VALIDATION_ERROR, false, "The request is invalid")              \
	X(INVALID_ACTION, false, "Unknown action")                       \
	X(UNAUTHORIZED, false, "Authentication required")                \
	X(FORBIDDEN, false, "Permission denied")                         \
	X(NOT_FOUND, false, "No such request")                           \
	X(RATE_LIMITED, false, "Too many requests")                      \
	X(SERVICE_UNAVAILABLE, true, "Service temporarily unavailable")  \
	X(TIMEOUT, true, "The handler ran out of time")                  \
	X(CANCELLED, false, "The request was cancelled")                 \
	X(NOT_IMPLEMENTED, false, "This action is not implemented yet")  \
	X(INTERNAL_ERROR, false, "Internal error")

/* Codes are strings on the wire and in C: ST_E_NOT_FOUND is "NOT_FOUND".
 * Generated headers add <SERVICE>_E_<CODE> for a service's own codes. */
#define ST__ERROR_NAME(name, retryable, message) \
	static const char ST_E_##name[] = #name;
ST_BUILTIN_ERRORS(ST__ERROR_NAME)
#undef ST__ERROR_NAME

/* --- The request a handler runs for -------------------------------------- */

typedef struct st_req st_req; /* opaque; valid until the handler returns */

/* What a handler or validator returns. */
enum {
	ST_OK = 0,     /* the result struct is filled in */
	ST_FAIL = -1,  /* st_fail() or st_invalid() recorded why */
	ST_DEFER = 1,  /* sync action only: queue me and run me async instead */
};

/* Records an error and returns ST_FAIL, so handlers write
 *     return st_fail(req, REPORTS_E_REPORT_TOO_LARGE, "%d days", n);
 * `code` is a built-in ST_E_* or one the action declares in `errors`; any
 * other code is reported to the client as INTERNAL_ERROR and logged. A NULL
 * or empty format uses the code's default message. */
int st_fail(st_req *req, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* For validators: VALIDATION_ERROR naming `field` (a path such as
 * "payload.range.end"). Returns ST_FAIL. */
int st_invalid(st_req *req, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Reports progress of an async request: `percentage` is clamped to 0..100
 * and never goes down; rate-limited and coalesced by the runtime, so call it
 * as often as is natural. Returns ST_OK, or ST_FAIL when the request was
 * cancelled or timed out (the handler should return ST_FAIL at once; the
 * runtime already knows why). A no-op returning ST_OK for sync requests. */
int st_progress(st_req *req, double percentage, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* True once the request was cancelled or its attempt timed out. */
bool st_cancelled(st_req *req);

/* Zeroed memory that lives as long as the request; NULL only when the
 * request's memory cap is reached. Results may point into it. */
void *st_alloc(st_req *req, size_t size);

/* Copies into the request's memory (st_str{NULL,0} when out of memory). */
st_str st_strdup(st_req *req, const char *s);
st_str st_sprintf(st_req *req, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Who asked, and for what. Borrowed, valid while the request runs. */
const char *st_user_id(const st_req *req);
const char *st_tenant_id(const st_req *req);
const char *st_request_id(const st_req *req); /* "" for sync requests */
const char *st_client_id(const st_req *req);  /* the client's `id`, or "" */
int st_attempt(const st_req *req);           /* 1 for the first try */
bool st_is_async(const st_req *req);

/* The current time as an st_time (Unix milliseconds, UTC). */
st_time st_now(void);

#endif

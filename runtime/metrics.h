/* metrics.h: the counters and histograms behind GET /metrics. */
#ifndef STREAMER_METRICS_H
#define STREAMER_METRICS_H

#include "auth.h"
#include "streamer/registry.h"

/* Message types counted in and out: X(name, label). */
#define ST__MSG_TYPES(X)                                                  \
	X(REQUEST, "request") X(CANCEL, "cancel") X(STATUS, "status")     \
	X(LIST, "list") X(PING, "ping") X(PONG, "pong")                   \
	X(RESPONSE, "response") X(ACK, "acknowledgment")                  \
	X(PROGRESS, "progress") X(COMPLETE, "complete") X(ERROR, "error") \
	X(INVALID, "invalid")

typedef enum st__msg_type {
#define ST__MT_ENUM(name, label) ST__MT_##name,
	ST__MSG_TYPES(ST__MT_ENUM)
#undef ST__MT_ENUM
	ST__MT_N
} st__msg_type;

const char *st__msg_type_label(st__msg_type t);

/* Other events worth a counter. */
typedef enum st__event_counter {
	ST__C_CONNECTIONS,      /* accepted */
	ST__C_RATE_LIMITED,     /* messages refused */
	ST__C_ABUSE_CLOSED,     /* closed with 1008 */
	ST__C_FRAME_TOO_LARGE,  /* closed with 1009 */
	ST__C_SLOW_READER,      /* dropped: outbound queue full */
	ST__C_POOL_FULL,        /* refused: the handler pool is full */
	ST__C_LOOP_TAKEOVERS,   /* a job on the loop's thread was slow */
	ST__C_N
} st__event_counter;

/* Sizes the per-action series for `reg` (borrowed for the process's life).
 * 0 or -1 on OOM. Not thread-safe; every other call is. */
int st__metrics_init(const st_registry *reg);
void st__metrics_fini(void);

void st__metrics_conn(int delta);          /* open connections */
void st__metrics_in(st__msg_type t);
void st__metrics_out(st__msg_type t);
void st__metrics_count(st__event_counter c);
void st__metrics_rejected(st__auth_reason r);
/* A request's final status: code NULL for success. act NULL when unknown. */
void st__metrics_request(const st_action *act, const char *code);
void st__metrics_handler_seconds(const st_action *act, double s);
void st__metrics_e2e_seconds(const st_action *act, double s);
/* Set by the queue: requests waiting (a gauge). */
void st__metrics_queue_depth(long n);

/* The Prometheus text exposition of everything. */
void st__metrics_render(st_buf *b);

#endif

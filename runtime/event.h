/* event.h: what the async path tells the gateway about a request: the seam
 * between the queue/workers (which may run in another process) and the
 * connection that follows the request. Format-neutral: the gateway encodes
 * it as JSON or FlatBuffers for the connection that asked. */
#ifndef STREAMER_EVENT_H
#define STREAMER_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum st__event_kind {
	ST__EV_ACK,      /* queued (after commit) */
	ST__EV_PROGRESS, /* percentage + message */
	ST__EV_COMPLETE, /* result_json holds the action's result */
	ST__EV_ERROR,    /* error_code / error_message */
} st__event_kind;

/* The format of the request an event belongs to, when the poster knows it
 * (the acknowledgment's, from the request itself); the gateway remembers
 * it per request (follow.h) so that every event of a FlatBuffers request
 * is FlatBuffers, whatever else the connection sends meanwhile. */
enum { ST__EVFMT_UNKNOWN, ST__EVFMT_JSON, ST__EVFMT_FB };

typedef struct st__event {
	st__event_kind kind;
	char request_id[37];      /* canonical uuid text */
	char connection_id[64];   /* who follows it (routing) */
	const char *client_id;    /* the client's `id`, or NULL */
	const char *action;       /* action name */
	double percentage;        /* PROGRESS (and 100 for COMPLETE) */
	const char *message;      /* PROGRESS message, or NULL */
	int64_t timestamp_ms;     /* Unix ms */
	uint32_t estimated_duration_ms; /* ACK */
	uint8_t format;           /* ACK: the request's format, ST__EVFMT_* */
	const char *result_json;  /* COMPLETE: the result as JSON text */
	const char *error_code;   /* ERROR */
	const char *error_message;
} st__event;

/* Hands an event to this process's gateway (thread-safe; copies what it
 * needs; wakes the event loop). Returns 0, or -1 when no local connection
 * has `connection_id` (the caller then routes through the database). The
 * connection keeps the protocol's order per request (follow.h): progress
 * below what it was sent goes out raised, and an event after the final
 * message is dropped. */
int st__gateway_post(const st__event *ev);

#endif

/* follow.h: what one connection remembers of the async requests it follows,
 * so that each request's events reach it in protocol order: percentages
 * never decrease, one final message and nothing after it. Owned by the
 * connection, used on the event loop only: no locks. */
#ifndef STREAMER_FOLLOW_H
#define STREAMER_FOLLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "event.h"

/* The bound: at most ST__FOLLOW_MAX requests per connection (the table
 * grows from 8 slots to ST__FOLLOW_SLOTS_MAX, kept at most 3/4 full, so at
 * most 64 KiB). Every request acknowledged on the connection takes an
 * entry (its format). Beyond the bound, the request that had an event
 * least recently is forgotten: a finished one stops having events after
 * its final message dropped, a running one stops having its progress
 * raised and its events then follow the connection's latest format.
 * Either needs more than ST__FOLLOW_MAX requests in flight or finished
 * since on one connection. */
#define ST__FOLLOW_SLOTS_MAX 1024
#define ST__FOLLOW_MAX (ST__FOLLOW_SLOTS_MAX / 4 * 3)

typedef struct st__follow_ent st__follow_ent;

/* Embedded in the connection; the fields are follow.c's. */
typedef struct st__follow {
	st__follow_ent *v;  /* cap slots (NULL until the first entry) */
	uint32_t cap, n;
	uint64_t clock;     /* stamps entries, for the eviction */
} st__follow;

void st__follow_init(st__follow *f);
void st__follow_fini(st__follow *f);

/* Decides what becomes of an event of `kind` for `request_id`, and
 * remembers it: false to drop it (the final message already went out);
 * true to send it, with *pct (progress) raised to the highest percentage
 * already sent when it was lower, and *format (ST__EVFMT_*) set to the
 * request's format when it is known. A progress or final event takes an
 * entry (when memory runs out the event passes unguarded), and so does an
 * ack that brings the request's format (stored from *format). */
bool st__follow_event(st__follow *f, st__event_kind kind, const char *request_id,
		      double *pct, uint8_t *format);

/* How many requests are remembered (tests). */
uint32_t st__follow_count(const st__follow *f);

#endif

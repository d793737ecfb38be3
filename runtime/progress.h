/* progress.h: one async request's progress reporter: never decreasing, at
 * most one client update per interval and fewer database writes, coalesced
 * (the latest state wins), and closed before the final message so that
 * nothing follows it. */
#ifndef STREAMER_PROGRESS_H
#define STREAMER_PROGRESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define ST__PROGRESS_MSG_MAX 256 /* bytes of message kept (cut at UTF-8) */

/* Delivers one progress update to a local connection: 0, or -1 when the
 * connection is not in this process (the flusher then routes it through
 * the database). Called with the reporter's lock held, which is what keeps
 * updates in order. */
typedef int (*st__progress_emit)(void *ud, double pct, const char *msg);

typedef struct st__progress {
	pthread_mutex_t mu;
	pthread_cond_t idle;     /* signalled when inflight drops to 0 */
	double pct;              /* latest accepted; never decreases */
	char msg[ST__PROGRESS_MSG_MAX];
	int64_t client_at;       /* monotonic ms of the last client update */
	int64_t db_at;           /* ... and of the last database write */
	uint32_t client_ms, db_ms; /* minimum intervals */
	bool client_dirty;       /* newer than what the client has */
	bool db_dirty;           /* newer than the row */
	bool remote;             /* the connection is in another process */
	bool closed;             /* the final message is on its way */
	int inflight;            /* remote updates being sent by the flusher */
} st__progress;

/* `floor`: the percentage already shown (a retry never goes back). */
void st__progress_init(st__progress *p, double floor, uint32_t client_ms,
		       uint32_t db_ms);
void st__progress_fini(st__progress *p);

/* Records a report at monotonic time `now`: clamps to floor..100 (NaN
 * keeps the floor), keeps the message, and emits at once when the client's
 * interval has passed and the connection is local. Returns -1 when closed,
 * 1 when something is left for the flusher (a deferred or remote client
 * update, or a database write), 0 otherwise. */
int st__progress_report(st__progress *p, double pct, const char *msg,
			int64_t now, st__progress_emit emit, void *ud);

/* What the flusher takes from a reporter at time `now`. */
typedef struct st__progress_take {
	bool client;  /* a remote client update: call st__progress_sent after */
	bool db;      /* a database write */
	double pct;
	char msg[ST__PROGRESS_MSG_MAX];
} st__progress_take;

/* For the flusher: emits a due local client update itself; takes a due
 * remote one (counted in inflight) and a due database write into `t`.
 * Returns the monotonic time of the next thing due (INT64_MAX: none). */
int64_t st__progress_flush(st__progress *p, int64_t now, st__progress_emit emit,
			   void *ud, st__progress_take *t);

/* Ends a remote update taken by st__progress_flush. */
void st__progress_sent(st__progress *p);

/* Marks the connection as moved (a resume): local delivery is tried again. */
void st__progress_rebind(st__progress *p);

/* Closes the reporter: later reports are refused and pending updates
 * dropped; waits for remote updates in flight, so that the final message
 * is the last. */
void st__progress_close(st__progress *p);

/* Copies at most max-1 bytes of s, never cutting a UTF-8 sequence. */
void st__utf8_copy(char *dst, size_t max, const char *s);

#endif

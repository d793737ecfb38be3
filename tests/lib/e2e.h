/* e2e.h: what the end-to-end tests of the async path share: real
 * streamerd-test processes (killed at exit, also when the test fails),
 * tokens from streamer-cli, a WebSocket client that keeps every message it
 * received, checks of one request's message sequence, and psql helpers.
 * Header-only; include once per test program. */
#ifndef E2E_H
#define E2E_H

#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "testdb.h"
#include "wsclient.h"

#define E2E_SECRET "e2e-secret"

static inline long long e2e_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void e2e_sleep(int ms)
{
	struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&t, NULL);
}

static inline const char *e2e_build(void)
{
	return getenv("ST_BUILD") ? getenv("ST_BUILD") : "build";
}

/* --- servers -------------------------------------------------------------- */

#define E2E_SERVERS 8
static pid_t e2e_servers[E2E_SERVERS]; /* started and not yet stopped */

/* atexit: whatever is still running is killed (a failed test leaves no
 * process behind; tsrv_start also asks the kernel to kill its children
 * when the test itself dies). */
static void e2e_reap(void)
{
	for (int i = 0; i < E2E_SERVERS; i++) {
		if (e2e_servers[i] > 0) {
			kill(e2e_servers[i], SIGKILL);
			waitpid(e2e_servers[i], NULL, 0);
		}
		e2e_servers[i] = 0;
	}
}

/* Starts streamerd-test with the test's DATABASE_URL, short knobs for
 * tests, role `role` ("all", "gateway", "worker") and the extra "K=V"
 * settings (NULL terminated). BAIL_OUT when it does not start. */
static inline void e2e_start(tsrv *s, const char *role, ...)
{
	static bool hooked;
	if (!hooked) {
		atexit(e2e_reap);
		hooked = true;
	}
	static char bin[512], rolebuf[8][64];
	snprintf(bin, sizeof bin, "%s/tests/lib/streamerd-test", e2e_build());
	const char *env[32] = {
		"JWT_SECRET=" E2E_SECRET, "STREAMER_LEASE=1s",
		"STREAMER_RETRY_BASE=100ms", "STREAMER_WORKERS=4",
		"STREAMER_STATIC=", "STREAMER_DRAIN=1s",
	};
	int n = 6, slot = -1;
	for (int i = 0; i < E2E_SERVERS && slot < 0; i++)
		if (e2e_servers[i] <= 0)
			slot = i;
	if (slot < 0)
		BAIL_OUT("too many servers");
	snprintf(rolebuf[slot], sizeof rolebuf[slot], "STREAMER_ROLE=%s", role);
	env[n++] = rolebuf[slot];
	va_list ap;
	va_start(ap, role);
	for (const char *kv; n < 31 && (kv = va_arg(ap, const char *));)
		env[n++] = kv;
	va_end(ap);
	env[n] = NULL;
	if (tsrv_start(s, bin, env) < 0) {
		char *tail = sh_line("tail -c 600 %s | tr '\\n' ' '", s->log);
		diag("log: %s", tail ? tail : "");
		free(tail);
		BAIL_OUT("%s did not start (role %s)", bin, role);
	}
	e2e_servers[slot] = s->pid;
}

static inline void e2e_forget(const tsrv *s)
{
	for (int i = 0; i < E2E_SERVERS; i++)
		if (s->pid > 0 && e2e_servers[i] == s->pid)
			e2e_servers[i] = 0;
}

/* Stops a server started by e2e_start: its exit status (0: clean, and
 * under SAN=1 no sanitizer report, which would make it non-zero). */
static inline int e2e_stop(tsrv *s)
{
	e2e_forget(s);
	int rc = tsrv_stop(s);
	if (getenv("E2E_LOGS")) { /* a folder to keep the servers' logs in */
		char *r = sh_line("cp %s %s/ && echo", s->log, getenv("E2E_LOGS"));
		free(r);
	}
	if (rc != 0) {
		char *tail = sh_line("tail -c 1500 %s | tr '\\n' ' '", s->log);
		diag("exit %d, log: %s", rc, tail ? tail : "");
		free(tail);
	}
	return rc;
}

/* kill -9, reaped. */
static inline void e2e_kill9(tsrv *s)
{
	e2e_forget(s);
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
	}
	s->pid = 0;
}

/* --- clients -------------------------------------------------------------- */

typedef struct e2e_msg {
	json_t *j;
	long long at; /* monotonic ms when received */
} e2e_msg;

#define E2E_MSGS 4096
typedef struct e2e_client {
	wsc ws;
	bool open;
	e2e_msg msgs[E2E_MSGS];
	int n;
} e2e_client;

/* A token of user `sub` in `tenant`, signed with E2E_SECRET. */
static inline char *e2e_token(const char *sub, const char *tenant)
{
	return sh_line("%s/streamer-cli token --alg HS256 --secret " E2E_SECRET
		       " --sub %s --tenant %s", e2e_build(), sub, tenant);
}

/* The upgrade target that authenticates as `sub` in `tenant`. */
static inline void e2e_target(char *target, size_t n, const char *sub,
			      const char *tenant)
{
	char *tok = e2e_token(sub, tenant);
	snprintf(target, n, "/?Authorization=Bearer%%20%s", tok ? tok : "");
	free(tok);
}

/* Connects as `sub` in `tenant`; BAIL_OUT when the upgrade fails. */
static inline void e2e_connect(e2e_client *c, const tsrv *s, const char *sub,
			       const char *tenant)
{
	char target[2048];
	e2e_target(target, sizeof target, sub, tenant);
	memset(c, 0, sizeof *c);
	int st = wsc_connect(&c->ws, s->port, target, NULL, 0);
	if (st != 101)
		BAIL_OUT("cannot connect to port %d as %s/%s: %d", s->port, tenant, sub, st);
	c->open = true;
}

/* Drops the connection at once (no close handshake) and forgets nothing:
 * the messages received stay readable until e2e_free. */
static inline void e2e_drop(e2e_client *c)
{
	if (c->open)
		wsc_close(&c->ws);
	c->open = false;
}

static inline void e2e_free(e2e_client *c)
{
	e2e_drop(c);
	for (int i = 0; i < c->n; i++)
		json_decref(c->msgs[i].j);
	c->n = 0;
}

static inline __attribute__((format(printf, 2, 3))) void
e2e_send(e2e_client *c, const char *fmt, ...)
{
	char buf[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (!c->open || wsc_send_text(&c->ws, buf) < 0)
		diag("send failed: %s", buf);
}

/* Reads one message (up to `ms`) into the log. true when one came. */
static inline bool e2e_read(e2e_client *c, int ms)
{
	if (!c->open || c->n >= E2E_MSGS)
		return false;
	char *t = wsc_recv_text(&c->ws, ms);
	if (!t)
		return false;
	json_t *j = json_loads(t, 0, NULL);
	if (!j)
		diag("not JSON: %.200s", t);
	free(t);
	if (!j)
		return false;
	c->msgs[c->n].j = j;
	c->msgs[c->n].at = e2e_now();
	c->n++;
	return true;
}

/* Reads everything that arrives within `ms`. */
static inline void e2e_pump(e2e_client *c, int ms)
{
	long long end = e2e_now() + ms;
	while (e2e_now() < end)
		e2e_read(c, (int)(end - e2e_now()) + 1);
}

static inline const char *e2e_str(json_t *j, const char *key)
{
	return json_string_value(json_object_get(j, key));
}

/* Does message m match type (NULL: any), request_id (NULL: any) and the
 * client's id (NULL: any)? */
static inline bool e2e_match(json_t *m, const char *type, const char *rid,
			     const char *id)
{
	const char *t = e2e_str(m, "type"), *r = e2e_str(m, "request_id"),
		   *i = e2e_str(m, "id");
	return (!type || (t && !strcmp(t, type))) && (!rid || (r && !strcmp(r, rid))) &&
	       (!id || (i && !strcmp(i, id)));
}

/* The first message from index `from` matching, waiting up to `ms` for
 * it; NULL on timeout (borrowed from the log). */
static inline json_t *e2e_wait_from(e2e_client *c, int from, const char *type,
				    const char *rid, const char *id, int ms)
{
	long long end = e2e_now() + ms;
	for (int i = from;;) {
		for (; i < c->n; i++)
			if (e2e_match(c->msgs[i].j, type, rid, id))
				return c->msgs[i].j;
		if (e2e_now() >= end)
			return NULL;
		e2e_read(c, (int)(end - e2e_now()) + 1);
	}
}

static inline json_t *e2e_wait(e2e_client *c, const char *type, const char *rid,
			       const char *id, int ms)
{
	return e2e_wait_from(c, 0, type, rid, id, ms);
}

static inline bool e2e_is_final(json_t *m)
{
	const char *t = e2e_str(m, "type");
	return t && (!strcmp(t, "complete") || !strcmp(t, "error"));
}

static inline int e2e_count(e2e_client *c, const char *type, const char *rid)
{
	int n = 0;
	for (int i = 0; i < c->n; i++)
		if (e2e_match(c->msgs[i].j, type, rid, NULL))
			n++;
	return n;
}

static inline int e2e_count_finals(e2e_client *c, const char *rid)
{
	int n = 0;
	for (int i = 0; i < c->n; i++)
		if (e2e_match(c->msgs[i].j, NULL, rid, NULL) && e2e_is_final(c->msgs[i].j))
			n++;
	return n;
}

/* Waits for the request's final message (complete or error). */
static inline json_t *e2e_wait_final(e2e_client *c, const char *rid, int ms)
{
	long long end = e2e_now() + ms;
	for (int i = 0;;) {
		for (; i < c->n; i++)
			if (e2e_match(c->msgs[i].j, NULL, rid, NULL) &&
			    e2e_is_final(c->msgs[i].j))
				return c->msgs[i].j;
		if (e2e_now() >= end)
			return NULL;
		e2e_read(c, (int)(end - e2e_now()) + 1);
	}
}

/* What e2e_check found about one request's messages. */
/* Sends n `delay` requests at once (client ids m0, m1, ...), waits for
 * each one's acknowledgment and final message, then a little longer for
 * strays. *complete counts the ones that completed, *once those with
 * exactly one final message. */
static inline void e2e_delays_at_once(e2e_client *c, int n, int *complete, int *once)
{
	char rids[64][37];
	int from = c->n;
	if (n > 64)
		n = 64;
	for (int i = 0; i < n; i++)
		e2e_send(c, "{\"id\":\"m%d\",\"action\":\"delay\",\"payload\":{\"ms\":%d,\"steps\":2}}",
			 i, 50 + 20 * i);
	*complete = *once = 0;
	for (int i = 0; i < n; i++) {
		char id[8];
		snprintf(id, sizeof id, "m%d", i);
		json_t *a = e2e_wait_from(c, from, "acknowledgment", NULL, id, 10000);
		snprintf(rids[i], sizeof rids[i], "%s", a ? e2e_str(a, "request_id") : "");
		json_t *f = *rids[i] ? e2e_wait_final(c, rids[i], 10000) : NULL;
		*complete += f && !strcmp(e2e_str(f, "type"), "complete");
	}
	e2e_pump(c, 500);
	for (int i = 0; i < n; i++)
		*once += e2e_count_finals(c, rids[i]) == 1;
}

typedef struct e2e_seq {
	int acks, progress, finals;
	double first_pct, last_pct; /* of progress messages */
	json_t *final;              /* borrowed */
	int max_per_s;              /* most progress in any 1 s (server time) */
} e2e_seq;

/* Checks the protocol's ordering for request `rid` on this connection from
 * message `from` on: an acknowledgment first (when want_ack), percentages
 * never decreasing, exactly one final message and nothing after it (status
 * answers are not part of the sequence). false with diagnostics when not. */
static inline bool e2e_check(e2e_client *c, int from, const char *rid, bool want_ack,
			     e2e_seq *q)
{
	memset(q, 0, sizeof *q);
	q->first_pct = q->last_pct = -1;
	bool good = true, first = true;
	long long ts[E2E_MSGS];
	int nts = 0;
	for (int i = from; i < c->n; i++) {
		json_t *m = c->msgs[i].j;
		if (!e2e_match(m, NULL, rid, NULL))
			continue;
		const char *t = e2e_str(m, "type");
		if (!strcmp(t, "status"))
			continue;
		if (first && want_ack && strcmp(t, "acknowledgment")) {
			diag("%s: first message is %s, not the acknowledgment", rid, t);
			good = false;
		}
		first = false;
		if (q->finals) {
			diag("%s: %s after the final message", rid, t);
			good = false;
		}
		if (!strcmp(t, "acknowledgment")) {
			q->acks++;
		} else if (!strcmp(t, "progress")) {
			double p = json_number_value(json_object_get(m, "percentage"));
			if (p < q->last_pct) {
				diag("%s: progress went down %g -> %g", rid, q->last_pct, p);
				good = false;
			}
			if (q->first_pct < 0)
				q->first_pct = p;
			q->last_pct = p;
			q->progress++;
			ts[nts++] = (long long)json_number_value(json_object_get(m, "timestamp"));
		} else if (e2e_is_final(m)) {
			q->finals++;
			q->final = m;
		}
	}
	if (q->finals != 1) {
		diag("%s: %d final messages", rid, q->finals);
		good = false;
	}
	/* In any window [t, t + 1 s), allowing the timestamps (whole wall
	 * clock ms, taken a moment after the monotonic check) 2 ms. */
	for (int i = 0; i < nts; i++) {
		int k = i;
		while (k + 1 < nts && ts[k + 1] - ts[i] < 998)
			k++;
		if (k - i + 1 > q->max_per_s)
			q->max_per_s = k - i + 1;
	}
	return good;
}

/* The final message's error code, "" for complete, NULL when none. */
static inline const char *e2e_code(json_t *final)
{
	if (!final)
		return NULL;
	json_t *e = json_object_get(final, "error");
	return e ? e2e_str(e, "code") : "";
}

/* Sends a request and waits for its acknowledgment (by the client id):
 * the request_id, copied into rid[37]; "" when none came. */
static inline const char *e2e_submit(e2e_client *c, char rid[37], const char *id,
				     const char *action, const char *payload)
{
	int from = c->n;
	e2e_send(c, "{\"type\":\"request\",\"id\":\"%s\",\"action\":\"%s\",\"payload\":%s}",
		 id, action, payload);
	json_t *a = e2e_wait_from(c, from, "acknowledgment", NULL, id, 10000);
	snprintf(rid, 37, "%s", a ? e2e_str(a, "request_id") : "");
	if (!a) {
		json_t *e = e2e_wait_from(c, from, NULL, NULL, id, 0);
		char *s = e ? json_dumps(e, JSON_COMPACT) : NULL;
		diag("no acknowledgment for %s (%s)", id, s ? s : "nothing");
		free(s);
	}
	return rid;
}

/* One `delay` of 100 ms in 2 steps (client id l1) through a fault that
 * `what` names: four checks, that its final message arrives anyway,
 * complete, after the ack and progress, exactly once. rid gets its id. */
static inline void e2e_one_delay(e2e_client *c, char rid[37], const char *what)
{
	int from = c->n;
	e2e_seq q;
	e2e_submit(c, rid, "l1", "delay", "{\"ms\":100,\"steps\":2}");
	json_t *f = e2e_wait_final(c, rid, 10000);
	e2e_pump(c, 500); /* a second final would show now */
	ok(f != NULL, "the final message arrives although %s", what);
	is(f ? e2e_str(f, "type") : "nothing", "complete", "it is complete");
	ok(e2e_check(c, from, rid, true, &q), "ack, progress, exactly one final, nothing after");
	is_int(q.finals, 1, "one final message");
}

/* --- the database --------------------------------------------------------- */

/* Waits until the query's value is `want` (up to ms); the last value. */
static inline const char *e2e_val_wait(PGconn *c, const char *sql, const char *param,
				       const char *want, int ms)
{
	long long end = e2e_now() + ms;
	const char *v;
	while (strcmp(v = db_value(c, sql, param), want) && e2e_now() < end)
		e2e_sleep(20);
	return v;
}

/* Skips the whole test when it does not run under scripts/test.sh. */
static inline void e2e_need_env(void)
{
	if (!getenv("ST_TMP") || !getenv("DATABASE_URL"))
		skip_all("needs ST_TMP and DATABASE_URL (run under make test)");
}

#endif

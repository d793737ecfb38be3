/* asynctest.h: what the async engine's tests share: fake actions and their
 * runner, a sink that records every event, and small database helpers.
 * Header-only; include once per test program. */
#ifndef ASYNCTEST_H
#define ASYNCTEST_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "../../runtime/async.h"
#include "../../runtime/db.h"
#include "../../runtime/worker.h"
#include "tap.h"
#include "testdb.h"

/* --- fake actions (sorted by name, as streamc sorts them) ----------------
 *   echo:  returns {"echo":<payload>} at once
 *   flaky: fails with SERVICE_UNAVAILABLE (retryable), 3 attempts
 *   hang:  never reports, only checks st_cancelled; timeout 300 ms
 *   slow:  {"ms":M,"steps":S}: sleeps M ms in S steps, progress after each;
 *          2 attempts (a killed worker is retried)
 */
static const char *const flaky_errors[] = { "SERVICE_UNAVAILABLE" };
static const st_action fake_actions[] = {
	{ .name = "echo", .service = "t", .duration_ms = 10000 },
	{ .name = "flaky", .service = "t", .duration_ms = 10000, .retries = 2,
	  .errors = flaky_errors, .n_errors = 1 },
	{ .name = "hang", .service = "t", .duration_ms = 10000, .timeout_ms = 300 },
	{ .name = "slow", .service = "t", .duration_ms = 10000, .retries = 1 },
};
static const st_registry fake_registry = { .actions = fake_actions,
					   .n_actions = 4 };
/* Known to nobody's registry: stays pending. */
static const st_action parked_action = { .name = "parked", .duration_ms = 10000 };

static inline void sleep_ms(int ms)
{
	struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&t, NULL);
}

static inline void fake_run(void *ud, st__job *job, st__outcome *out)
{
	(void)ud;
	const char *name = st__job_action(job)->name;
	if (strcmp(name, "echo") == 0) {
		out->ok = true;
		st_buf_lit(&out->result, "{\"echo\":");
		st_buf_append(&out->result, st__job_payload(job),
			      st__job_payload_len(job));
		st_buf_lit(&out->result, "}");
	} else if (strcmp(name, "flaky") == 0) {
		strcpy(out->code, "SERVICE_UNAVAILABLE");
		snprintf(out->message, sizeof out->message, "attempt %d",
			 st__job_attempt(job));
	} else if (strcmp(name, "hang") == 0) {
		while (!st__job_stopped(job))
			sleep_ms(5);
		strcpy(out->code, "CANCELLED");
	} else if (strcmp(name, "slow") == 0) {
		int ms = 100, steps = 10;
		const char *p = strstr(st__job_payload(job), "\"ms\":");
		if (p)
			ms = atoi(p + 5);
		p = strstr(st__job_payload(job), "\"steps\":");
		if (p)
			steps = atoi(p + 8);
		for (int i = 1; i <= steps; i++) {
			sleep_ms(ms / steps);
			char m[32];
			snprintf(m, sizeof m, "step %d", i);
			if (st__job_progress(job, 100.0 * i / steps, m) != ST_OK) {
				strcpy(out->code, "CANCELLED");
				return;
			}
		}
		out->ok = true;
		st_buf_printf(&out->result, "{\"slept_ms\":%d}", ms);
	} else {
		strcpy(out->code, "NOT_IMPLEMENTED");
	}
}

/* --- the recording sink ---------------------------------------------------- */

typedef struct rec_event {
	st__event_kind kind;
	char request_id[37], connection_id[64];
	double pct;
	int64_t at; /* monotonic ms */
	char code[64];
	char result[256];
} rec_event;

#define REC_MAX 200000
typedef struct recorder {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	rec_event *ev;
	int n;
	const char *only_conn_prefix; /* refuse others (-1), as a gateway would */
} recorder;

static inline void rec_init(recorder *r)
{
	memset(r, 0, sizeof *r);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->ev = calloc(REC_MAX, sizeof *r->ev);
}

static inline void rec_fini(recorder *r)
{
	free(r->ev);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
}

static inline int rec_sink(void *ud, const st__event *ev)
{
	recorder *r = ud;
	if (r->only_conn_prefix &&
	    strncmp(ev->connection_id, r->only_conn_prefix,
		    strlen(r->only_conn_prefix)) != 0)
		return -1;
	pthread_mutex_lock(&r->mu);
	if (r->n < REC_MAX) {
		rec_event *e = &r->ev[r->n++];
		e->kind = ev->kind;
		strcpy(e->request_id, ev->request_id);
		strcpy(e->connection_id, ev->connection_id);
		e->pct = ev->percentage;
		e->at = st__mono_ms();
		snprintf(e->code, sizeof e->code, "%s",
			 ev->error_code ? ev->error_code : "");
		snprintf(e->result, sizeof e->result, "%s",
			 ev->result_json ? ev->result_json : "");
	}
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return 0;
}

static inline bool is_final(st__event_kind k)
{
	return k == ST__EV_COMPLETE || k == ST__EV_ERROR;
}

/* Waits up to ms for `n` final events for request ids in total (any). */
static inline int rec_count_finals(recorder *r, const char *rid)
{
	int n = 0;
	for (int i = 0; i < r->n; i++)
		if (is_final(r->ev[i].kind) && (!rid || !strcmp(r->ev[i].request_id, rid)))
			n++;
	return n;
}

static inline bool rec_wait_finals(recorder *r, const char *rid, int want, int ms)
{
	int64_t end = st__mono_ms() + ms;
	pthread_mutex_lock(&r->mu);
	while (rec_count_finals(r, rid) < want && st__mono_ms() < end) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r->cv, &r->mu, &ts);
	}
	bool ok = rec_count_finals(r, rid) >= want;
	pthread_mutex_unlock(&r->mu);
	return ok;
}

/* Waits for any event of `kind` for rid. */
static inline bool rec_wait_kind(recorder *r, const char *rid, st__event_kind kind, int ms)
{
	int64_t end = st__mono_ms() + ms;
	for (;;) {
		pthread_mutex_lock(&r->mu);
		for (int i = 0; i < r->n; i++)
			if (r->ev[i].kind == kind && !strcmp(r->ev[i].request_id, rid)) {
				pthread_mutex_unlock(&r->mu);
				return true;
			}
		pthread_mutex_unlock(&r->mu);
		if (st__mono_ms() > end)
			return false;
		sleep_ms(5);
	}
}

/* Checks one request's events: ack first (when want_ack), percentages
 * never decreasing, exactly one final and nothing after it. Returns the
 * final's kind or -1, with the failure as a diagnostic. */
static inline int rec_check(recorder *r, const char *rid, bool want_ack, int *n_progress)
{
	int finals = 0, kind = -1, np = 0;
	double last = -1;
	bool first = true, bad = false;
	pthread_mutex_lock(&r->mu);
	for (int i = 0; i < r->n; i++) {
		rec_event *e = &r->ev[i];
		if (strcmp(e->request_id, rid) != 0)
			continue;
		if (first && want_ack && e->kind != ST__EV_ACK) {
			diag("%s: first event is not the ack", rid);
			bad = true;
		}
		first = false;
		if (finals) {
			diag("%s: an event after the final one", rid);
			bad = true;
		}
		if (e->kind == ST__EV_PROGRESS) {
			np++;
			if (e->pct < last) {
				diag("%s: progress went down %g -> %g", rid, last, e->pct);
				bad = true;
			}
			last = e->pct;
		}
		if (is_final(e->kind)) {
			finals++;
			kind = e->kind;
		}
	}
	pthread_mutex_unlock(&r->mu);
	if (n_progress)
		*n_progress = np;
	if (finals != 1)
		diag("%s: %d final events", rid, finals);
	return bad || finals != 1 ? -1 : kind;
}

static inline const char *rec_final_code(recorder *r, const char *rid)
{
	static char code[64];
	code[0] = '\0';
	pthread_mutex_lock(&r->mu);
	for (int i = 0; i < r->n; i++)
		if (is_final(r->ev[i].kind) && !strcmp(r->ev[i].request_id, rid))
			strcpy(code, r->ev[i].code);
	pthread_mutex_unlock(&r->mu);
	return code;
}

/* --- submitting and waiting -------------------------------------------- */

typedef struct submitted {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done, existing;
	char request_id[37], status[16], error[64];
} submitted;

static inline void submitted_cb(void *ud, const st__submit_result *r)
{
	submitted *s = ud;
	pthread_mutex_lock(&s->mu);
	snprintf(s->request_id, sizeof s->request_id, "%s",
		 r->request_id ? r->request_id : "");
	snprintf(s->status, sizeof s->status, "%s", r->status ? r->status : "");
	snprintf(s->error, sizeof s->error, "%s", r->error_code ? r->error_code : "");
	s->existing = r->existing;
	s->done = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static inline void submitted_init(submitted *s)
{
	memset(s, 0, sizeof *s);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
}

static inline void submitted_wait(submitted *s)
{
	pthread_mutex_lock(&s->mu);
	while (!s->done)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

static inline int submit(st__async *a, submitted *s, const st_action *act,
		  const char *tenant, const char *user, const char *client_id,
		  const char *conn, const char *payload)
{
	submitted_init(s);
	st__submit sub = {
		.action = act, .user_id = user, .tenant_id = tenant,
		.client_id = client_id, .connection_id = conn,
		.payload_json = payload, .payload_len = strlen(payload),
	};
	return st__async_submit(a, &sub, submitted_cb, s);
}

/* A query answer copied out of the callback. */
typedef struct answer {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	char error[64];
	size_t n;
	char status[16], request_id[37];
	char result[256], errjson[256];
	double pct;
} answer;

static inline void answer_cb(void *ud, const st__query_result *r)
{
	answer *a = ud;
	pthread_mutex_lock(&a->mu);
	snprintf(a->error, sizeof a->error, "%s", r->error_code ? r->error_code : "");
	a->n = r->n;
	if (r->n) {
		snprintf(a->status, sizeof a->status, "%s", r->items[0].status);
		snprintf(a->request_id, sizeof a->request_id, "%s", r->items[0].request_id);
		snprintf(a->result, sizeof a->result, "%s",
			 r->items[0].result_json ? r->items[0].result_json : "");
		snprintf(a->errjson, sizeof a->errjson, "%s",
			 r->items[0].error_json ? r->items[0].error_json : "");
		a->pct = r->items[0].percentage;
	}
	a->done = true;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

static inline void answer_init(answer *a)
{
	memset(a, 0, sizeof *a);
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
}

static inline void answer_wait(answer *a)
{
	pthread_mutex_lock(&a->mu);
	while (!a->done)
		pthread_cond_wait(&a->cv, &a->mu);
	pthread_mutex_unlock(&a->mu);
}

/* --- database ----------------------------------------------------------- */

static inline void db_do(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		diag("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

/* An engine on the test's database with fast timings for tests. */
/* The settings the engine tests share: the fake registry, `rec` as the
 * sink, and timings short enough for a test. */
static inline st__async_config engine_config(recorder *rec, const char *role)
{
	return (st__async_config){
		.conninfo = getenv("DATABASE_URL"),
		.role = role,
		.registry = &fake_registry,
		.sink = { rec_sink, rec },
		.run = fake_run,
		.workers = 2,
		.backoff_base_ms = 50,
		.backoff_max_ms = 400,
		.sweep_ms = 200,
		.lease_ms = 1500,
		.rescue_ms = 200,
		.heartbeat_ms = 200,
	};
}

static inline st__async *engine_start(const st__async_config *cfg)
{
	st__async *a = st__async_create(cfg);
	if (!a || st__async_start(a) != 0)
		BAIL_OUT("cannot start the engine");
	return a;
}

static inline st__async *engine(recorder *rec, const char *role, int workers)
{
	st__async_config cfg = engine_config(rec, role);
	cfg.workers = workers;
	return engine_start(&cfg);
}

#endif

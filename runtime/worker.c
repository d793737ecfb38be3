/* worker.c: dispatcher, handler threads, progress flusher and finisher
 * (worker.h).
 *
 * Round trips, not threads, are what durable throughput costs, so the
 * database work is batched and done by three connections per process,
 * not one per handler thread:
 *   - the dispatcher's: LISTEN (queue hint, cancellations, events for this
 *     node's connections), claims of up to N rows per statement, lease
 *     renewal of every job it holds in one statement, lease rescue,
 *     heartbeat, retention;
 *   - the finisher's: the results of many jobs in one statement, fenced on
 *     the lease (locked_by, attempts, status), which also NOTIFYs the
 *     nodes holding the connections;
 *   - the flusher's: progress rows and progress for other nodes, batched.
 * Handler threads never touch the database. A job is claimed with a
 * lease (or its row was inserted claimed by this process's submitter, see
 * st__workers_reserve); while its handler runs the dispatcher renews it;
 * a job whose row
 * stopped being ours (cancelled, lease lost) or whose time ran out is
 * told through st__job_progress/st__job_stopped.
 *
 * Row locks: the statements that update several of this node's rows and
 * may wait (finish, renew, progress) lock them in request_id order first,
 * so that they cannot deadlock with each other; the rest skip locked rows.
 *
 * Locks: w->mu (lists, flags) may be held while taking a job's progress
 * lock, never the other way round, and never across a round trip. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "db.h"
#include "progress.h"
#include "testhooks.h"
#include "log.h"
#include "worker.h"

enum { STOP_NONE, STOP_REVOKED, STOP_TIMEOUT, STOP_SHUTDOWN };

struct st__job {
	st__workers *w;
	st__job *next, *prev; /* w->jobs: every job from claim to free */
	st__job *qnext;       /* w->runq or w->finq */
	char request_id[37];
	const char *action_name, *client_id, *user_id, *tenant_id, *payload;
	size_t payload_len;
	const st_action *action; /* NULL: this process does not know it */
	int attempt, max_attempts;
	uint32_t timeout_ms;
	char connection_id[64]; /* under prog.mu; "" when none */
	st__progress prog;
	atomic_int stop;
	/* under w->mu */
	int64_t deadline;
	bool running, handler_done, finalized, fin_done, timed_out;
	st__outcome out;  /* written by the handler thread */
	st__outcome tout; /* the TIMEOUT outcome, written by the dispatcher */
};

#define REFS_MAX 256
#define PARKED_MAX 1024

struct ref { /* an event from another node that travels by reference */
	st__event_kind kind;
	char request_id[37], connection_id[64];
};

struct st__workers {
	const st__async_config *cfg;
	st__queue *q;
	bool run_handlers;
	pthread_mutex_t mu;
	pthread_cond_t work;   /* runq not empty, or stopping */
	pthread_cond_t fin;    /* finq not empty, or stopping */
	pthread_cond_t prog;   /* a progress report to flush */
	st__job *jobs;
	int n_jobs;
	st__job *runq, *runq_tail;
	int n_runq;
	st__job *finq, *finq_tail;
	int n_finq;
	int reserved;   /* run queue slots promised to st__workers_add */
	int n_running;  /* handlers running */
	bool room_wanted; /* the dispatcher found no room: wake it on some */
	bool prog_kick;
	double ewma_ms; /* handler run time, to decide on prefetching */
	atomic_int stop_claims, stop_workers, stop_finisher, stop_flusher,
		stop_dispatcher;
	int wake[2]; /* pipe: a thread is free for rows left unclaimed (room_wanted), or stop */
	pthread_t dispatcher, finisher, flusher, *threads;
	int n_threads;
	bool started;
	/* dispatcher state */
	PGconn *dc;
	bool dwarned, need_claim;
	struct ref refs[REFS_MAX];
	int n_refs;
	/* Events from other nodes for requests whose acknowledgment this
	 * process has not posted yet (see on_node_event), oldest first. */
	st__event_msg *parked;
	int n_parked;
	char *actions_arr; /* the registry's action names as an array literal */
	/* A claim's connection broke after the statement was sent: it may have
	 * committed, leaving rows processing under this node with no job. The
	 * next connection adopts them (see adopt) before its first claim. */
	bool claim_unknown;
	/* Test hook, off (0) unless the test daemon sets
	 * st__test_hooks.lose_claim_replies to N (testhooks.h): the first N
	 * claims that returned rows are treated as if the connection broke
	 * between their commit and their reply (the reply is thrown away),
	 * the case adopt exists for. Only the dispatcher thread reads and
	 * writes it. */
	int lose_claims;
	/* Test hook, off (0) unless the test daemon sets
	 * st__test_hooks.lose_finish_replies to N (testhooks.h): the first N
	 * finish statements that changed rows are treated as if the connection
	 * broke between their commit and their reply (the reply is read and
	 * thrown away), the case recover_batch exists for. */
	atomic_int lose_replies;
	/* Test hook, off (0) unless the test daemon sets
	 * st__test_hooks.lose_cancel_replies to N (testhooks.h): the first N
	 * commits of SQL_CANCELLED that changed rows are treated as if the
	 * connection broke between the COMMIT and its reply, the case struct
	 * fin_lost exists for. Only the finisher thread reads and writes
	 * it. */
	int lose_cancels;
};

/* --- jobs ----------------------------------------------------------------- */

const st_action *st__job_action(const st__job *j) { return j->action; }
const char *st__job_payload(const st__job *j) { return j->payload; }
size_t st__job_payload_len(const st__job *j) { return j->payload_len; }
const char *st__job_request_id(const st__job *j) { return j->request_id; }
const char *st__job_client_id(const st__job *j) { return j->client_id; }
const char *st__job_user_id(const st__job *j) { return j->user_id; }
const char *st__job_tenant_id(const st__job *j) { return j->tenant_id; }
int st__job_attempt(const st__job *j) { return j->attempt; }

bool st__job_stopped(const st__job *j)
{
	return atomic_load(&j->stop) != STOP_NONE;
}

/* Called with j->prog.mu held. */
static int emit_local(void *ud, double pct, const char *msg)
{
	st__job *j = ud;
	if (!j->connection_id[0])
		return 0; /* nobody follows it: nothing to deliver */
	st__event ev = {
		.kind = ST__EV_PROGRESS,
		.client_id = *j->client_id ? j->client_id : NULL,
		.action = j->action_name,
		.percentage = pct,
		.message = msg,
		.timestamp_ms = st__wall_ms(),
	};
	strcpy(ev.request_id, j->request_id);
	strcpy(ev.connection_id, j->connection_id);
	return st__sink_post(&j->w->cfg->sink, &ev);
}

int st__job_progress(st__job *j, double pct, const char *msg)
{
	if (st__job_stopped(j))
		return ST_FAIL;
	int rc = st__progress_report(&j->prog, pct, msg ? msg : "",
				     st__mono_ms(), emit_local, j);
	if (rc < 0)
		return ST_FAIL;
	if (rc > 0) {
		st__workers *w = j->w;
		pthread_mutex_lock(&w->mu);
		w->prog_kick = true;
		pthread_cond_signal(&w->prog);
		pthread_mutex_unlock(&w->mu);
	}
	return st__job_stopped(j) ? ST_FAIL : ST_OK;
}

static const st_action *find_action(const st_registry *reg, const char *name)
{
	size_t lo = 0, hi = reg ? reg->n_actions : 0;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(name, reg->actions[mid].name);
		if (c == 0)
			return &reg->actions[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* A job for a request held by this node's lease: copies the strings. */
static st__job *job_new(st__workers *w, const char *request_id,
			const char *const f[5], const size_t len[5],
			const char *connection_id, int attempt, int max_attempts,
			uint32_t timeout_ms, double progress)
{
	size_t total = 0;
	for (int k = 0; k < 5; k++)
		total += len[k] + 1;
	st__job *j = calloc(1, sizeof *j + total);
	if (!j)
		return NULL;
	char *p = (char *)(j + 1);
	const char **dst[5] = { &j->action_name, &j->client_id, &j->user_id,
				&j->tenant_id, &j->payload };
	for (int k = 0; k < 5; k++) {
		memcpy(p, f[k], len[k]);
		p[len[k]] = '\0';
		*dst[k] = p;
		p += len[k] + 1;
	}
	j->w = w;
	j->payload_len = len[4];
	snprintf(j->request_id, sizeof j->request_id, "%s", request_id);
	snprintf(j->connection_id, sizeof j->connection_id, "%s", connection_id);
	j->attempt = attempt;
	j->max_attempts = max_attempts;
	j->timeout_ms = timeout_ms ? timeout_ms : w->cfg->default_timeout_ms;
	j->action = find_action(w->cfg->registry, j->action_name);
	st__progress_init(&j->prog, progress, w->cfg->progress_client_ms,
			  w->cfg->progress_db_ms);
	st_buf_init(&j->out.result, ST__RESULT_MAX);
	st_buf_init(&j->tout.result, 16);
	return j;
}

/* Makes a job from a claimed row (columns of SQL_CLAIM). */
static st__job *job_from_row(st__workers *w, PGresult *r, int i)
{
	const char *f[5];
	size_t len[5];
	for (int k = 0; k < 5; k++) {
		f[k] = PQgetvalue(r, i, k + 1);
		len[k] = (size_t)PQgetlength(r, i, k + 1);
	}
	return job_new(w, PQgetvalue(r, i, 0), f, len, PQgetvalue(r, i, 6),
		       atoi(PQgetvalue(r, i, 7)), atoi(PQgetvalue(r, i, 8)),
		       (uint32_t)strtoul(PQgetvalue(r, i, 9), NULL, 10),
		       strtod(PQgetvalue(r, i, 10), NULL));
}

/* Adds a new job to w->jobs and the run queue. Under w->mu. */
static void job_enqueue(st__workers *w, st__job *j)
{
	j->next = w->jobs;
	if (w->jobs)
		w->jobs->prev = j;
	w->jobs = j;
	w->n_jobs++;
	if (w->runq_tail)
		w->runq_tail->qnext = j;
	else
		w->runq = j;
	w->runq_tail = j;
	w->n_runq++;
}

static void job_free(st__job *j)
{
	st__progress_fini(&j->prog);
	st_buf_fini(&j->out.result);
	st_buf_fini(&j->tout.result);
	free(j);
}

/* Under w->mu. */
static void job_unlink(st__workers *w, st__job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		w->jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	w->n_jobs--;
}

static st__job *job_find(st__workers *w, const char *id)
{
	for (st__job *j = w->jobs; j; j = j->next)
		if (strcmp(j->request_id, id) == 0)
			return j;
	return NULL;
}

/* Under w->mu. */
static void push_fin(st__workers *w, st__job *j)
{
	j->qnext = NULL;
	if (w->finq_tail)
		w->finq_tail->qnext = j;
	else
		w->finq = j;
	w->finq_tail = j;
	w->n_finq++;
	pthread_cond_signal(&w->fin);
}

/* --- handler threads ------------------------------------------------------ */

static void *worker_main(void *arg)
{
	st__workers *w = arg;
	pthread_setname_np(pthread_self(), "st-worker"); /* top -H, perf */
	for (;;) {
		pthread_mutex_lock(&w->mu);
		while (!w->runq && !atomic_load(&w->stop_workers)) {
			/* The dispatcher left rows unclaimed for want of a
			 * free thread: tell it there is one. */
			if (w->room_wanted) {
				w->room_wanted = false;
				if (write(w->wake[1], "", 1) < 0) {
					/* full pipe: the dispatcher is awake anyway */
				}
			}
			pthread_cond_wait(&w->work, &w->mu);
		}
		if (atomic_load(&w->stop_workers)) {
			pthread_mutex_unlock(&w->mu);
			break;
		}
		st__job *j = w->runq;
		w->runq = j->qnext;
		if (!w->runq)
			w->runq_tail = NULL;
		w->n_runq--;
		w->n_running++;
		j->running = true;
		int64_t t0 = st__mono_ms();
		j->deadline = t0 + j->timeout_ms;
		pthread_mutex_unlock(&w->mu);

		st__queue_ack_wait(w->q, j->request_id);
		if (st__job_stopped(j)) {
			j->out.ok = false;
			strcpy(j->out.code, ST_E_CANCELLED);
		} else if (!j->action || !w->cfg->run) {
			j->out.ok = false;
			strcpy(j->out.code, ST_E_NOT_IMPLEMENTED);
		} else {
			w->cfg->run(w->cfg->run_ud, j, &j->out);
		}
		double ms = (double)(st__mono_ms() - t0);

		pthread_mutex_lock(&w->mu);
		w->ewma_ms = w->ewma_ms * 0.9 + ms * 0.1;
		w->n_running--;
		j->handler_done = true;
		bool mine = !j->finalized;
		j->finalized = true;
		if (!mine && j->fin_done) {
			job_unlink(w, j);
			job_free(j);
		}
		pthread_mutex_unlock(&w->mu);
		if (mine) {
			st__progress_close(&j->prog);
			pthread_mutex_lock(&w->mu);
			push_fin(w, j);
			pthread_mutex_unlock(&w->mu);
		}
	}
	return NULL;
}

/* --- outcomes ------------------------------------------------------------- */

struct builtin {
	const char *code, *message;
	bool retryable;
};
#define ST__BUILTIN_ROW(name, retry, msg) { #name, msg, retry },
static const struct builtin builtins[] = { ST_BUILTIN_ERRORS(ST__BUILTIN_ROW) };
#undef ST__BUILTIN_ROW

/* The code as the client sees it, whether to retry, and its default
 * message: built-in codes and the action's declared ones are kept, any
 * other becomes INTERNAL_ERROR. */
static const char *classify(const st__workers *w, const st__job *j,
			    const char *code, bool *retryable, const char **dflt)
{
	for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
		if (strcmp(code, builtins[i].code) == 0) {
			*retryable = builtins[i].retryable;
			*dflt = builtins[i].message;
			return builtins[i].code;
		}
	}
	const st_registry *reg = w->cfg->registry;
	bool declared = false;
	for (size_t i = 0; j->action && i < j->action->n_errors; i++)
		if (strcmp(code, j->action->errors[i]) == 0)
			declared = true;
	for (size_t i = 0; declared && reg && i < reg->n_errors; i++) {
		if (strcmp(code, reg->errors[i].code) == 0) {
			*retryable = reg->errors[i].retryable;
			*dflt = reg->errors[i].message;
			return reg->errors[i].code;
		}
	}
	*retryable = false;
	*dflt = "Internal error";
	return ST_E_INTERNAL_ERROR;
}

/* Exponential backoff from the base, doubled per attempt, capped, with
 * jitter in [0.75, 1.25). */
static long backoff_ms(const st__async_config *cfg, int attempt)
{
	double d = cfg->backoff_base_ms;
	for (int i = 1; i < attempt && d < cfg->backoff_max_ms; i++)
		d *= 2;
	if (d > cfg->backoff_max_ms)
		d = cfg->backoff_max_ms;
	unsigned r = 0;
	if (getrandom(&r, sizeof r, 0) != sizeof r)
		r = (unsigned)st__mono_ms();
	return (long)(d * (0.75 + 0.5 * (r / 4294967296.0)));
}

/* --- finisher ------------------------------------------------------------- */

/* Plans: the finisher's and the progress flusher's statements reach their
 * batch's rows through the primary key only, and are prepared once per
 * connection (st__keyed_connect) so that they are not planned on every run.
 * A queue table's statistics are always stale (the share of pending or
 * processing rows changes every millisecond, and a fresh table has none):
 * given a usable partial index, the planner took requests_running or
 * requests_claim for a one-row index and scanned it whole per batch or per
 * row (60 ms to finish 400 rows). Every partial index is on status, so the
 * status tests here are written so that none can serve them (STATUS_IS),
 * and their connections turn sequential scans off, which a generic plan
 * made on a small table would otherwise keep. They also take the generic
 * plan at once: a custom plan of the progress statement knows the batch's
 * size and looks cheaper, so PostgreSQL would plan it on every run. The rows are locked by a
 * single-table scan in request_id order (l), then updated by `request_id =
 * ANY(ARRAY(SELECT ...))`; per-row values come from a jsonb object keyed by
 * request id, not from a join. tests/3005 checks the generic plans. */

/* A test of a row's status that no index can serve (see above). */
#define STATUS_IS(alias, s) "(" alias ".status || '') = '" s "'"

PGconn *st__keyed_connect(const char *conninfo, bool *warned)
{
	PGconn *c = st__db_connect(conninfo, warned);
	if (c) {
		PQclear(st__db_exec(c, "SET enable_seqscan = off", 0, NULL));
		PQclear(st__db_exec(c, "SET plan_cache_mode = force_generic_plan",
				    0, NULL));
	}
	return c;
}

/* The fence of one row: its id and the attempt that ran, "id/attempt"
 * (matched with a hashed `= ANY` of a constant array). */
#define ROW_KEY "(request_id::text || '/' || attempts)"

/* $1 node, $2 ids, $3 their "id/attempt" keys, $4 outcomes: a jsonb object
 * keyed by id, each {"s": status, "r": result, "e": error, "d": retry
 * delay (ms), "l": release (give the attempt back: the process stopped
 * before running it)}, $5 result ttl (ms). */
#define OUT(k) "(v.o -> r.request_id::text -> '" k "')"
#define OUTT(k) "(v.o -> r.request_id::text ->> '" k "')"
static const char SQL_FINISH[] =
	"WITH l AS (SELECT request_id FROM streamer.requests q"
	"   WHERE request_id = ANY($2::uuid[]) AND " ROW_KEY " = ANY($3::text[])"
	"   AND locked_by = $1 AND " STATUS_IS("q", "processing")
	"   ORDER BY request_id FOR UPDATE),"
	" v AS (SELECT $4::jsonb AS o)"
	" UPDATE streamer.requests r SET status = " OUTT("s") ","
	" result = " OUT("r") ","
	" error = CASE WHEN " OUT("l") " = 'true' THEN r.error ELSE " OUT("e") " END,"
	" attempts = CASE WHEN " OUT("l") " = 'true' THEN r.attempts - 1"
	"   ELSE r.attempts END,"
	" progress = CASE WHEN " OUTT("s") " = 'completed' THEN 100 ELSE r.progress END,"
	" run_at = CASE WHEN " OUTT("s") " = 'pending' THEN now()"
	"   + make_interval(secs => " OUTT("d") "::float8 / 1000) ELSE r.run_at END,"
	" completed_at = CASE WHEN " OUTT("s") " = 'pending' THEN NULL ELSE now() END,"
	" expires_at = CASE WHEN " OUTT("s") " = 'pending' THEN NULL"
	"   ELSE now() + make_interval(secs => $5::float8 / 1000) END,"
	" locked_by = NULL, locked_until = NULL"
	" FROM v WHERE r.request_id = ANY(ARRAY(SELECT request_id FROM l))"
	" RETURNING r.request_id, r.status, r.connection_id,"
	" CASE WHEN r.status <> 'pending' THEN"
	"   streamer.route_final(r, $1) END";
#undef OUT
#undef OUTT

/* Jobs whose row was cancelled while they ran: this node tells the client
 * (the canceller left the lease in place for that). $2 ids, $3 keys. */
static const char SQL_CANCELLED[] =
	"UPDATE streamer.requests r SET locked_by = NULL, locked_until = NULL"
	" WHERE r.request_id = ANY($2::uuid[]) AND " ROW_KEY " = ANY($3::text[])"
	" AND r.locked_by = $1 AND " STATUS_IS("r", "cancelled")
	" RETURNING r.request_id, r.connection_id,"
	" streamer.route_final(r, $1),"
	" r.progress";

/* Appends the fence key of a job to an array literal. */
static void arr_key(st_buf *b, const char *id, int attempt)
{
	char k[64];
	snprintf(k, sizeof k, "%s/%d", id, attempt);
	st__db_arr_str(b, k);
}

struct fin_item {
	st__job *j;
	const st__outcome *o;
	const char *status, *code, *message;
	long delay;
	/* updated: its outcome is settled, by a reply of this batch or by
	 * recover_batch, and its final message (if any) was sent; nothing
	 * later sends another. */
	bool release, updated;
};

static void post_final(st__workers *w, const struct fin_item *f,
		       const char *conn, const char *status, double pct)
{
	st__job *j = f->j;
	bool ok = strcmp(status, "completed") == 0;
	bool cancelled = strcmp(status, "cancelled") == 0;
	st__event ev = {
		.kind = ok ? ST__EV_COMPLETE : ST__EV_ERROR,
		.client_id = *j->client_id ? j->client_id : NULL,
		.action = j->action_name,
		.percentage = ok ? 100 : pct,
		.timestamp_ms = st__wall_ms(),
		.result_json = ok ? f->o->result.data : NULL,
		.error_code = cancelled ? ST_E_CANCELLED : f->code,
		.error_message = cancelled ? "The request was cancelled" : f->message,
	};
	if (ok && !ev.result_json)
		ev.result_json = "{}";
	strcpy(ev.request_id, j->request_id);
	snprintf(ev.connection_id, sizeof ev.connection_id, "%s", conn);
	st__sink_post(&w->cfg->sink, &ev);
}

static bool local_node(const st__workers *w, PGresult *r, int i, int col)
{
	return PQgetisnull(r, i, col) ||
	       strcmp(PQgetvalue(r, i, col), w->cfg->node_id) == 0;
}

/* The rows of a batch whose finish statement may have committed without
 * its reply reaching us, as they are now: those that this attempt left
 * finished (completed or failed, no lease, the attempt unchanged). $1 ids,
 * $2 keys. */
static const char SQL_FINISHED[] =
	"SELECT r.request_id, r.status, r.connection_id,"
	" (SELECT c.node_id FROM streamer.connections c"
	"   WHERE c.connection_id = r.connection_id),"
	" r.error->>'code', r.error->>'message'"
	" FROM streamer.requests r"
	" WHERE r.request_id = ANY($1::uuid[]) AND " ROW_KEY " = ANY($2::text[])"
	" AND r.locked_by IS NULL"
	" AND (" STATUS_IS("r", "completed") " OR " STATUS_IS("r", "failed") ")";

static bool same(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* After a finish statement whose reply was lost (the connection broke
 * after sending it): settles the items that statement did finish, sending
 * their final messages now, since nobody else will (route_final already
 * NOTIFYed other nodes inside the committed statement). A row is ours when
 * it is completed, or failed with our error, by the attempt that ran (a
 * rescue fails a row with its own error, and tells the client itself).
 * The others stay unsettled: finishing them again is fenced. 0, or -1 when
 * the connection broke again (the outcome is still unknown). */
static int recover_batch(st__workers *w, PGconn *c, struct fin_item *it, int n,
			 st_buf *a)
{
	int todo = 0;
	st__db_arr_begin(&a[0]);
	st__db_arr_begin(&a[1]);
	for (int i = 0; i < n; i++) {
		if (it[i].updated || strcmp(it[i].status, "pending") == 0)
			continue; /* no final message to send for a retry */
		st__db_arr_str(&a[0], it[i].j->request_id);
		arr_key(&a[1], it[i].j->request_id, it[i].j->attempt);
		todo++;
	}
	if (!todo)
		return 0;
	st__db_arr_end(&a[0]);
	st__db_arr_end(&a[1]);
	const char *p[2] = { a[0].data, a[1].data };
	PGresult *r = st__db_exec(c, SQL_FINISHED, 2, p);
	if (!r)
		return st__db_broken(c) ? -1 : 0;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *id = PQgetvalue(r, i, 0);
		const char *st = PQgetvalue(r, i, 1);
		for (int k = 0; k < n; k++) {
			struct fin_item *f = &it[k];
			if (f->updated || strcmp(f->j->request_id, id) != 0 ||
			    strcmp(f->status, st) != 0)
				continue;
			if (strcmp(st, "failed") == 0 &&
			    (!same(f->code, PQgetvalue(r, i, 4)) ||
			     !same(f->message, PQgetvalue(r, i, 5))))
				continue;
			f->updated = true;
			if (!PQgetisnull(r, i, 2) && local_node(w, r, i, 3))
				post_final(w, f, PQgetvalue(r, i, 2), st,
					   f->j->prog.pct);
		}
	}
	PQclear(r);
	return 0;
}

/* A batch's SQL_CANCELLED transaction whose COMMIT was sent but whose
 * reply was lost: its id and the statement's rows (owned), until the next
 * connection learns whether it committed. */
struct fin_lost {
	char xid[32];
	PGresult *r;
};

/* Settles the items among the rows of SQL_CANCELLED (r, borrowed) and
 * sends their CANCELLED final messages. */
static void settle_cancelled(st__workers *w, struct fin_item *it, int n,
			     PGresult *r)
{
	for (int i = 0; i < PQntuples(r); i++) {
		const char *id = PQgetvalue(r, i, 0);
		for (int k = 0; k < n; k++) {
			if (it[k].updated || strcmp(it[k].j->request_id, id) != 0)
				continue;
			it[k].updated = true;
			if (!PQgetisnull(r, i, 1) && local_node(w, r, i, 2))
				post_final(w, &it[k], PQgetvalue(r, i, 1), "cancelled",
					   strtod(PQgetvalue(r, i, 3), NULL));
		}
	}
}

/* The test hook (see lose_replies): true when this reply is to be lost. */
static bool lose_reply(st__workers *w)
{
	return st__test_hook_take(&w->lose_replies, "finish reply");
}

/* Stores the batch's outcomes and sends the final messages, skipping
 * items already settled. 0, or -1 when the connection broke (run it again:
 * fenced rows are not written twice); *unknown is set when that happened
 * after the finish statement was sent, so that the next run first looks
 * at what it did (recover_batch), and cleared once it has; likewise
 * *lost when the COMMIT of SQL_CANCELLED lost its reply. */
static int finish_batch(st__workers *w, PGconn *c, struct fin_item *it, int n,
			st_buf *a, bool *unknown, struct fin_lost *lost)
{
	if (*unknown) {
		if (recover_batch(w, c, it, n, a) < 0)
			return -1;
		*unknown = false;
	}
	if (lost->r) { /* committed: its rows are settled; else run it again */
		int s = st__db_xact_status(c, lost->xid);
		if (s < 0 || s == 2)
			return -1;
		if (s == 1)
			settle_cancelled(w, it, n, lost->r);
		PQclear(lost->r);
		lost->r = NULL;
	}
	int todo = 0;
	st__db_arr_begin(&a[0]);
	st__db_arr_begin(&a[1]);
	st_buf *o = &a[2];
	st_buf_reset(o);
	st_buf_lit(o, "{");
	for (int i = 0; i < n; i++) {
		struct fin_item *f = &it[i];
		if (f->updated)
			continue;
		st_buf_printf(o, "%s", todo++ ? "," : "");
		st__db_arr_str(&a[0], f->j->request_id);
		arr_key(&a[1], f->j->request_id, f->j->attempt);
		st_buf_printf(o, "\"%s\":{\"s\":\"%s\",\"d\":%ld,\"l\":%s",
			      f->j->request_id, f->status, f->delay,
			      f->release ? "true" : "false");
		if (strcmp(f->status, "completed") == 0) {
			const st_buf *res = &f->o->result;
			st_buf_lit(o, ",\"r\":");
			if (res->len && !res->failed)
				st_buf_append(o, res->data, res->len);
			else
				st_buf_lit(o, "{}");
		}
		if (f->code) {
			st_buf_lit(o, ",\"e\":{\"code\":");
			st_jw_str(o, f->code, strlen(f->code));
			st_buf_lit(o, ",\"message\":");
			st_jw_str(o, f->message, strlen(f->message));
			st_buf_lit(o, "}");
		}
		st_buf_lit(o, "}");
	}
	st_buf_lit(o, "}");
	st_buf_append(o, "", 1); /* the NUL libpq needs */
	o->len--;
	st__db_arr_end(&a[0]);
	st__db_arr_end(&a[1]);
	char ttl[32];
	snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)w->cfg->result_ttl_ms);
	const char *p[5] = { w->cfg->node_id, a[0].data, a[1].data, o->data, ttl };
	PGresult *r = todo ? st__db_exec(c, SQL_FINISH, 5, p) : NULL;
	if (todo && r && PQntuples(r) > 0 && lose_reply(w)) {
		PQclear(r);
		*unknown = true;
		return -1;
	}
	if (todo && !r) {
		*unknown = st__db_broken(c);
		return *unknown ? -1 : 0;
	}
	for (int i = 0; r && i < PQntuples(r); i++) {
		const char *id = PQgetvalue(r, i, 0);
		const char *st = PQgetvalue(r, i, 1);
		for (int k = 0; k < n; k++) {
			if (it[k].updated || strcmp(it[k].j->request_id, id) != 0)
				continue;
			it[k].updated = true;
			if (strcmp(st, "pending") != 0 && !PQgetisnull(r, i, 2) &&
			    local_node(w, r, i, 3))
				post_final(w, &it[k], PQgetvalue(r, i, 2), st,
					   it[k].j->prog.pct);
		}
	}
	PQclear(r);

	/* The rest were cancelled, or are someone else's now. */
	int rest = 0;
	st__db_arr_begin(&a[0]);
	st__db_arr_begin(&a[1]);
	for (int i = 0; i < n; i++) {
		if (it[i].updated)
			continue;
		rest++;
		st__db_arr_str(&a[0], it[i].j->request_id);
		arr_key(&a[1], it[i].j->request_id, it[i].j->attempt);
	}
	if (!rest)
		return 0;
	st__db_arr_end(&a[0]);
	st__db_arr_end(&a[1]);
	const char *q[3] = { w->cfg->node_id, a[0].data, a[1].data };
	/* In a transaction whose id tells, after a lost COMMIT reply,
	 * whether the lease was cleared (struct fin_lost). */
	char xid[32];
	if (st__db_xact_begin(c, xid) < 0)
		goto fail;
	r = st__db_exec(c, SQL_CANCELLED, 3, q);
	if (!r)
		goto fail;
	PGresult *cm = st__db_exec(c, "COMMIT", 0, NULL);
	if (cm && PQntuples(r) > 0 && w->lose_cancels > 0) {
		w->lose_cancels--; /* the test hook: as if the reply was lost */
		st__log_warn("test hook", "lost=%s", "cancelled reply");
		PQclear(cm);
		cm = NULL; /* -1: the caller drops the connection */
	}
	if (!cm) { /* it may have committed */
		snprintf(lost->xid, sizeof lost->xid, "%s", xid);
		lost->r = r;
		return -1;
	}
	PQclear(cm);
	settle_cancelled(w, it, n, r);
	PQclear(r);
	return 0;
fail:
	if (st__db_broken(c))
		return -1;
	PQclear(PQexec(c, "ROLLBACK"));
	return 0;
}

static void classify_item(st__workers *w, struct fin_item *f)
{
	st__job *j = f->j;
	f->o = j->timed_out ? &j->tout : &j->out;
	f->release = atomic_load(&j->stop) == STOP_SHUTDOWN && !f->o->ok;
	if (f->release) {
		f->status = "pending";
		return;
	}
	if (f->o->ok && !f->o->result.failed) {
		f->status = "completed";
		return;
	}
	bool retry;
	const char *dflt;
	if (f->o->ok) { /* a result past the size limit */
		f->code = ST_E_INTERNAL_ERROR;
		f->message = "The result is too large";
		retry = false;
	} else {
		f->code = classify(w, j, f->o->code, &retry, &dflt);
		f->message = f->o->message[0] && f->code != ST_E_INTERNAL_ERROR
				     ? f->o->message
				     : dflt;
	}
	if (retry && j->attempt < j->max_attempts) {
		f->status = "pending";
		f->delay = backoff_ms(w->cfg, j->attempt);
	} else {
		f->status = "failed";
	}
}

static void *finisher_main(void *arg)
{
	st__workers *w = arg;
	pthread_setname_np(pthread_self(), "st-finish"); /* top -H, perf */
	int max = w->cfg->batch_max;
	struct fin_item *it = calloc((size_t)max, sizeof *it);
	st_buf a[3];
	for (int k = 0; k < 3; k++)
		st_buf_init(&a[k], 512u << 20);
	PGconn *c = NULL;
	bool warned = false;
	for (;;) {
		pthread_mutex_lock(&w->mu);
		while (!w->finq && !atomic_load(&w->stop_finisher))
			pthread_cond_wait(&w->fin, &w->mu);
		if (!w->finq) {
			pthread_mutex_unlock(&w->mu);
			break;
		}
		int n = 0;
		while (w->finq && n < max && it) {
			st__job *j = w->finq;
			w->finq = j->qnext;
			w->n_finq--;
			memset(&it[n], 0, sizeof it[n]);
			it[n++].j = j;
		}
		if (!w->finq)
			w->finq_tail = NULL;
		pthread_mutex_unlock(&w->mu);

		for (int i = 0; i < n; i++)
			classify_item(w, &it[i]);
		int delay = 50;
		bool unknown = false;
		struct fin_lost lost = { .r = NULL };
		for (;;) {
			if (!c || st__db_broken(c)) {
				if (c)
					PQfinish(c);
				c = st__keyed_connect(w->cfg->conninfo, &warned);
			}
			if (c && finish_batch(w, c, it, n, a, &unknown, &lost) == 0)
				break;
			if (c) { /* broken (or taken as broken by the test hook) */
				PQfinish(c);
				c = NULL;
			}
			/* Keep the results until the database is back: they
			 * are acknowledged work. */
			st__sleep_unless(delay, &(atomic_int){ 0 });
			delay = delay < 1000 ? delay * 2 : 1000;
		}

		pthread_mutex_lock(&w->mu);
		for (int i = 0; i < n; i++) {
			st__job *j = it[i].j;
			j->fin_done = true;
			if (j->handler_done) {
				job_unlink(w, j);
				job_free(j);
			}
		}
		pthread_mutex_unlock(&w->mu);
	}
	if (c)
		PQfinish(c);
	for (int k = 0; k < 3; k++)
		st_buf_fini(&a[k]);
	free(it);
	return NULL;
}

/* --- progress flusher ----------------------------------------------------- */

static const char SQL_PROGRESS[] =
	"WITH x AS (SELECT * FROM unnest($2::uuid[], $3::int[], $4::float8[],"
	" $5::text[]) AS x(id, att, p, m)),"
	" l AS (SELECT r.request_id FROM streamer.requests r JOIN x"
	"   ON r.request_id = x.id AND r.attempts = x.att"
	"   WHERE r.locked_by = $1 AND " STATUS_IS("r", "processing")
	"   ORDER BY r.request_id FOR UPDATE OF r)"
	" UPDATE streamer.requests r SET progress = greatest(r.progress, x.p),"
	" progress_message = x.m FROM x, l"
	" WHERE r.request_id = x.id AND l.request_id = x.id"
	" AND r.attempts = x.att AND r.locked_by = $1"
	" AND " STATUS_IS("r", "processing")
	" RETURNING r.request_id, coalesce(r.connection_id, '')";

const char *const st__keyed_sql[] = { SQL_FINISH, SQL_FINISHED,
				      SQL_CANCELLED, SQL_PROGRESS, NULL };

static const char SQL_ROUTE[] =
	"SELECT count(streamer.route_event(x.c, x.p, $1))"
	" FROM unnest($2::text[], $3::text[]) AS x(c, p)";

#define FLUSH_MAX 1024

struct db_item {
	char id[37];
	int attempt;
	bool seen;
};

/* Waits until kicked, stopping, or `next` (monotonic ms) is reached. */
static void flusher_wait(st__workers *w, int64_t next)
{
	while (!w->prog_kick && !atomic_load(&w->stop_flusher)) {
		int64_t now = st__mono_ms();
		if (next <= now)
			return;
		if (next == INT64_MAX) {
			pthread_cond_wait(&w->prog, &w->mu);
			continue;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t ms = next - now;
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&w->prog, &w->mu, &ts);
	}
}

/* Progress that needs the database: rows (at progress_db_ms per request)
 * and updates for connections on other nodes, each kind in one statement
 * per round. The row update also tells which jobs stopped being ours and
 * where each request's connection is now (a resume moves it). */
static void *flusher_main(void *arg)
{
	st__workers *w = arg;
	pthread_setname_np(pthread_self(), "st-flush"); /* top -H, perf */
	st__job **remote = calloc(FLUSH_MAX, sizeof *remote);
	struct db_item *dbi = calloc(FLUSH_MAX, sizeof *dbi);
	st_buf a[6], ev;
	for (int k = 0; k < 6; k++)
		st_buf_init(&a[k], 64u << 20);
	st_buf_init(&ev, ST__NOTIFY_MAX + 1024);
	PGconn *c = NULL;
	bool warned = false;
	int64_t next = INT64_MAX;
	while (remote && dbi) {
		pthread_mutex_lock(&w->mu);
		flusher_wait(w, next);
		if (atomic_load(&w->stop_flusher)) {
			pthread_mutex_unlock(&w->mu);
			break;
		}
		w->prog_kick = false;
		int64_t now = st__mono_ms();
		next = INT64_MAX;
		int nr = 0, nd = 0;
		for (int k = 0; k < 6; k++)
			st__db_arr_begin(&a[k]);
		for (st__job *j = w->jobs; j; j = j->next) {
			if (!j->running || j->finalized)
				continue;
			if (nr >= FLUSH_MAX || nd >= FLUSH_MAX) {
				next = now + 1;
				break;
			}
			st__progress_take t;
			int64_t due = st__progress_flush(&j->prog, now, emit_local, j, &t);
			if (due < next)
				next = due;
			if (t.db) {
				snprintf(dbi[nd].id, sizeof dbi[nd].id, "%s", j->request_id);
				dbi[nd].attempt = j->attempt;
				dbi[nd++].seen = false;
				st__db_arr_str(&a[0], j->request_id);
				st__db_arr_int(&a[1], j->attempt);
				st__db_arr_f64(&a[2], t.pct);
				st__db_arr_str(&a[3], t.msg);
			}
			if (t.client) {
				st__event e = {
					.kind = ST__EV_PROGRESS,
					.client_id = *j->client_id ? j->client_id : NULL,
					.action = j->action_name,
					.percentage = t.pct,
					.message = t.msg,
					.timestamp_ms = st__wall_ms(),
				};
				strcpy(e.request_id, j->request_id);
				pthread_mutex_lock(&j->prog.mu);
				strcpy(e.connection_id, j->connection_id);
				pthread_mutex_unlock(&j->prog.mu);
				st_buf_reset(&ev);
				st__event_encode(&e, &ev);
				st__db_arr_str(&a[4], e.connection_id);
				st__db_arr_strn(&a[5], ev.data, ev.len);
				remote[nr++] = j; /* held by its inflight count */
			}
		}
		pthread_mutex_unlock(&w->mu);
		if (!nr && !nd)
			continue;
		for (int k = 0; k < 6; k++)
			st__db_arr_end(&a[k]);
		if (!c || st__db_broken(c)) {
			if (c)
				PQfinish(c);
			c = st__keyed_connect(w->cfg->conninfo, &warned);
			/* Progress is not durable, so its commits need not
			 * wait for the disk either. */
			if (c)
				PQclear(st__db_exec(c, "SET synchronous_commit = off",
						    0, NULL));
		}
		/* Progress is not durable: if the database is away, it is
		 * dropped (the next report carries the latest state). */
		if (nr && c) {
			const char *p[3] = { w->cfg->node_id, a[4].data, a[5].data };
			PQclear(st__db_exec(c, SQL_ROUTE, 3, p));
		}
		for (int i = 0; i < nr; i++)
			st__progress_sent(&remote[i]->prog);
		if (!nd || !c)
			continue;
		const char *p[5] = { w->cfg->node_id, a[0].data, a[1].data,
				     a[2].data, a[3].data };
		PGresult *r = st__db_exec(c, SQL_PROGRESS, 5, p);
		if (!r)
			continue;
		pthread_mutex_lock(&w->mu);
		for (int i = 0; i < PQntuples(r); i++) {
			const char *id = PQgetvalue(r, i, 0);
			const char *conn = PQgetvalue(r, i, 1);
			for (int k = 0; k < nd; k++)
				if (strcmp(dbi[k].id, id) == 0)
					dbi[k].seen = true;
			st__job *j = job_find(w, id);
			if (!j)
				continue;
			pthread_mutex_lock(&j->prog.mu);
			if (strcmp(j->connection_id, conn) != 0 &&
			    strlen(conn) < sizeof j->connection_id) {
				strcpy(j->connection_id, conn);
				j->prog.remote = false;
			}
			pthread_mutex_unlock(&j->prog.mu);
		}
		for (int k = 0; k < nd; k++) {
			st__job *j = dbi[k].seen ? NULL : job_find(w, dbi[k].id);
			if (j && !j->finalized && j->attempt == dbi[k].attempt)
				atomic_store(&j->stop, STOP_REVOKED);
		}
		pthread_mutex_unlock(&w->mu);
		PQclear(r);
	}
	if (c)
		PQfinish(c);
	for (int k = 0; k < 6; k++)
		st_buf_fini(&a[k]);
	st_buf_fini(&ev);
	free(remote);
	free(dbi);
	return NULL;
}

/* --- dispatcher ----------------------------------------------------------- */

/* $1 node, $2 how many, $3 lease (ms), $4 the actions this process runs. */
static const char SQL_CLAIM[] =
	"UPDATE streamer.requests r SET status = 'processing', locked_by = $1,"
	" locked_until = now() + make_interval(secs => $3::float8 / 1000),"
	" attempts = r.attempts + 1, started_at = coalesce(r.started_at, now())"
	" WHERE r.request_id = ANY(ARRAY(SELECT request_id FROM streamer.requests"
	"   WHERE status = 'pending' AND run_at <= now()"
	"   AND action = ANY($4::text[])"
	"   ORDER BY run_at LIMIT $2 FOR UPDATE SKIP LOCKED))"
	/* Locked as pending (the lock rechecked the condition on the newest
	 * version) and held until commit: no status check is needed here,
	 * and none is made, so that the primary key is the only index the
	 * outer scan can use (see "Plans" above). */
	" RETURNING r.request_id, r.action, coalesce(r.client_id, ''), r.user_id,"
	" r.tenant_id, r.payload::text, coalesce(r.connection_id, ''),"
	" r.attempts, r.max_attempts, r.timeout_ms, r.progress";

/* The rows a claim whose reply was lost may have taken: processing under
 * this node, not among the jobs held ($3), renewed. Columns of SQL_CLAIM.
 * $1 node, $2 lease (ms), $3 ids held, $4 the actions this process runs. */
static const char SQL_ADOPT[] =
	"UPDATE streamer.requests r"
	" SET locked_until = now() + make_interval(secs => $2::float8 / 1000)"
	" WHERE r.request_id = ANY(ARRAY(SELECT request_id FROM streamer.requests"
	"   WHERE status = 'processing' AND locked_by = $1"
	"   AND NOT (request_id = ANY($3::uuid[]))"
	"   AND action = ANY($4::text[]) FOR UPDATE))"
	" RETURNING r.request_id, r.action, coalesce(r.client_id, ''), r.user_id,"
	" r.tenant_id, r.payload::text, coalesce(r.connection_id, ''),"
	" r.attempts, r.max_attempts, r.timeout_ms, r.progress";

/* Milliseconds until the earliest waiting retry (NULL: none). */
static const char SQL_NEXT_RUN[] =
	"SELECT (extract(epoch FROM min(run_at) - now()) * 1000)::bigint"
	" FROM streamer.requests WHERE status = 'pending'"
	" AND action = ANY($1::text[])";

static const char SQL_RENEW[] =
	"WITH l AS (SELECT request_id FROM streamer.requests"
	"   WHERE request_id = ANY($3::uuid[]) AND " ROW_KEY " = ANY($4::text[])"
	"   AND locked_by = $1 AND status = 'processing'"
	"   ORDER BY request_id FOR UPDATE)"
	" UPDATE streamer.requests r"
	" SET locked_until = now() + make_interval(secs => $2::float8 / 1000)"
	" WHERE r.request_id = ANY(ARRAY(SELECT request_id FROM l))"
	" RETURNING r.request_id";

/* Expired leases: their worker died (or lost the database for longer than
 * a lease). Another attempt after a backoff, or failed once attempts are
 * used up. $1 node, $2 backoff base, $3 backoff max, $4 result ttl. */
static const char SQL_RESCUE[] =
	"UPDATE streamer.requests r SET"
	" status = CASE WHEN r.attempts >= r.max_attempts THEN 'failed'"
	"   ELSE 'pending' END,"
	" error = jsonb_build_object('code', 'INTERNAL_ERROR', 'message',"
	"   'The worker running this request stopped'),"
	" run_at = now() + make_interval(secs => least($3::float8,"
	"   $2::float8 * power(2, greatest(r.attempts - 1, 0)))"
	"   * (0.75 + random() * 0.5) / 1000),"
	" locked_by = NULL, locked_until = NULL,"
	" completed_at = CASE WHEN r.attempts >= r.max_attempts THEN now() END,"
	" expires_at = CASE WHEN r.attempts >= r.max_attempts"
	"   THEN now() + make_interval(secs => $4::float8 / 1000) END"
	" FROM (SELECT request_id FROM streamer.requests"
	"       WHERE status = 'processing' AND locked_until < now()"
	"       LIMIT 100 FOR UPDATE SKIP LOCKED) c"
	" WHERE r.request_id = c.request_id AND r.status = 'processing'"
	" RETURNING r.request_id, r.status, r.connection_id, r.client_id,"
	" r.action, r.progress,"
	" CASE WHEN r.status = 'failed' THEN"
	"   streamer.route_final(r, $1) END";

/* Cancelled while running on a node that died before telling the client. */
static const char SQL_RESCUE_CANCELLED[] =
	"UPDATE streamer.requests r SET locked_by = NULL, locked_until = NULL"
	" FROM (SELECT request_id FROM streamer.requests"
	"       WHERE status = 'cancelled' AND locked_by IS NOT NULL"
	"       AND locked_until < now() LIMIT 100 FOR UPDATE SKIP LOCKED) c"
	" WHERE r.request_id = c.request_id"
	" RETURNING r.request_id, 'cancelled', r.connection_id, r.client_id,"
	" r.action, r.progress,"
	" streamer.route_final(r, $1)";

static const char SQL_RETENTION[] =
	"DELETE FROM streamer.requests WHERE request_id IN"
	" (SELECT request_id FROM streamer.requests"
	"  WHERE status IN ('completed', 'failed', 'cancelled')"
	"  AND expires_at < now() ORDER BY expires_at LIMIT $1"
	"  FOR UPDATE SKIP LOCKED)";

static const char SQL_HEARTBEAT[] =
	"INSERT INTO streamer.nodes (node_id, role, hostname, pid)"
	" VALUES ($1, $2, $3, $4)"
	" ON CONFLICT (node_id) DO UPDATE SET heartbeat_at = now()";

/* A dead node's connections go with it (ON DELETE CASCADE). */
static const char SQL_REAP_NODES[] =
	"DELETE FROM streamer.nodes WHERE node_id <> $1"
	" AND heartbeat_at < now() - make_interval(secs => $2::float8 / 1000)";

static const char SQL_REF[] =
	"SELECT r.status, r.client_id, r.action, r.progress, r.progress_message,"
	" r.result::text, r.error->>'code', r.error->>'message'"
	" FROM streamer.requests r WHERE r.request_id = $1";

static void on_request_note(st__workers *w, const char *extra)
{
	char id[37];
	if (strlen(extra) < 38 || extra[1] != ':')
		return;
	memcpy(id, extra + 2, 36);
	id[36] = '\0';
	pthread_mutex_lock(&w->mu);
	st__job *j = job_find(w, id);
	if (j && extra[0] == 'c' && !j->finalized) {
		atomic_store(&j->stop, STOP_REVOKED);
	} else if (j && extra[0] == 'r' && extra[38] == ':') {
		const char *conn = extra + 39;
		pthread_mutex_lock(&j->prog.mu);
		if (strlen(conn) < sizeof j->connection_id) {
			strcpy(j->connection_id, conn);
			j->prog.remote = false;
		}
		pthread_mutex_unlock(&j->prog.mu);
	}
	pthread_mutex_unlock(&w->mu);
}

/* Posts an event from another node (or queues it to be read from its row)
 * and frees it. */
static void relay(st__workers *w, st__event_msg *m)
{
	if (!m->ref) {
		st__sink_post(&w->cfg->sink, &m->ev);
	} else if (w->n_refs < REFS_MAX) {
		struct ref *r = &w->refs[w->n_refs++];
		r->kind = m->ev.kind;
		strcpy(r->request_id, m->ev.request_id);
		strcpy(r->connection_id, m->ev.connection_id);
	}
	st__event_msg_fini(m);
}

static bool is_parked(const st__workers *w, int upto, const char *request_id)
{
	for (int i = 0; i < upto; i++)
		if (strcmp(w->parked[i].ev.request_id, request_id) == 0)
			return true;
	return false;
}

/* Relays the parked events whose acknowledgment is out now, in order; an
 * event stays behind an earlier one of its request that stays. */
static void unpark(st__workers *w)
{
	int kept = 0;
	for (int i = 0; i < w->n_parked; i++) {
		st__event_msg *m = &w->parked[i];
		if (is_parked(w, kept, m->ev.request_id) ||
		    st__queue_ack_pending(w->q, m->ev.request_id))
			w->parked[kept++] = *m;
		else
			relay(w, m);
	}
	w->n_parked = kept;
}

/* An event from another node. A request this process accepted may have
 * run there before its acknowledgment was posted here (between the
 * submitter's commit and its post, or while it retries a batch): the ack
 * goes first, so such an event waits, parked, and the dispatcher goes on
 * (it checks the parked ones every millisecond). */
static void on_node_event(st__workers *w, const char *payload)
{
	st__event_msg m;
	if (st__event_decode(payload, &m) != 0) {
		st__event_msg_fini(&m);
		return;
	}
	if (w->n_parked)
		unpark(w);
	if (is_parked(w, w->n_parked, m.ev.request_id) ||
	    st__queue_ack_pending(w->q, m.ev.request_id)) {
		if (!w->parked)
			w->parked = malloc(PARKED_MAX * sizeof *w->parked);
		if (w->parked && w->n_parked < PARKED_MAX) {
			w->parked[w->n_parked++] = m;
			return;
		}
		st__log_warn("too many events waiting for their acknowledgment:"
			     " relayed now", "request=%s", m.ev.request_id);
	}
	relay(w, &m);
}

/* Notifications can arrive with any command's result: drained after each. */
static void drain(st__workers *w)
{
	PGnotify *n;
	while (w->dc && (n = PQnotifies(w->dc))) {
		if (strcmp(n->relname, "streamer_queue") == 0)
			w->need_claim = true;
		else if (strcmp(n->relname, "streamer_request") == 0)
			on_request_note(w, n->extra);
		else
			on_node_event(w, n->extra);
		PQfreemem(n);
	}
}

static PGresult *dexec(st__workers *w, const char *sql, int n, const char *const *p)
{
	PGresult *r = st__db_exec_planned(w->dc, sql, n, p);
	drain(w);
	return r;
}

/* Events from other nodes too large for a NOTIFY: read from the row. */
static void serve_refs(st__workers *w)
{
	for (int i = 0; i < w->n_refs; i++) {
		struct ref *f = &w->refs[i];
		const char *p[] = { f->request_id };
		PGresult *r = st__db_exec(w->dc, SQL_REF, 1, p);
		if (!r || PQntuples(r) != 1) {
			PQclear(r);
			continue;
		}
#define V(k) (PQgetisnull(r, 0, k) ? NULL : PQgetvalue(r, 0, k))
		st__event ev = {
			.kind = f->kind,
			.client_id = V(1),
			.action = V(2),
			.percentage = strtod(PQgetvalue(r, 0, 3), NULL),
			.message = V(4),
			.timestamp_ms = st__wall_ms(),
			.result_json = V(5),
			.error_code = V(6),
			.error_message = V(7),
		};
#undef V
		strcpy(ev.request_id, f->request_id);
		strcpy(ev.connection_id, f->connection_id);
		st__sink_post(&w->cfg->sink, &ev); /* after its ack: unpark */
		PQclear(r);
	}
	w->n_refs = 0;
	drain(w);
}

/* How many rows to claim now: one per idle thread not already fed, plus a
 * prefetch while handlers are fast (their leases are renewed all the
 * same, and a slow handler does not hold others back for long). */
/* How many more jobs the run queue should hold: one per thread not running
 * a handler (counted so rather than by idle threads, which at start have
 * not all reached their wait yet), or with prefetching (handlers are
 * short) a few more. Under w->mu. */
static int room(const st__workers *w)
{
	int want = w->n_threads - w->n_running - w->n_runq;
	if (w->cfg->prefetch > 0 && w->ewma_ms < 20)
		want = w->n_threads + w->cfg->prefetch - w->n_runq;
	return want - w->reserved;
}

static int claim_want(st__workers *w)
{
	pthread_mutex_lock(&w->mu);
	int want = room(w);
	w->room_wanted = want <= 0;
	if (want > w->cfg->batch_max)
		want = w->cfg->batch_max;
	pthread_mutex_unlock(&w->mu);
	return want;
}

/* --- requests inserted claimed -------------------------------------------- */

bool st__workers_runs(const st__workers *w, const char *action)
{
	return w && w->run_handlers && find_action(w->cfg->registry, action);
}

int st__workers_reserve(st__workers *w, int n)
{
	if (!w || !w->run_handlers || atomic_load(&w->stop_claims))
		return 0;
	pthread_mutex_lock(&w->mu);
	int r = room(w);
	if (n > r)
		n = r > 0 ? r : 0;
	w->reserved += n;
	pthread_mutex_unlock(&w->mu);
	return n;
}

void st__workers_release(st__workers *w, int n)
{
	if (!w || n <= 0)
		return;
	pthread_mutex_lock(&w->mu);
	w->reserved -= n;
	pthread_mutex_unlock(&w->mu);
}

void st__workers_add(st__workers *w, const st__new_job *v, int n)
{
	pthread_mutex_lock(&w->mu);
	for (int i = 0; i < n; i++) {
		const char *f[5] = { v[i].action, v[i].client_id ? v[i].client_id : "",
				     v[i].user_id, v[i].tenant_id, v[i].payload };
		size_t len[5];
		for (int k = 0; k < 5; k++)
			len[k] = k == 4 ? v[i].payload_len : strlen(f[k]);
		st__job *j = job_new(w, v[i].request_id, f, len, v[i].connection_id,
				     1, v[i].max_attempts, v[i].timeout_ms, 0);
		if (j)
			job_enqueue(w, j);
		/* else its lease runs out and the row is rescued, as a
		 * crashed worker's would be */
	}
	w->reserved -= n;
	for (int i = 0; i < n; i++) /* a thread per job, not all of them */
		pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
}

/* Makes jobs of the rows of a claim (columns of SQL_CLAIM) and queues them
 * to run. Returns how many rows there were; frees r. */
static int take_rows(st__workers *w, PGresult *r)
{
	int got = PQntuples(r);
	pthread_mutex_lock(&w->mu);
	for (int i = 0; i < got; i++) {
		st__job *j = job_from_row(w, r, i);
		if (j)
			job_enqueue(w, j);
		/* else its lease runs out; rescued later */
	}
	for (int i = 0; i < got; i++) /* a thread per job, not all of them */
		pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	PQclear(r);
	return got;
}

/* Claims up to `want` rows. Returns how many, or -1 on a broken
 * connection; then w->claim_unknown says whether the claim may have
 * committed (the statement was sent), for adopt to settle. */
static int claim(st__workers *w, int want)
{
	char n[16], lease[16];
	snprintf(n, sizeof n, "%d", want);
	snprintf(lease, sizeof lease, "%u", w->cfg->lease_ms);
	const char *p[] = { w->cfg->node_id, n, lease, w->actions_arr };
	PGresult *r = dexec(w, SQL_CLAIM, 4, p);
	if (!r) {
		if (!st__db_broken(w->dc))
			return 0;
		w->claim_unknown = true;
		return -1;
	}
	if (PQntuples(r) > 0 && w->lose_claims > 0) { /* the test hook */
		w->lose_claims--;
		st__log_warn("test hook", "lost=%s", "claim reply");
		PQclear(r);
		w->claim_unknown = true;
		return -1;
	}
	return take_rows(w, r);
}

/* After a claim whose outcome is unknown: starts jobs for the rows that
 * are processing under this node but held by no job of this process, as
 * if the claim had returned them (attempt as stored), renewing their
 * lease. Sound because only this dispatcher claims as this node, and no
 * job leaves w->jobs while its row is still processing under it. Returns
 * how many, or -1 on a broken connection (the outcome is still unknown). */
static int adopt(st__workers *w, st_buf *a)
{
	st__db_arr_begin(&a[0]);
	pthread_mutex_lock(&w->mu);
	for (st__job *j = w->jobs; j; j = j->next)
		st__db_arr_str(&a[0], j->request_id);
	pthread_mutex_unlock(&w->mu);
	st__db_arr_end(&a[0]);
	char lease[16];
	snprintf(lease, sizeof lease, "%u", w->cfg->lease_ms);
	const char *p[] = { w->cfg->node_id, lease, a[0].data, w->actions_arr };
	PGresult *r = dexec(w, SQL_ADOPT, 4, p);
	if (!r)
		return st__db_broken(w->dc) ? -1 : 0;
	w->claim_unknown = false;
	return take_rows(w, r);
}

/* Renews the lease of every job held; those no longer ours stop. A job
 * whose outcome waits for the finisher is held too: after the database
 * was away longer than a lease, its row must not be rescued (and the
 * result thrown away) before the finisher can store it. */
static int renew(st__workers *w, st_buf *a)
{
	st__db_arr_begin(&a[0]);
	st__db_arr_begin(&a[1]);
	int n = 0;
	pthread_mutex_lock(&w->mu);
	for (st__job *j = w->jobs; j; j = j->next) {
		if (j->fin_done)
			continue;
		st__db_arr_str(&a[0], j->request_id);
		arr_key(&a[1], j->request_id, j->attempt);
		n++;
	}
	pthread_mutex_unlock(&w->mu);
	if (!n)
		return 0;
	st__db_arr_end(&a[0]);
	st__db_arr_end(&a[1]);
	char lease[16];
	snprintf(lease, sizeof lease, "%u", w->cfg->lease_ms);
	const char *p[] = { w->cfg->node_id, lease, a[0].data, a[1].data };
	PGresult *r = dexec(w, SQL_RENEW, 4, p);
	if (!r)
		return st__db_broken(w->dc) ? -1 : 0;
	pthread_mutex_lock(&w->mu);
	for (st__job *j = w->jobs; j; j = j->next) {
		if (j->finalized) /* the outcome is decided: nothing to stop */
			continue;
		bool held = false;
		for (int i = 0; i < PQntuples(r) && !held; i++)
			held = strcmp(PQgetvalue(r, i, 0), j->request_id) == 0;
		/* A job claimed after the list was read is not in the
		 * answer: only jobs that were asked about can be lost. */
		bool asked = false;
		for (const char *s = strstr(a[0].data, j->request_id); s && !asked;
		     s = NULL)
			asked = true;
		if (asked && !held)
			atomic_store(&j->stop, STOP_REVOKED);
	}
	pthread_mutex_unlock(&w->mu);
	PQclear(r);
	return 0;
}

static void post_rescued(st__workers *w, PGresult *r)
{
	for (int i = 0; i < PQntuples(r); i++) {
		const char *st = PQgetvalue(r, i, 1);
		if (strcmp(st, "pending") == 0 || PQgetisnull(r, i, 2) ||
		    !local_node(w, r, i, 6))
			continue;
		bool cancelled = strcmp(st, "cancelled") == 0;
		st__event ev = {
			.kind = ST__EV_ERROR,
			.client_id = PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3),
			.action = PQgetvalue(r, i, 4),
			.percentage = strtod(PQgetvalue(r, i, 5), NULL),
			.timestamp_ms = st__wall_ms(),
			.error_code = cancelled ? ST_E_CANCELLED : ST_E_INTERNAL_ERROR,
			.error_message = cancelled ? "The request was cancelled"
						   : "The worker running this request stopped",
		};
		snprintf(ev.request_id, sizeof ev.request_id, "%s", PQgetvalue(r, i, 0));
		snprintf(ev.connection_id, sizeof ev.connection_id, "%s",
			 PQgetvalue(r, i, 2));
		st__sink_post(&w->cfg->sink, &ev);
	}
}

static int rescue(st__workers *w)
{
	char base[16], max[16], ttl[32];
	snprintf(base, sizeof base, "%u", w->cfg->backoff_base_ms);
	snprintf(max, sizeof max, "%u", w->cfg->backoff_max_ms);
	snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)w->cfg->result_ttl_ms);
	const char *p[] = { w->cfg->node_id, base, max, ttl };
	PGresult *r = dexec(w, SQL_RESCUE, 4, p);
	if (!r)
		return st__db_broken(w->dc) ? -1 : 0;
	bool any_pending = false;
	for (int i = 0; i < PQntuples(r); i++)
		any_pending |= strcmp(PQgetvalue(r, i, 1), "pending") == 0;
	post_rescued(w, r);
	PQclear(r);
	if (any_pending)
		w->need_claim = true;
	r = dexec(w, SQL_RESCUE_CANCELLED, 1, p);
	if (!r)
		return st__db_broken(w->dc) ? -1 : 0;
	post_rescued(w, r);
	PQclear(r);
	return 0;
}

static int retention(st__workers *w)
{
	char n[16];
	snprintf(n, sizeof n, "%d", w->cfg->retention_batch);
	const char *p[] = { n };
	for (int round = 0; round < 10; round++) {
		PGresult *r = dexec(w, SQL_RETENTION, 1, p);
		if (!r)
			return st__db_broken(w->dc) ? -1 : 0;
		int gone = atoi(PQcmdTuples(r));
		PQclear(r);
		if (gone < w->cfg->retention_batch)
			break;
	}
	return 0;
}

static int heartbeat(st__workers *w)
{
	char host[256] = "", pid[16], dead[16];
	gethostname(host, sizeof host - 1);
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	snprintf(dead, sizeof dead, "%u", w->cfg->node_dead_ms);
	const char *p[] = { w->cfg->node_id, w->cfg->role, host, pid };
	PGresult *r = dexec(w, SQL_HEARTBEAT, 4, p);
	if (!r)
		return st__db_broken(w->dc) ? -1 : 0;
	PQclear(r);
	const char *q[] = { w->cfg->node_id, dead };
	r = dexec(w, SQL_REAP_NODES, 2, q);
	if (!r)
		return st__db_broken(w->dc) ? -1 : 0;
	PQclear(r);
	return 0;
}

/* Attempts past their time: the client gets TIMEOUT (or a retry follows)
 * now; the handler thread sees st_cancelled and its result is dropped. */
static void time_out(st__workers *w, int64_t now, int64_t *next)
{
	st__job *due[64];
	int n = 0;
	pthread_mutex_lock(&w->mu);
	for (st__job *j = w->jobs; j && n < 64; j = j->next) {
		if (!j->running || j->finalized)
			continue;
		if (j->deadline <= now) {
			j->finalized = true;
			j->timed_out = true;
			atomic_store(&j->stop, STOP_TIMEOUT);
			due[n++] = j;
		} else if (j->deadline < *next) {
			*next = j->deadline;
		}
	}
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < n; i++) {
		st__job *j = due[i];
		j->tout.ok = false;
		strcpy(j->tout.code, ST_E_TIMEOUT);
		snprintf(j->tout.message, sizeof j->tout.message,
			 "The handler ran out of time (%u ms)", j->timeout_ms);
		st__progress_close(&j->prog);
		pthread_mutex_lock(&w->mu);
		push_fin(w, j);
		pthread_mutex_unlock(&w->mu);
	}
	if (n == 64)
		*next = now;
}

static int dconnect(st__workers *w)
{
	w->dc = st__db_connect(w->cfg->conninfo, &w->dwarned);
	if (!w->dc)
		return -1;
	char chan[128];
	snprintf(chan, sizeof chan, "streamer_node_%s", w->cfg->node_id);
	char *id = PQescapeIdentifier(w->dc, chan, strlen(chan));
	char sql[256];
	snprintf(sql, sizeof sql, "LISTEN %s", id ? id : "\"?\"");
	PQfreemem(id);
	const char *cmds[] = { sql, "LISTEN streamer_request",
			       w->run_handlers ? "LISTEN streamer_queue" : NULL };
	for (int i = 0; i < 3 && cmds[i]; i++) {
		PGresult *r = dexec(w, cmds[i], 0, NULL);
		if (!r)
			goto fail;
		PQclear(r);
	}
	if (heartbeat(w) < 0)
		goto fail;
	w->need_claim = true; /* sweep: notifications sent meanwhile are lost */
	return 0;
fail:
	PQfinish(w->dc);
	w->dc = NULL;
	return -1;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static void *dispatcher_main(void *arg)
{
	st__workers *w = arg;
	pthread_setname_np(pthread_self(), "st-dispatch"); /* top -H, perf */
	const st__async_config *cfg = w->cfg;
	st_buf a[2];
	st_buf_init(&a[0], 64u << 20);
	st_buf_init(&a[1], 64u << 20);
	int64_t t_sweep = 0, t_renew = 0, t_beat = 0, t_rescue = 0, t_ret = 0;
	int delay = 50;
	while (!atomic_load(&w->stop_dispatcher)) {
		if (!w->dc) {
			if (dconnect(w) < 0) {
				st__sleep_unless(delay, &w->stop_dispatcher);
				delay = delay < 1000 ? delay * 2 : 1000;
				continue;
			}
			delay = 50;
			int64_t now = st__mono_ms();
			t_beat = now + cfg->heartbeat_ms;
			t_renew = t_rescue = t_sweep = now;
		}
		int64_t now = st__mono_ms();
		int64_t next = now + 1000;
		int rc = 0;
		if (w->run_handlers) {
			time_out(w, now, &next);
			bool claiming = !atomic_load(&w->stop_claims);
			if (claiming && w->claim_unknown)
				rc = adopt(w, a) < 0 ? -1 : 0;
			int want = claiming && rc == 0 ? claim_want(w) : 0;
			if (want > 0 && (w->need_claim || now >= t_sweep)) {
				/* Cleared before the claim: a NOTIFY drained with
				 * its result is for rows its snapshot may not have
				 * seen, and must lead to another claim, not wait
				 * for the sweep. */
				w->need_claim = false;
				int got = claim(w, want);
				rc = got < 0 ? -1 : 0;
				if (got == want)
					w->need_claim = true; /* more may wait */
				else if (got >= 0)
					t_sweep = now + cfg->sweep_ms;
				if (got == 0) {
					const char *p[] = { w->actions_arr };
					PGresult *r = dexec(w, SQL_NEXT_RUN, 1, p);
					if (r && !PQgetisnull(r, 0, 0)) {
						long long ms = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
						t_sweep = min64(t_sweep, now + (ms > 0 ? ms : 0) + 1);
					}
					PQclear(r);
				}
			}
			if (want > 0 && w->need_claim)
				next = now; /* more to take at once */
			else if (want > 0)
				next = min64(next, t_sweep);
		}
		if (rc == 0 && now >= t_renew) {
			rc = renew(w, a);
			t_renew = now + cfg->lease_ms / 3;
		}
		if (rc == 0 && now >= t_beat) {
			rc = heartbeat(w);
			t_beat = now + cfg->heartbeat_ms;
		}
		if (rc == 0 && now >= t_rescue) {
			rc = rescue(w);
			t_rescue = now + cfg->rescue_ms;
		}
		if (rc == 0 && now >= t_ret) {
			rc = retention(w);
			t_ret = now + cfg->retention_ms;
		}
		if (w->n_parked)
			unpark(w);
		if (rc == 0 && w->n_refs)
			serve_refs(w);
		if (rc < 0 || st__db_broken(w->dc)) {
			PQfinish(w->dc);
			w->dc = NULL;
			continue;
		}
		next = min64(next, min64(t_renew, min64(t_beat, min64(t_rescue, t_ret))));
		int timeout = next > now ? (int)min64(next - now, 1000) : 0;
		if (w->n_parked && timeout > 1)
			timeout = 1;
		struct pollfd pf[2] = {
			{ .fd = PQsocket(w->dc), .events = POLLIN },
			{ .fd = w->wake[0], .events = POLLIN },
		};
		if (timeout > 0 && poll(pf, 2, timeout) > 0 && (pf[1].revents & POLLIN)) {
			char buf[256];
			while (read(w->wake[0], buf, sizeof buf) > 0) {
			}
		}
		if (!PQconsumeInput(w->dc)) {
			PQfinish(w->dc);
			w->dc = NULL;
			continue;
		}
		drain(w);
	}
	st_buf_fini(&a[0]);
	st_buf_fini(&a[1]);
	return NULL;
}

/* --- lifecycle ------------------------------------------------------------ */

st__workers *st__workers_create(const st__async_config *cfg, st__queue *q,
				bool run_handlers)
{
	st__workers *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->cfg = cfg;
	w->q = q;
	w->run_handlers = run_handlers;
	w->ewma_ms = 1000;
	w->wake[0] = w->wake[1] = -1;
	atomic_init(&w->lose_replies, st__test_hooks.lose_finish_replies);
	w->lose_cancels = st__test_hooks.lose_cancel_replies;
	w->lose_claims = st__test_hooks.lose_claim_replies;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->fin, NULL);
	pthread_cond_init(&w->prog, NULL);
	if (pipe2(w->wake, O_NONBLOCK | O_CLOEXEC) < 0)
		goto fail;
	st_buf b;
	st_buf_init(&b, 1u << 20);
	st__db_arr_begin(&b);
	for (size_t i = 0; cfg->registry && i < cfg->registry->n_actions; i++)
		st__db_arr_str(&b, cfg->registry->actions[i].name);
	st__db_arr_end(&b);
	w->actions_arr = b.failed ? NULL : strdup(b.data);
	st_buf_fini(&b);
	if (!w->actions_arr)
		goto fail;
	w->n_threads = run_handlers ? cfg->workers : 0;
	w->threads = calloc((size_t)w->n_threads + 1, sizeof *w->threads);
	if (!w->threads)
		goto fail;
	return w;
fail:
	st__workers_free(w);
	return NULL;
}

int st__workers_start(st__workers *w)
{
	int started = 0;
	if (pthread_create(&w->dispatcher, NULL, dispatcher_main, w) != 0)
		return -1;
	w->started = true;
	if (pthread_create(&w->finisher, NULL, finisher_main, w) != 0 ||
	    pthread_create(&w->flusher, NULL, flusher_main, w) != 0) {
		fprintf(stderr, "streamer: cannot start the async threads\n");
		abort(); /* no way to run half an engine */
	}
	for (; started < w->n_threads; started++)
		if (pthread_create(&w->threads[started], NULL, worker_main, w) != 0)
			break;
	w->n_threads = started;
	return 0;
}

static const char SQL_DEREGISTER[] =
	"DELETE FROM streamer.nodes WHERE node_id = $1";

void st__workers_stop(st__workers *w)
{
	if (!w->started)
		return;
	/* 1. No more claims; running handlers are told to stop and are
	 * waited for (the dispatcher keeps renewing their leases). */
	atomic_store(&w->stop_claims, 1);
	pthread_mutex_lock(&w->mu);
	for (st__job *j = w->jobs; j; j = j->next)
		if (!j->finalized)
			atomic_store(&j->stop, STOP_SHUTDOWN);
	atomic_store(&w->stop_workers, 1);
	pthread_cond_broadcast(&w->work);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->n_threads; i++)
		pthread_join(w->threads[i], NULL);
	/* 2. Claimed but never started: given back through the finisher. */
	pthread_mutex_lock(&w->mu);
	while (w->runq) {
		st__job *j = w->runq;
		w->runq = j->qnext;
		w->n_runq--;
		j->handler_done = true;
		j->finalized = true;
		j->out.ok = false;
		strcpy(j->out.code, ST_E_SERVICE_UNAVAILABLE);
		st__progress_close(&j->prog);
		push_fin(w, j);
	}
	w->runq_tail = NULL;
	pthread_mutex_unlock(&w->mu);
	/* 3. Results stored, then the flusher and the dispatcher stop. */
	atomic_store(&w->stop_finisher, 1);
	pthread_mutex_lock(&w->mu);
	pthread_cond_broadcast(&w->fin);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->finisher, NULL);
	atomic_store(&w->stop_flusher, 1);
	pthread_mutex_lock(&w->mu);
	pthread_cond_broadcast(&w->prog);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->flusher, NULL);
	atomic_store(&w->stop_dispatcher, 1);
	if (write(w->wake[1], "", 1) < 0) {
		/* the pipe is full: the dispatcher wakes anyway */
	}
	pthread_join(w->dispatcher, NULL);
	if (w->dc) {
		const char *p[] = { w->cfg->node_id };
		PQclear(st__db_exec(w->dc, SQL_DEREGISTER, 1, p));
	}
	w->started = false;
}

void st__workers_free(st__workers *w)
{
	if (!w)
		return;
	while (w->jobs) { /* only after a stop that lost its handlers */
		st__job *j = w->jobs;
		job_unlink(w, j);
		job_free(j);
	}
	if (w->dc)
		PQfinish(w->dc);
	if (w->wake[0] >= 0) {
		close(w->wake[0]);
		close(w->wake[1]);
	}
	for (int i = 0; i < w->n_parked; i++) /* stopped before their acks */
		st__event_msg_fini(&w->parked[i]);
	free(w->parked);
	free(w->actions_arr);
	free(w->threads);
	pthread_cond_destroy(&w->prog);
	pthread_cond_destroy(&w->fin);
	pthread_cond_destroy(&w->work);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

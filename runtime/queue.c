/* queue.c: group-committed submission, status, list and cancel (queue.h).
 *
 * Submissions wait in a bounded in-memory list. Each submitter thread
 * takes everything waiting (up to batch_max) and commits it with ONE
 * statement: an INSERT ... SELECT FROM unnest(arrays) ON CONFLICT DO
 * NOTHING, which is its own transaction; the table's statement trigger
 * NOTIFYs the workers once. So while one batch waits for its fsync the
 * next one gathers, and durable throughput is batches per second times
 * batch size rather than one fsync per request. Request ids are made here,
 * so a batch whose outcome is unknown (the connection broke) is simply
 * sent again: rows already there are not inserted twice.
 *
 * When this process runs handlers, the rows it has room to start now are
 * inserted claimed (processing under its lease, attempt 1) and handed to
 * its workers after the acknowledgments: no NOTIFY round trip and no claim
 * transaction (with its own fsync) between the ack and the handler.
 *
 * Other operations (status, list, cancel) wait in a second list and are
 * served by the same threads between batches. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "queue.h"
#include "testhooks.h"
#include "worker.h"

/* One submission, all strings in one allocation after the struct. */
struct sub {
	struct sub *next;
	char request_id[37];
	const char *client_id, *user_id, *tenant_id, *connection_id, *action;
	const char *payload;
	int max_attempts;
	uint32_t timeout_ms, duration_ms;
	int64_t deadline; /* monotonic ms: give up committing after */
	bool claimed;     /* inserted as processing, for this process to run */
	bool binary;      /* the request came as FlatBuffers */
	st__submit_cb cb;
	void *ud;
	/* outcome */
	bool inserted, existing;
	const char *error;
	char found_id[37];
	char status[16];
};

enum op_kind { OP_STATUS, OP_LIST, OP_CANCEL };

struct op {
	struct op *next;
	enum op_kind kind;
	char tenant_id[256], user_id[256];
	char request_id[37];
	char connection_id[64]; /* OP_STATUS with a resume */
	st__query_cb cb;
	void *ud;
	/* OP_CANCEL whose COMMIT was sent but whose reply was lost: the
	 * transaction's id and the cancel statement's result (owned), for the
	 * next run to ask whether it committed (see recover_cancel). */
	char xid[32];
	PGresult *done;
};

#define NARR 10 /* the INSERT's array parameters */

struct qthread {
	st__queue *q;
	pthread_t t;
	PGconn *c;
	bool warned;
	/* The batch being committed; read by st__queue_ack_wait under q->mu. */
	struct sub **batch;
	int n_batch;
	bool acking; /* acknowledgments not yet posted */
	int n_claimed; /* the batch's claimed rows, reserved with the workers */
	st__new_job *jobs; /* batch_max: the claimed rows, for the workers */
	st_buf arr[NARR];
};

struct st__queue {
	const st__async_config *cfg;
	pthread_mutex_t mu;
	pthread_cond_t work;  /* something to do */
	pthread_cond_t acked; /* a batch's acknowledgments were posted */
	struct sub *head, *tail;
	int n;
	struct op *ohead, *otail;
	int on;
	atomic_int stopping;
	/* Test hook, off (0) unless the test daemon sets
	 * st__test_hooks.lose_cancel_replies to N (testhooks.h): the first N
	 * cancels that changed a row are treated as if the connection broke
	 * between their COMMIT and its reply (the connection is closed after
	 * the commit), the case recover_cancel exists for. */
	atomic_int lose_cancels;
	st__workers *w; /* this process's, when it runs handlers */
	bool started;
	int nthreads;
	struct qthread *threads;
};

#define OPS_MAX 4096

st__queue *st__queue_create(const st__async_config *cfg)
{
	st__queue *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	q->cfg = cfg;
	atomic_init(&q->lose_cancels, st__test_hooks.lose_cancel_replies);
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->work, NULL);
	pthread_cond_init(&q->acked, NULL);
	q->nthreads = cfg->submitters;
	q->threads = calloc((size_t)q->nthreads, sizeof *q->threads);
	if (!q->threads) {
		st__queue_free(q);
		return NULL;
	}
	for (int i = 0; i < q->nthreads; i++) {
		struct qthread *t = &q->threads[i];
		t->q = q;
		t->batch = calloc((size_t)cfg->batch_max, sizeof *t->batch);
		t->jobs = calloc((size_t)cfg->batch_max, sizeof *t->jobs);
		if (!t->batch || !t->jobs) {
			st__queue_free(q);
			return NULL;
		}
		for (int k = 0; k < NARR; k++)
			st_buf_init(&t->arr[k], 256u << 20);
	}
	return q;
}

void st__queue_set_workers(st__queue *q, st__workers *w)
{
	q->w = w;
}

void st__queue_free(st__queue *q)
{
	if (!q)
		return;
	for (int i = 0; q->threads && i < q->nthreads; i++) {
		free(q->threads[i].batch);
		free(q->threads[i].jobs);
		for (int k = 0; k < NARR; k++)
			st_buf_fini(&q->threads[i].arr[k]);
		if (q->threads[i].c)
			PQfinish(q->threads[i].c);
	}
	free(q->threads);
	pthread_cond_destroy(&q->acked);
	pthread_cond_destroy(&q->work);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

/* --- submitting ----------------------------------------------------------- */

static char *put(char **p, const char *s, size_t n)
{
	char *d = *p;
	memcpy(d, s, n);
	d[n] = '\0';
	*p += n + 1;
	return d;
}

int st__queue_submit(st__queue *q, const st__submit *s, st__submit_cb cb,
		     void *ud)
{
	const char *cid = s->client_id;
	const char *conn = s->connection_id ? s->connection_id : "";
	size_t lc = cid ? strlen(cid) : 0, lu = strlen(s->user_id),
	       lt = strlen(s->tenant_id), lk = strlen(conn),
	       la = strlen(s->action->name);
	if (lc > 128 || lk >= 64)
		return -1;
	struct sub *b = malloc(sizeof *b + lc + lu + lt + lk + la +
			       s->payload_len + 6);
	if (!b)
		return -1;
	memset(b, 0, sizeof *b);
	char *p = (char *)(b + 1);
	b->client_id = cid ? put(&p, cid, lc) : NULL;
	b->user_id = put(&p, s->user_id, lu);
	b->tenant_id = put(&p, s->tenant_id, lt);
	b->connection_id = put(&p, conn, lk);
	b->action = put(&p, s->action->name, la);
	b->payload = put(&p, s->payload_json, s->payload_len);
	st__uuid_v4(b->request_id);
	b->max_attempts = (int)s->action->retries + 1;
	b->timeout_ms = s->action->timeout_ms ? s->action->timeout_ms
					      : q->cfg->default_timeout_ms;
	b->duration_ms = s->action->duration_ms;
	b->deadline = st__mono_ms() + q->cfg->submit_deadline_ms;
	b->binary = s->binary;
	b->cb = cb;
	b->ud = ud;

	pthread_mutex_lock(&q->mu);
	if (!q->started || atomic_load(&q->stopping) || q->n >= q->cfg->queue_max) {
		pthread_mutex_unlock(&q->mu);
		free(b);
		return -1;
	}
	if (q->tail)
		q->tail->next = b;
	else
		q->head = b;
	q->tail = b;
	q->n++;
	pthread_cond_signal(&q->work);
	pthread_mutex_unlock(&q->mu);
	return 0;
}

/* Whether request_id is in a batch whose acknowledgments are not posted
 * yet. Under q->mu. */
static bool acking(st__queue *q, const char *request_id)
{
	for (int i = 0; i < q->nthreads; i++) {
		struct qthread *t = &q->threads[i];
		if (!t->acking)
			continue;
		for (int k = 0; k < t->n_batch; k++)
			if (memcmp(t->batch[k]->request_id, request_id, 8) == 0 &&
			    strcmp(t->batch[k]->request_id, request_id) == 0)
				return true;
	}
	return false;
}

void st__queue_ack_wait(st__queue *q, const char *request_id)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	while (acking(q, request_id))
		pthread_cond_wait(&q->acked, &q->mu);
	pthread_mutex_unlock(&q->mu);
}

bool st__queue_ack_pending(st__queue *q, const char *request_id)
{
	if (!q)
		return false;
	pthread_mutex_lock(&q->mu);
	bool r = acking(q, request_id);
	pthread_mutex_unlock(&q->mu);
	return r;
}

/* Rows this process will run ($10 true) go in already claimed: processing
 * under its node ($11), leased for $12 ms, attempt 1; the others pending,
 * for any worker (the trigger NOTIFYs them). */
static const char SQL_INSERT[] =
	"INSERT INTO streamer.requests (request_id, client_id, action, user_id,"
	" tenant_id, connection_id, payload, max_attempts, timeout_ms, status,"
	" locked_by, locked_until, attempts, started_at)"
	" SELECT id, cid, act, u, t, conn, pl, ma, tm,"
	" CASE WHEN c THEN 'processing' ELSE 'pending' END,"
	" CASE WHEN c THEN $11 END,"
	" CASE WHEN c THEN now() + make_interval(secs => $12::float8 / 1000) END,"
	" CASE WHEN c THEN 1 ELSE 0 END, CASE WHEN c THEN now() END"
	" FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[],"
	" $5::text[], $6::text[], $7::jsonb[], $8::int[], $9::int[], $10::bool[])"
	" AS x(id, cid, act, u, t, conn, pl, ma, tm, c)"
	" ON CONFLICT DO NOTHING RETURNING request_id";

/* A repeated request: the row with the same id (a batch sent again after
 * a lost reply) or the same client id; the new connection follows it. */
static const char SQL_EXISTING[] =
	"WITH x AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[],"
	" $4::text[], $5::text[]) AS x(id, cid, t, u, conn))"
	" UPDATE streamer.requests r SET connection_id = nullif(x.conn, '')"
	" FROM x WHERE r.request_id = x.id"
	" OR (x.cid IS NOT NULL AND r.tenant_id = x.t AND r.user_id = x.u"
	" AND r.client_id = x.cid)"
	" RETURNING x.id, r.request_id, r.status";

static struct sub *find_sub(struct qthread *t, const char *id)
{
	for (int i = 0; i < t->n_batch; i++)
		if (strcmp(t->batch[i]->request_id, id) == 0)
			return t->batch[i];
	return NULL;
}

/* One attempt at committing t->batch[from .. from+n). 0 when every row has
 * an outcome, -1 when the connection broke (send again), -2 on an SQL
 * error (some row is bad). */
static int insert_rows(struct qthread *t, int from, int n)
{
	st_buf *a = t->arr;
	int todo = 0;
	for (int k = 0; k < NARR; k++)
		st__db_arr_begin(&a[k]);
	for (int i = from; i < from + n; i++) {
		struct sub *s = t->batch[i];
		if (s->inserted || s->existing || s->error)
			continue;
		todo++;
		st__db_arr_str(&a[0], s->request_id);
		st__db_arr_str(&a[1], s->client_id);
		st__db_arr_str(&a[2], s->action);
		st__db_arr_str(&a[3], s->user_id);
		st__db_arr_str(&a[4], s->tenant_id);
		st__db_arr_str(&a[5], *s->connection_id ? s->connection_id : NULL);
		st__db_arr_str(&a[6], s->payload);
		st__db_arr_int(&a[7], s->max_attempts);
		st__db_arr_int(&a[8], s->timeout_ms);
		st__db_arr_str(&a[9], s->claimed ? "t" : "f");
	}
	if (!todo)
		return 0;
	for (int k = 0; k < NARR; k++) {
		st__db_arr_end(&a[k]);
		if (a[k].failed)
			return -2;
	}
	char lease[16];
	snprintf(lease, sizeof lease, "%u", t->q->cfg->lease_ms);
	const char *p[NARR + 2];
	for (int k = 0; k < NARR; k++)
		p[k] = a[k].data;
	p[NARR] = t->q->cfg->node_id;
	p[NARR + 1] = lease;
	PGresult *r = st__db_exec(t->c, SQL_INSERT, NARR + 2, p);
	if (!r)
		return st__db_broken(t->c) ? -1 : -2;
	for (int i = 0; i < PQntuples(r); i++) {
		struct sub *s = find_sub(t, PQgetvalue(r, i, 0));
		if (s) {
			s->inserted = true;
			strcpy(s->status, "pending"); /* new, whether claimed or not */
		}
	}
	PQclear(r);

	/* The rest were there already. */
	int missing = 0;
	for (int k = 0; k < 5; k++)
		st__db_arr_begin(&a[k]);
	for (int i = from; i < from + n; i++) {
		struct sub *s = t->batch[i];
		if (s->inserted || s->existing || s->error)
			continue;
		missing++;
		st__db_arr_str(&a[0], s->request_id);
		st__db_arr_str(&a[1], s->client_id);
		st__db_arr_str(&a[2], s->tenant_id);
		st__db_arr_str(&a[3], s->user_id);
		st__db_arr_str(&a[4], s->connection_id);
	}
	if (!missing)
		return 0;
	for (int k = 0; k < 5; k++) {
		st__db_arr_end(&a[k]);
		p[k] = a[k].data;
	}
	r = st__db_exec(t->c, SQL_EXISTING, 5, p);
	if (!r)
		return st__db_broken(t->c) ? -1 : -2;
	for (int i = 0; i < PQntuples(r); i++) {
		struct sub *s = find_sub(t, PQgetvalue(r, i, 0));
		if (!s)
			continue;
		const char *id = PQgetvalue(r, i, 1);
		if (strcmp(id, s->request_id) == 0) {
			s->inserted = true; /* ours, from a send whose reply was lost */
		} else {
			s->existing = true;
			strcpy(s->found_id, id);
		}
		snprintf(s->status, sizeof s->status, "%s", PQgetvalue(r, i, 2));
	}
	PQclear(r);
	/* A row still without an outcome (its twin in the same batch took
	 * the one match) goes round again. */
	return 0;
}

static bool ensure_conn(struct qthread *t)
{
	if (t->c && PQstatus(t->c) == CONNECTION_OK)
		return true;
	if (t->c)
		PQfinish(t->c);
	t->c = st__db_connect(t->q->cfg->conninfo, &t->warned);
	return t->c != NULL;
}

/* Commits the batch, retrying through reconnects until each submission's
 * deadline; a batch that fails for a reason other than the connection is
 * split into single rows so that one bad row fails alone. */
static void commit_batch(struct qthread *t)
{
	/* What this process can run and start now goes in claimed. */
	int runnable = 0;
	for (int i = 0; i < t->n_batch; i++)
		runnable += st__workers_runs(t->q->w, t->batch[i]->action);
	t->n_claimed = st__workers_reserve(t->q->w, runnable);
	for (int i = 0, k = 0; i < t->n_batch && k < t->n_claimed; i++) {
		if (st__workers_runs(t->q->w, t->batch[i]->action)) {
			t->batch[i]->claimed = true;
			k++;
		}
	}
	int delay = 50;
	for (;;) {
		bool pending = false;
		int64_t now = st__mono_ms();
		for (int i = 0; i < t->n_batch; i++) {
			struct sub *s = t->batch[i];
			if (!s->inserted && !s->existing && !s->error) {
				if (now > s->deadline)
					s->error = ST_E_SERVICE_UNAVAILABLE;
				else
					pending = true;
			}
		}
		if (!pending)
			return;
		if (!ensure_conn(t)) {
			st__sleep_unless(delay, &(atomic_int){ 0 });
			delay = delay < 1000 ? delay * 2 : 1000;
			continue;
		}
		/* Only rows without an outcome go out again. */
		int rc = insert_rows(t, 0, t->n_batch);
		if (rc >= -1)
			continue;
		for (int i = 0; i < t->n_batch; i++) {
			struct sub *s = t->batch[i];
			if (s->inserted || s->existing || s->error)
				continue;
			int r1 = insert_rows(t, i, 1);
			if (r1 == -2)
				s->error = ST_E_INTERNAL_ERROR;
			else if (r1 == -1)
				break;
		}
	}
}

static void post_acks(struct qthread *t)
{
	int64_t now = st__wall_ms();
	for (int i = 0; i < t->n_batch; i++) {
		struct sub *s = t->batch[i];
		if (!s->inserted || !*s->connection_id)
			continue;
		st__event ev = {
			.kind = ST__EV_ACK,
			.client_id = s->client_id,
			.action = s->action,
			.timestamp_ms = now,
			.estimated_duration_ms = s->duration_ms,
			.format = s->binary ? ST__EVFMT_FB : ST__EVFMT_JSON,
		};
		strcpy(ev.request_id, s->request_id);
		strcpy(ev.connection_id, s->connection_id);
		st__sink_post(&t->q->cfg->sink, &ev);
	}
}

/* The claimed rows that are ours (not a repeat of an earlier request,
 * not failed) go to the workers, after their acknowledgments; the rest of
 * the reservation is given back. */
static void hand_over(struct qthread *t)
{
	int n = 0;
	for (int i = 0; i < t->n_batch; i++) {
		struct sub *s = t->batch[i];
		if (!s->claimed || !s->inserted || s->existing || s->error)
			continue;
		t->jobs[n++] = (st__new_job){
			.request_id = s->request_id,
			.action = s->action,
			.client_id = s->client_id,
			.user_id = s->user_id,
			.tenant_id = s->tenant_id,
			.connection_id = s->connection_id,
			.payload = s->payload,
			.payload_len = strlen(s->payload),
			.max_attempts = s->max_attempts,
			.timeout_ms = s->timeout_ms,
		};
	}
	if (n)
		st__workers_add(t->q->w, t->jobs, n);
	st__workers_release(t->q->w, t->n_claimed - n);
	t->n_claimed = 0;
}

static void finish_batch(struct qthread *t)
{
	st__queue *q = t->q;
	if (st__test_hooks.delay_acks_ms > 0) { /* testhooks.h */
		st__log_warn("test hook", "delayed=%s", "acks");
		st__sleep_unless(st__test_hooks.delay_acks_ms, &(atomic_int){ 0 });
	}
	post_acks(t);
	hand_over(t);
	pthread_mutex_lock(&q->mu);
	t->acking = false;
	pthread_cond_broadcast(&q->acked);
	pthread_mutex_unlock(&q->mu);
	for (int i = 0; i < t->n_batch; i++) {
		struct sub *s = t->batch[i];
		st__submit_result r = {
			.error_code = s->error,
			.request_id = s->existing ? s->found_id : s->request_id,
			.existing = s->existing,
			.status = s->error ? "" : s->status,
		};
		if (s->cb)
			s->cb(s->ud, &r);
		free(s);
	}
	pthread_mutex_lock(&q->mu);
	t->n_batch = 0;
	pthread_mutex_unlock(&q->mu);
}

/* --- status, list, cancel ------------------------------------------------- */

#define STATE_COLS                                                          \
	"r.request_id, r.action, r.client_id, r.status, r.progress,"        \
	" r.progress_message, r.attempts,"                                  \
	" (extract(epoch FROM r.created_at) * 1000)::bigint,"               \
	" r.result::text, r.error::text"

static void state_from_row(PGresult *r, int i, st__req_state *s)
{
#define V(k) (PQgetisnull(r, i, k) ? NULL : PQgetvalue(r, i, k))
	s->request_id = V(0);
	s->action = V(1);
	s->client_id = V(2);
	s->status = V(3);
	s->percentage = strtod(PQgetvalue(r, i, 4), NULL);
	s->message = V(5);
	s->attempts = atoi(PQgetvalue(r, i, 6));
	s->created_ms = strtoll(PQgetvalue(r, i, 7), NULL, 10);
	s->result_json = V(8);
	s->error_json = V(9);
#undef V
}

static void answer(struct op *o, PGresult *r, const char *err)
{
	st__req_state items[100];
	st__query_result qr = { .error_code = err, .items = items };
	if (!err && r) {
		int n = PQntuples(r);
		if (n > 100)
			n = 100;
		for (int i = 0; i < n; i++)
			state_from_row(r, i, &items[i]);
		qr.n = (size_t)n;
		if (n == 0 && o->kind != OP_LIST)
			qr.error_code = ST_E_NOT_FOUND;
	}
	o->cb(o->ud, &qr);
}

static const char SQL_STATUS[] =
	"SELECT " STATE_COLS " FROM streamer.requests r"
	" WHERE r.request_id = $1 AND r.tenant_id = $2 AND r.user_id = $3";

static const char SQL_RESUME[] =
	"UPDATE streamer.requests r SET connection_id = $4"
	" WHERE r.request_id = $1 AND r.tenant_id = $2 AND r.user_id = $3"
	" RETURNING " STATE_COLS;

static const char SQL_LIST[] =
	"SELECT " STATE_COLS " FROM streamer.requests r"
	" WHERE r.tenant_id = $1 AND r.user_id = $2"
	" AND (r.status IN ('pending', 'processing')"
	"      OR r.created_at > now() - interval '1 hour')"
	" ORDER BY r.created_at DESC LIMIT 100";

static const char SQL_LOCK[] =
	"SELECT r.status FROM streamer.requests r"
	" WHERE r.request_id = $1 AND r.tenant_id = $2 AND r.user_id = $3"
	" FOR UPDATE";

/* A running request keeps its lease holder, which tells its client; a
 * pending one is answered here. */
static const char SQL_CANCEL[] =
	"UPDATE streamer.requests r SET status = 'cancelled',"
	" error = jsonb_build_object('code', 'CANCELLED', 'message',"
	"   'The request was cancelled'),"
	" completed_at = now(),"
	" expires_at = now() + make_interval(secs => $2::float8 / 1000),"
	" locked_by = CASE WHEN r.status = 'processing' THEN r.locked_by END,"
	" locked_until = CASE WHEN r.status = 'processing' THEN r.locked_until END"
	" WHERE r.request_id = $1 AND r.status IN ('pending', 'processing')"
	" RETURNING " STATE_COLS ", r.connection_id,"
	" CASE WHEN r.locked_by IS NULL THEN"
	"   streamer.route_final(r, $3)"
	" END, r.locked_by IS NULL";

static void exec_simple(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	PQclear(r);
}

/* After a committed SQL_CANCEL (its result r, borrowed): a pending
 * request's final message is ours to deliver, unless its connection is on
 * another node (route_final NOTIFYed it in the transaction). A running
 * one's lease holder tells its client. */
static void post_cancelled(struct qthread *t, struct op *o, PGresult *r)
{
	if (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 12), "t") != 0 ||
	    PQgetisnull(r, 0, 10))
		return;
	const char *node = PQgetisnull(r, 0, 11) ? NULL : PQgetvalue(r, 0, 11);
	if (node && strcmp(node, t->q->cfg->node_id) != 0)
		return;
	st__event ev = {
		.kind = ST__EV_ERROR,
		.client_id = PQgetisnull(r, 0, 2) ? NULL : PQgetvalue(r, 0, 2),
		.action = PQgetvalue(r, 0, 1),
		.percentage = strtod(PQgetvalue(r, 0, 4), NULL),
		.timestamp_ms = st__wall_ms(),
		.error_code = ST_E_CANCELLED,
		.error_message = "The request was cancelled",
	};
	snprintf(ev.request_id, sizeof ev.request_id, "%s", o->request_id);
	snprintf(ev.connection_id, sizeof ev.connection_id, "%s",
		 PQgetvalue(r, 0, 10));
	st__sink_post(&t->q->cfg->sink, &ev);
}

/* A cancel whose COMMIT's reply was lost (o->done set): when it
 * committed, does now what its reply would have led to (the CANCELLED
 * event, the answer) and returns 1; when it did not, forgets it and
 * returns 0 (run the cancel again); -1 when the connection broke again or
 * the transaction is still in progress (ask again). */
static int recover_cancel(struct qthread *t, struct op *o)
{
	int s = st__db_xact_status(t->c, o->xid);
	if (s < 0 || s == 2)
		return -1;
	if (s == 1) {
		post_cancelled(t, o, o->done);
		answer(o, o->done, NULL);
	}
	PQclear(o->done);
	o->done = NULL;
	return s;
}

/* The test hook (see lose_cancels): true when this reply is to be lost. */
static bool lose_cancel(st__queue *q)
{
	return st__test_hook_take(&q->lose_cancels, "cancel reply");
}

/* Runs one operation. -1 when the connection broke before an answer (the
 * caller reconnects and runs it again), else 0 with the callback called. */
static int run_op(struct qthread *t, struct op *o)
{
	PGconn *c = t->c;
	PGresult *r = NULL;
	if (o->kind == OP_LIST) {
		const char *p[] = { o->tenant_id, o->user_id };
		r = st__db_exec(c, SQL_LIST, 2, p);
	} else if (!st__uuid_valid(o->request_id)) {
		answer(o, NULL, ST_E_NOT_FOUND);
		return 0;
	} else if (o->kind == OP_STATUS && !*o->connection_id) {
		const char *p[] = { o->request_id, o->tenant_id, o->user_id };
		r = st__db_exec(c, SQL_STATUS, 3, p);
	} else if (o->kind == OP_STATUS) {
		const char *p[] = { o->request_id, o->tenant_id, o->user_id,
				    o->connection_id };
		r = st__db_exec(c, SQL_RESUME, 4, p);
		if (r && PQntuples(r) == 1 &&
		    strcmp(PQgetvalue(r, 0, 3), "processing") == 0) {
			/* The node running it routes its progress anew. */
			char msg[128];
			snprintf(msg, sizeof msg, "r:%s:%s", o->request_id,
				 o->connection_id);
			const char *np[] = { msg };
			PGresult *n = st__db_exec(c,
				"SELECT pg_notify('streamer_request', $1)", 1, np);
			PQclear(n);
		}
	} else { /* OP_CANCEL */
		if (o->done) {
			int s = recover_cancel(t, o);
			if (s != 0)
				return s > 0 ? 0 : -1;
		}
		const char *p[] = { o->request_id, o->tenant_id, o->user_id };
		/* The transaction's id tells, after a lost COMMIT reply,
		 * whether the cancel happened (recover_cancel). */
		char xid[32];
		if (st__db_xact_begin(c, xid) < 0)
			goto broken;
		r = st__db_exec(c, SQL_LOCK, 3, p);
		if (!r)
			goto broken;
		if (PQntuples(r) == 0) {
			PQclear(r);
			exec_simple(c, "ROLLBACK");
			answer(o, NULL, ST_E_NOT_FOUND);
			return 0;
		}
		const char *was = PQgetvalue(r, 0, 0);
		bool live = strcmp(was, "pending") == 0 ||
			    strcmp(was, "processing") == 0;
		bool running = strcmp(was, "processing") == 0;
		PQclear(r);
		char ttl[32];
		snprintf(ttl, sizeof ttl, "%llu",
			 (unsigned long long)t->q->cfg->result_ttl_ms);
		if (live) {
			const char *cp[] = { o->request_id, ttl, t->q->cfg->node_id };
			r = st__db_exec(c, SQL_CANCEL, 3, cp);
			if (!r)
				goto broken;
			if (running) {
				char msg[64];
				snprintf(msg, sizeof msg, "c:%s", o->request_id);
				const char *np[] = { msg };
				PGresult *n = st__db_exec(c,
					"SELECT pg_notify('streamer_request', $1)", 1, np);
				if (!n) {
					PQclear(r);
					goto broken;
				}
				PQclear(n);
			}
		} else {
			r = st__db_exec(c, SQL_STATUS, 3, p);
			if (!r)
				goto broken;
		}
		PGresult *cm = st__db_exec(c, "COMMIT", 0, NULL);
		if (cm && live && PQntuples(r) == 1 && lose_cancel(t->q)) {
			PQclear(cm); /* the test hook: as if the reply was lost */
			cm = NULL;
			PQfinish(t->c);
			t->c = NULL;
		}
		if (!cm) {
			if (live) { /* it may have committed */
				snprintf(o->xid, sizeof o->xid, "%s", xid);
				o->done = r;
			} else {
				PQclear(r);
			}
			return -1;
		}
		PQclear(cm);
		if (live)
			post_cancelled(t, o, r);
	}
	if (!r && st__db_broken(c))
		return -1;
	answer(o, r, r ? NULL : ST_E_SERVICE_UNAVAILABLE);
	PQclear(r);
	return 0;
broken:
	if (st__db_broken(c))
		return -1;
	exec_simple(c, "ROLLBACK");
	answer(o, NULL, ST_E_SERVICE_UNAVAILABLE);
	return 0;
}

static void serve_op(struct qthread *t, struct op *o)
{
	int64_t deadline = st__mono_ms() + t->q->cfg->submit_deadline_ms;
	int delay = 50;
	while (st__mono_ms() < deadline) {
		if (ensure_conn(t) && run_op(t, o) == 0)
			goto done;
		st__sleep_unless(delay, &(atomic_int){ 0 });
		delay = delay < 1000 ? delay * 2 : 1000;
	}
	answer(o, NULL, ST_E_SERVICE_UNAVAILABLE);
done:
	PQclear(o->done);
	free(o);
}

static int queue_op(st__queue *q, struct op *o)
{
	pthread_mutex_lock(&q->mu);
	if (!q->started || atomic_load(&q->stopping) || q->on >= OPS_MAX) {
		pthread_mutex_unlock(&q->mu);
		free(o);
		return -1;
	}
	if (q->otail)
		q->otail->next = o;
	else
		q->ohead = o;
	q->otail = o;
	q->on++;
	pthread_cond_signal(&q->work);
	pthread_mutex_unlock(&q->mu);
	return 0;
}

static struct op *new_op(enum op_kind k, const char *tenant, const char *user,
			 const char *rid, st__query_cb cb, void *ud)
{
	if (strlen(tenant) >= 256 || strlen(user) >= 256)
		return NULL;
	struct op *o = calloc(1, sizeof *o);
	if (!o)
		return NULL;
	o->kind = k;
	strcpy(o->tenant_id, tenant);
	strcpy(o->user_id, user);
	if (rid)
		snprintf(o->request_id, sizeof o->request_id, "%s", rid);
	if (rid && strlen(rid) != 36)
		o->request_id[0] = '\0'; /* not a uuid: NOT_FOUND */
	o->cb = cb;
	o->ud = ud;
	return o;
}

int st__queue_status(st__queue *q, const char *tenant_id, const char *user_id,
		     const char *request_id, const char *connection_id,
		     st__query_cb cb, void *ud)
{
	struct op *o = new_op(OP_STATUS, tenant_id, user_id, request_id, cb, ud);
	if (!o)
		return -1;
	if (connection_id) {
		if (strlen(connection_id) >= sizeof o->connection_id) {
			free(o);
			return -1;
		}
		strcpy(o->connection_id, connection_id);
	}
	return queue_op(q, o);
}

int st__queue_list(st__queue *q, const char *tenant_id, const char *user_id,
		   st__query_cb cb, void *ud)
{
	struct op *o = new_op(OP_LIST, tenant_id, user_id, NULL, cb, ud);
	return o ? queue_op(q, o) : -1;
}

int st__queue_cancel(st__queue *q, const char *tenant_id, const char *user_id,
		     const char *request_id, st__query_cb cb, void *ud)
{
	struct op *o = new_op(OP_CANCEL, tenant_id, user_id, request_id, cb, ud);
	return o ? queue_op(q, o) : -1;
}

/* --- the threads ---------------------------------------------------------- */

static void *submitter_main(void *arg)
{
	struct qthread *t = arg;
	pthread_setname_np(pthread_self(), "st-submit"); /* top -H, perf */
	st__queue *q = t->q;
	for (;;) {
		pthread_mutex_lock(&q->mu);
		while (!q->head && !q->ohead && !atomic_load(&q->stopping))
			pthread_cond_wait(&q->work, &q->mu);
		if (!q->head && !q->ohead) {
			pthread_mutex_unlock(&q->mu);
			break;
		}
		t->n_batch = 0;
		while (q->head && t->n_batch < q->cfg->batch_max) {
			struct sub *s = q->head;
			q->head = s->next;
			s->next = NULL;
			q->n--;
			t->batch[t->n_batch++] = s;
		}
		if (!q->head)
			q->tail = NULL;
		t->acking = t->n_batch > 0;
		struct op *o = q->ohead;
		if (o) {
			q->ohead = o->next;
			if (!q->ohead)
				q->otail = NULL;
			q->on--;
		}
		if (q->head || q->ohead)
			pthread_cond_signal(&q->work); /* another thread can help */
		pthread_mutex_unlock(&q->mu);

		if (t->n_batch) {
			commit_batch(t);
			finish_batch(t);
		}
		if (o)
			serve_op(t, o);
	}
	return NULL;
}

int st__queue_start(st__queue *q)
{
	q->started = true;
	for (int i = 0; i < q->nthreads; i++) {
		if (pthread_create(&q->threads[i].t, NULL, submitter_main,
				   &q->threads[i]) != 0) {
			q->nthreads = i;
			st__queue_stop(q);
			return -1;
		}
	}
	return 0;
}

void st__queue_stop(st__queue *q)
{
	if (!q->started)
		return;
	pthread_mutex_lock(&q->mu);
	atomic_store(&q->stopping, 1);
	pthread_cond_broadcast(&q->work);
	pthread_mutex_unlock(&q->mu);
	for (int i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i].t, NULL);
	q->started = false;
}

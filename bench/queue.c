/* bench/queue.c: the async engine alone against a durable PostgreSQL:
 * requests per second through submit (group commit), claim, a no-op
 * handler and finish, with submit-to-ack and submit-to-complete latency.
 * No WebSocket: this is the queue's share of the end-to-end budget.
 *
 *   DATABASE_URL=... build/bench/queue [requests] [window] [workers]
 *
 * The database must be migrated; use a cluster with fsync and
 * synchronous_commit on (scripts/pg.sh start DIR, without --fast). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../runtime/async.h"
#include "../runtime/db.h"
#include "../runtime/worker.h"

static const st_action actions[] = { { .name = "noop", .duration_ms = 10000 } };
static const st_registry registry = { .actions = actions, .n_actions = 1 };

static int64_t now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static int n_req;
static int64_t *t_sub, *t_ack, *t_done;
static atomic_int done, errors;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void run(void *ud, st__job *job, st__outcome *out)
{
	(void)ud;
	(void)job;
	out->ok = true;
	st_buf_lit(&out->result, "{}");
}

static int sink(void *ud, const st__event *ev)
{
	(void)ud;
	int i = atoi(ev->connection_id + 1);
	if (i < 0 || i >= n_req)
		return -1;
	if (ev->kind == ST__EV_ACK) {
		t_ack[i] = now_us();
	} else if (ev->kind == ST__EV_COMPLETE || ev->kind == ST__EV_ERROR) {
		t_done[i] = now_us();
		if (ev->kind == ST__EV_ERROR)
			atomic_fetch_add(&errors, 1);
		pthread_mutex_lock(&mu);
		atomic_fetch_add(&done, 1);
		pthread_cond_signal(&cv);
		pthread_mutex_unlock(&mu);
	}
	return 0;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void report(const char *name, const int64_t *from, const int64_t *to)
{
	int64_t *d = malloc(sizeof *d * (size_t)n_req);
	int n = 0;
	for (int i = 0; i < n_req; i++)
		if (to[i])
			d[n++] = to[i] - from[i];
	qsort(d, (size_t)n, sizeof *d, cmp64);
	if (n)
		printf("%-20s p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms\n", name,
		       d[n / 2] / 1000.0, d[n * 99 / 100] / 1000.0, d[n - 1] / 1000.0);
	free(d);
}

int main(int argc, char **argv)
{
	n_req = argc > 1 ? atoi(argv[1]) : 50000;
	int window = argc > 2 ? atoi(argv[2]) : 2000;
	int workers = argc > 3 ? atoi(argv[3]) : 4;
	const char *url = getenv("DATABASE_URL");
	if (!url || n_req <= 0) {
		fprintf(stderr, "usage: DATABASE_URL=... %s [requests] [window] [workers]\n",
			argv[0]);
		return 2;
	}
	t_sub = calloc((size_t)n_req, sizeof *t_sub);
	t_ack = calloc((size_t)n_req, sizeof *t_ack);
	t_done = calloc((size_t)n_req, sizeof *t_done);
	st__async_config cfg = {
		.conninfo = url, .registry = &registry, .sink = { sink, NULL },
		.run = run, .workers = workers, .progress_db_ms = 1000,
	};
	st__async *a = st__async_create(&cfg);
	if (!a || st__async_start(a) != 0)
		return 1;
	int64_t t0 = now_us();
	for (int i = 0; i < n_req; i++) {
		pthread_mutex_lock(&mu);
		while (i - atomic_load(&done) >= window)
			pthread_cond_wait(&cv, &mu);
		pthread_mutex_unlock(&mu);
		char conn[16];
		snprintf(conn, sizeof conn, "b%d", i);
		st__submit s = { .action = &actions[0], .user_id = "u", .tenant_id = "t",
				 .connection_id = conn, .payload_json = "{}", .payload_len = 2 };
		t_sub[i] = now_us();
		while (st__async_submit(a, &s, NULL, NULL) != 0)
			;
	}
	pthread_mutex_lock(&mu);
	while (atomic_load(&done) < n_req)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	double secs = (now_us() - t0) / 1e6;
	printf("%d requests in %.2f s: %.0f requests/s (window %d, %d workers, %d errors)\n",
	       n_req, secs, n_req / secs, window, workers, atomic_load(&errors));
	report("submit -> ack", t_sub, t_ack);
	report("submit -> complete", t_sub, t_done);
	st__async_free(a);
	free(t_sub);
	free(t_ack);
	free(t_done);
	return 0;
}

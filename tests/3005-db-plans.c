/* The finisher's and the progress flusher's statements run prepared, so
 * PostgreSQL may keep one generic plan for them for the connection's life.
 * Each such plan must reach streamer.requests through its primary key only:
 * on a fresh empty table (where a sequential scan looks cheapest) and on a
 * big table whose statistics say no row is processing (where a partial
 * index on status looks like a one-row scan). The generic plans are forced
 * and read with EXPLAIN on a connection made as the workers make theirs. */
#include <stdlib.h>
#include <string.h>

#include "../runtime/db.h"
#include "../runtime/worker.h"
#include "tap.h"
#include "testdb.h"

static void exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		BAIL_OUT("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

/* The generic plan of statement `sql` on `c`, as text (malloc'd). */
static char *generic_plan(PGconn *c, const char *sql)
{
	exec(c, "DEALLOCATE ALL");
	exec(c, "SET plan_cache_mode = force_generic_plan");
	PGresult *r = PQprepare(c, "k", sql, 0, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		BAIL_OUT("prepare: %s", PQerrorMessage(c));
	PQclear(r);
	r = PQdescribePrepared(c, "k");
	int n = PQnparams(r);
	PQclear(r);
	st_buf q, plan;
	st_buf_init(&q, 1 << 20);
	st_buf_init(&plan, 1 << 20);
	st_buf_lit(&q, "EXPLAIN EXECUTE k(");
	for (int i = 0; i < n; i++)
		st_buf_printf(&q, "%sNULL", i ? ", " : "");
	st_buf_lit(&q, ")");
	st_buf_append(&q, "", 1);
	r = PQexec(c, q.data);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		BAIL_OUT("explain: %s", PQerrorMessage(c));
	for (int i = 0; i < PQntuples(r); i++)
		st_buf_printf(&plan, "%s\n", PQgetvalue(r, i, 0));
	st_buf_append(&plan, "", 1);
	PQclear(r);
	st_buf_fini(&q);
	return plan.data; /* the caller frees it */
}

/* NULL when every scan of requests in `plan` goes through requests_pkey,
 * else the first line that does not. */
static const char *bad_scan(const char *plan)
{
	static char line[512];
	for (const char *p = plan; *p;) {
		const char *e = strchr(p, '\n');
		size_t n = (size_t)(e - p) < sizeof line - 1 ? (size_t)(e - p) : sizeof line - 1;
		memcpy(line, p, n);
		line[n] = 0;
		p = e + 1;
		if (strstr(line, "Seq Scan on requests"))
			return line;
		if (strstr(line, "Index") && strstr(line, "requests_") &&
		    !strstr(line, "requests_pkey"))
			return line;
	}
	return NULL;
}

static int check_all(PGconn *c, const char *state)
{
	int bad = 0;
	for (int i = 0; st__keyed_sql[i]; i++) {
		char *plan = generic_plan(c, st__keyed_sql[i]);
		const char *b = bad_scan(plan);
		ok(!b && strstr(plan, "requests_pkey"),
		   "%s: statement %d's generic plan uses the primary key only", state, i);
		if (b || !strstr(plan, "requests_pkey")) {
			diag("%s", b ? b : "(no scan of requests_pkey)");
			diag("%s", plan);
			bad++;
		}
		free(plan);
	}
	return bad;
}

int main(void)
{
	const char *url = getenv("DATABASE_URL");
	if (!url)
		skip_all("needs DATABASE_URL (run under make test)");
	bool warned = false;
	PGconn *c = st__keyed_connect(url, &warned);
	if (!c)
		BAIL_OUT("cannot connect");
	ok(st__keyed_sql[0] && st__keyed_sql[3] && !st__keyed_sql[4],
	   "four statements are kept prepared");

	/* The detector itself: on a plain connection, a generic plan of the
	 * first statement on the empty table scans it sequentially. */
	PGconn *plain = db_open();
	char *plan = generic_plan(plain, st__keyed_sql[0]);
	ok(bad_scan(plan) != NULL, "control: a plain connection's generic plan scans the empty table");
	free(plan);
	PQfinish(plain);

	check_all(c, "empty table");

	/* 20,000 finished rows, analyzed: no row is processing or pending, so
	 * the statistics make every partial index on status look empty. */
	exec(c, "INSERT INTO streamer.requests (request_id, action, user_id,"
		" tenant_id, payload, max_attempts, timeout_ms, status, attempts,"
		" completed_at, expires_at)"
		" SELECT gen_random_uuid(), 'delay', 'u' || i % 50, 't', '{}', 1,"
		" 1000, 'completed', 1, now(), now() + interval '1 day'"
		" FROM generate_series(1, 20000) AS i");
	exec(c, "ANALYZE streamer.requests");
	check_all(c, "20,000 finished rows");

	PQfinish(c);
	return done_testing();
}

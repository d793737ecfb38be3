/* A worker process killed with -9 mid-request: its leases run out and a
 * live process rescues them within seconds: the request with attempts
 * left runs again and completes (once), the one without fails with
 * INTERNAL_ERROR; the dead node is removed with its connections. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "asynctest.h"

static st__async *start(recorder *rec, const char *role, const char *node)
{
	st__async_config cfg = engine_config(rec, role);
	cfg.node_id = node;
	cfg.node_dead_ms = 1500;
	return engine_start(&cfg);
}

int main(void)
{
	fflush(stdout);
	pid_t child = fork();
	if (child == 0) {
		recorder none;
		rec_init(&none);
		none.only_conn_prefix = "nobody"; /* a worker-only process */
		start(&none, "worker", "ndying");
		for (;;)
			pause();
	}
	recorder rec;
	rec_init(&rec);
	st__async *gw = start(&rec, "gateway", "ngw");
	PGconn *db = db_open();

	submitted s[2];
	for (int i = 0; i < 2; i++)
		submit(gw, &s[i], &fake_actions[3], "t1", "u1", NULL, "c1",
		       "{\"ms\":1500,\"steps\":15}");
	submitted_wait(&s[0]);
	submitted_wait(&s[1]);
	int64_t end = st__mono_ms() + 10000;
	while (strcmp(db_value(db, "SELECT count(*) FROM streamer.requests"
			       " WHERE locked_by = 'ndying' AND progress > 0", NULL), "2") &&
	       st__mono_ms() < end)
		sleep_ms(20);
	ok(st__mono_ms() < end, "the worker process runs both");
	db_do(db, "INSERT INTO streamer.connections (connection_id, node_id,"
		  " user_id, tenant_id) VALUES ('cdead', 'ndying', 'u', 't')");
	const char *p1 = s[1].request_id;
	PGresult *r = PQexecParams(db, "UPDATE streamer.requests SET max_attempts = 1"
				   " WHERE request_id = $1", 1, NULL, &p1, NULL, NULL, 0);
	PQclear(r);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	int64_t t0 = st__mono_ms();

	st__async *w = start(&rec, "worker", "nlive");
	ok(rec_wait_finals(&rec, s[1].request_id, 1, 10000),
	   "the request without attempts left is failed");
	is(rec_final_code(&rec, s[1].request_id), "INTERNAL_ERROR", "with INTERNAL_ERROR");
	ok(rec_wait_finals(&rec, s[0].request_id, 1, 15000),
	   "the other one is run again");
	ok(st__mono_ms() - t0 < 8000, "within seconds (%lld ms)",
	   (long long)(st__mono_ms() - t0));
	is_int(rec_check(&rec, s[0].request_id, true, NULL), ST__EV_COMPLETE,
	       "it completes, with one final message");
	is(db_value(db, "SELECT status || ' ' || attempts || ' ' || (locked_by IS NULL)"
		    " FROM streamer.requests WHERE request_id = $1", s[0].request_id),
	   "completed 2 true", "on its second attempt");
	is_int(rec_check(&rec, s[1].request_id, true, NULL), ST__EV_ERROR,
	       "the failed one has one final message");
	end = st__mono_ms() + 5000;
	while (strcmp(db_value(db, "SELECT count(*) FROM streamer.nodes"
			       " WHERE node_id = 'ndying'", NULL), "0") &&
	       st__mono_ms() < end)
		sleep_ms(50);
	is(db_value(db, "SELECT count(*) FROM streamer.connections"
		    " WHERE connection_id = 'cdead'", NULL), "0",
	   "the dead node and its connections are removed");
	is(db_value(db, "SELECT string_agg(node_id, ',' ORDER BY node_id)"
		    " FROM streamer.nodes", NULL), "ngw,nlive", "the live nodes remain");

	st__async_free(w);
	st__async_free(gw);
	PQfinish(db);
	rec_fini(&rec);
	return done_testing();
}

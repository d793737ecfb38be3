/* Across processes: a request accepted by gateway A and run by worker B
 * has its progress and final message delivered through A (NOTIFY on A's
 * channel; a result over the 8000-byte NOTIFY limit by reference). */
#include "asynctest.h"

static st__async *start(recorder *rec, const char *role, const char *node)
{
	st__async_config cfg = engine_config(rec, role);
	cfg.node_id = node;
	return engine_start(&cfg);
}

int main(void)
{
	recorder ra, rb;
	rec_init(&ra);
	rec_init(&rb);
	ra.only_conn_prefix = "ca"; /* A holds the connections ca* */
	rb.only_conn_prefix = "cb";
	st__async *a = start(&ra, "gateway", "nA");
	st__async *b = start(&rb, "worker", "nB");
	PGconn *db = db_open();
	int64_t end = st__mono_ms() + 5000;
	while (strcmp(db_value(db, "SELECT count(*) FROM streamer.nodes", NULL), "2") &&
	       st__mono_ms() < end)
		sleep_ms(20);
	db_do(db, "INSERT INTO streamer.connections (connection_id, node_id,"
		  " user_id, tenant_id) VALUES ('ca1', 'nA', 'u1', 't1')");

	submitted s;
	submit(a, &s, &fake_actions[3], "t1", "u1", "k", "ca1", "{\"ms\":500,\"steps\":10}");
	submitted_wait(&s);
	ok(rec_wait_finals(&ra, s.request_id, 1, 10000), "A delivers the final message");
	int np = 0;
	is_int(rec_check(&ra, s.request_id, true, &np), ST__EV_COMPLETE,
	       "ack, progress, one complete, in order");
	ok(np >= 2, "progress came through A (%d)", np);
	is(db_value(db, "SELECT locked_by IS NULL AND status = 'completed'"
		    " FROM streamer.requests WHERE request_id = $1", s.request_id),
	   "t", "B ran it");
	is_int(rb.n, 0, "B's own sink got nothing");

	/* A result larger than a NOTIFY payload travels by reference. */
	static char big[12000];
	memset(big, 'x', sizeof big);
	memcpy(big, "{\"s\":\"", 6);
	strcpy(big + sizeof big - 3, "\"}");
	submitted e;
	submit(a, &e, &fake_actions[0], "t1", "u1", NULL, "ca1", big);
	submitted_wait(&e);
	ok(rec_wait_finals(&ra, e.request_id, 1, 10000), "a large result arrives");
	bool full = false;
	for (int i = 0; i < ra.n; i++)
		if (!strcmp(ra.ev[i].request_id, e.request_id) &&
		    ra.ev[i].kind == ST__EV_COMPLETE)
			full = strncmp(ra.ev[i].result, "{\"echo\": {\"s\": \"xxxx", 20) == 0;
	ok(full, "with its result read from the row");

	st__async_free(b);
	st__async_free(a);
	PQfinish(db);
	rec_fini(&ra);
	rec_fini(&rb);
	return done_testing();
}

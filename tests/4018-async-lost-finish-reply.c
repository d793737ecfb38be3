/* The finisher's statement commits but its reply is lost (issue 5:
 * "exactly one final message"). streamerd-test runs with the test hook
 * STREAMER_TEST_LOSE_FINISH_REPLY=100 (read by tests/lib/streamerd-test.c,
 * acted on in runtime/worker.c): every finish statement that changes rows
 * is treated as if the connection broke after its commit. The finisher
 * reconnects, reads the rows back and sends the final messages that
 * statement's commit owed: a completed request, one retried and then
 * failed (two retries whose replies are lost too, which must send
 * nothing), and ten at once. Each client gets exactly one final message
 * and each row was finished once. */
#include "e2e.h"

int main(void)
{
	e2e_need_env();
	static tsrv s;
	static e2e_client c;
	e2e_start(&s, "all", "STREAMER_TEST_LOSE_FINISH_REPLY=100", NULL);
	PGconn *db = db_open();
	e2e_connect(&c, &s, "u1", "t1");
	char rid[37];
	e2e_seq q;

	e2e_one_delay(&c, rid, "the finish reply was lost");
	is(db_value(db, "SELECT concat_ws(' ', status, attempts, result->>'slept_ms',"
		   " locked_by IS NULL) FROM streamer.requests WHERE request_id = $1", rid),
	   "completed 1 100 t", "psql: completed once, on the first attempt");

	int from = c.n;
	e2e_submit(&c, rid, "l2", "flaky", "{\"fail_times\":100}");
	json_t *f = e2e_wait_final(&c, rid, 10000);
	e2e_pump(&c, 500);
	ok(e2e_check(&c, from, rid, true, &q), "retried twice, then exactly one final");
	is(f ? e2e_code(f) : "nothing", "AT_BUSY", "the last error, AT_BUSY");
	is(db_value(db, "SELECT concat_ws(' ', status, attempts, error->>'code', locked_by IS NULL)"
		   " FROM streamer.requests WHERE request_id = $1", rid),
	   "failed 3 AT_BUSY t", "psql: failed after 3 attempts");

	int complete, once;
	e2e_delays_at_once(&c, 10, &complete, &once);
	is_int(complete, 10, "ten at once: every one complete");
	is_int(once, 10, "each with exactly one final message");
	is(db_value(db, "SELECT count(*) FROM streamer.requests WHERE status = 'completed'"
		   " AND attempts = 1 AND client_id LIKE 'm%'", NULL),
	   "10", "psql: ten completed rows, each on its first attempt");

	e2e_free(&c);
	PQfinish(db);
	ok(tsrv_log_has(&s, "\"lost\":\"finish reply\""),
	   "the hook did lose finish replies (its log line)");
	is_int(e2e_stop(&s), 0, "streamerd stops cleanly");
	return done_testing();
}

/* The dispatcher's claim commits but its reply is lost: the rows it took
 * stay processing under this node with no job behind them, and with no
 * retries left a lease rescue would fail them INTERNAL_ERROR without their
 * ever having run. streamerd-test runs with the test hook
 * STREAMER_TEST_LOSE_CLAIM_REPLY=100 (read by tests/lib/streamerd-test.c,
 * acted on in runtime/worker.c): every claim that returns rows is
 * treated as if the connection broke after its commit. The dispatcher
 * reconnects and adopts those rows, attempt as stored.
 * `delay` has no retries (max_attempts 1): one request, then ten at once,
 * each complete exactly once, on its first attempt, with one final.
 * The requests come through a gateway-only process A, so that worker B
 * claims them (a process that runs handlers inserts what it can start
 * already claimed, and claims only the rest). */
#include "e2e.h"

int main(void)
{
	e2e_need_env();
	static tsrv s, b;
	static e2e_client c;
	e2e_start(&s, "gateway", NULL);
	e2e_start(&b, "worker", "STREAMER_TEST_LOSE_CLAIM_REPLY=100", NULL);
	PGconn *db = db_open();
	e2e_connect(&c, &s, "u1", "t1");
	char rid[37];

	e2e_one_delay(&c, rid, "the claim reply was lost");
	is(db_value(db, "SELECT concat_ws(' ', status, attempts, max_attempts,"
		   " result->>'slept_ms', locked_by IS NULL)"
		   " FROM streamer.requests WHERE request_id = $1", rid),
	   "completed 1 1 100 t", "psql: completed once, on its only attempt");

	int complete, once;
	e2e_delays_at_once(&c, 10, &complete, &once);
	is_int(complete, 10, "ten at once: every one complete");
	is_int(once, 10, "each with exactly one final message");
	is(db_value(db, "SELECT count(*) FROM streamer.requests WHERE status = 'completed'"
		   " AND attempts = 1 AND max_attempts = 1 AND client_id LIKE 'm%'", NULL),
	   "10", "psql: ten completed rows, each on its only attempt");
	is(db_value(db, "SELECT count(*) FROM streamer.requests"
		   " WHERE status <> 'completed'", NULL),
	   "0", "psql: nothing left processing, failed or pending");

	e2e_free(&c);
	PQfinish(db);
	ok(tsrv_log_has(&b, "\"lost\":\"claim reply\""),
	   "the hook did lose claim replies (its log line)");
	is_int(e2e_stop(&b), 0, "worker B stops cleanly");
	is_int(e2e_stop(&s), 0, "gateway A stops cleanly");
	return done_testing();
}

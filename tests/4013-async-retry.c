/* Retries and timeouts end to end (STREAMER_RETRY_BASE=100ms): a
 * retryable failure retried and then successful; one retried until its
 * attempts are used up, then failed with the last error (attempts visible
 * in status and in psql); a handler hanging past its `timeout` ends with
 * TIMEOUT. The client sees one final message each, nothing for the
 * attempts in between. */
#include "e2e.h"

int main(void)
{
	e2e_need_env();
	static tsrv s;
	static e2e_client c;
	e2e_start(&s, "all", NULL);
	PGconn *db = db_open();
	e2e_connect(&c, &s, "u1", "t1");
	char rid[37];
	e2e_seq q;

	e2e_submit(&c, rid, "f1", "flaky", "{\"fail_times\":1}");
	json_t *f = e2e_wait_final(&c, rid, 10000);
	is(e2e_str(f, "type"), "complete", "failing once, then succeeding: complete");
	is_int(json_integer_value(json_object_get(json_object_get(f, "data"), "attempt")), 2,
	       "on the second attempt");
	is(db_value(db, "SELECT status || ' ' || attempts || ' ' || max_attempts"
		   " FROM streamer.requests WHERE request_id = $1", rid),
	   "completed 2 3", "psql: completed after 2 of 3 attempts");

	int from = c.n;
	e2e_submit(&c, rid, "f2", "flaky", "{\"fail_times\":100}");
	f = e2e_wait_final(&c, rid, 10000);
	e2e_pump(&c, 300);
	ok(e2e_check(&c, from, rid, true, &q), "always failing: ack, then exactly one final");
	is(e2e_code(f), "AT_BUSY", "the last error, AT_BUSY");
	is(e2e_str(json_object_get(f, "error"), "message"), "busy on attempt 3", "from the last attempt");
	is(db_value(db, "SELECT concat_ws(' ', status, attempts, error->>'code', completed_at IS NOT NULL,"
		   " locked_by IS NULL) FROM streamer.requests WHERE request_id = $1", rid),
	   "failed 3 AT_BUSY t t", "psql: failed after 3 attempts");
	from = c.n;
	e2e_send(&c, "{\"type\":\"status\",\"request_id\":\"%s\"}", rid);
	json_t *d = json_object_get(e2e_wait_from(&c, from, "status", rid, NULL, 5000), "data");
	is(e2e_str(d, "status"), "failed", "status: failed");
	is_int(json_integer_value(json_object_get(d, "attempts")), 3, "status: 3 attempts");
	is(e2e_str(json_object_get(d, "error"), "code"), "AT_BUSY", "status: the error");

	from = c.n;
	long long t0 = e2e_now();
	e2e_submit(&c, rid, "h1", "hang", "{}");
	f = e2e_wait_final(&c, rid, 10000);
	long long took = e2e_now() - t0;
	e2e_pump(&c, 300);
	ok(e2e_check(&c, from, rid, true, &q), "hang: ack, then exactly one final");
	is(e2e_code(f), "TIMEOUT", "past its 1 s timeout: TIMEOUT");
	ok(took >= 900 && took < 5000, "after about a second (%lld ms)", took);
	is(e2e_val_wait(db, "SELECT concat_ws(' ', status, attempts, error->>'code', locked_by IS NULL)"
			" FROM streamer.requests WHERE request_id = $1", rid, "failed 1 TIMEOUT t", 3000),
	   "failed 1 TIMEOUT t", "psql: failed with TIMEOUT");

	e2e_free(&c);
	PQfinish(db);
	is_int(e2e_stop(&s), 0, "streamerd stops cleanly (the hung handler too)");
	return done_testing();
}

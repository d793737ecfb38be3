/* Retries and timeouts: a retryable failure is retried with backoff up to
 * the action's retries and then fails with the last error; an attempt
 * that runs past its timeout ends with TIMEOUT while its handler is told
 * to stop. One final message each. */
#include "asynctest.h"

int main(void)
{
	recorder rec;
	rec_init(&rec);
	st__async *a = engine(&rec, "all", 2);
	PGconn *db = db_open();

	submitted f;
	int64_t t0 = st__mono_ms();
	submit(a, &f, &fake_actions[1], "t1", "u1", NULL, "c1", "{}");
	submitted_wait(&f);
	ok(rec_wait_finals(&rec, f.request_id, 1, 10000), "the flaky request ends");
	int64_t took = st__mono_ms() - t0;
	is_int(rec_check(&rec, f.request_id, true, NULL), ST__EV_ERROR, "one final error");
	is(rec_final_code(&rec, f.request_id), "SERVICE_UNAVAILABLE", "the last error");
	is(db_value(db, "SELECT status || ' ' || attempts || ' ' || max_attempts ||"
		    " ' ' || (error->>'message') FROM streamer.requests"
		    " WHERE request_id = $1", f.request_id),
	   "failed 3 3 attempt 3", "three attempts, then failed with the last error");
	/* backoff 50 ms then 100 ms, each with jitter of +-25% */
	ok(took >= 100, "the retries waited (%lld ms)", (long long)took);
	ok(took < 3000, "but not long (%lld ms)", (long long)took);

	submitted h;
	t0 = st__mono_ms();
	submit(a, &h, &fake_actions[2], "t1", "u1", "h1", "c2", "{}");
	submitted_wait(&h);
	ok(rec_wait_finals(&rec, h.request_id, 1, 5000), "the hanging request ends");
	took = st__mono_ms() - t0;
	is(rec_final_code(&rec, h.request_id), "TIMEOUT", "with TIMEOUT");
	ok(took >= 300 && took < 2000, "after its 300 ms timeout (%lld ms)", (long long)took);
	sleep_ms(300);
	is_int(rec_check(&rec, h.request_id, true, NULL), ST__EV_ERROR,
	       "exactly one final, nothing from the stopped handler after it");
	is(db_value(db, "SELECT status || ' ' || (error->>'code')"
		    " FROM streamer.requests WHERE request_id = $1", h.request_id),
	   "failed TIMEOUT", "stored as failed TIMEOUT");

	/* The workers are free again: a normal request still runs. */
	submitted e;
	submit(a, &e, &fake_actions[0], "t1", "u1", NULL, "c3", "{\"x\":1}");
	submitted_wait(&e);
	ok(rec_wait_finals(&rec, e.request_id, 1, 5000), "later work still runs");
	is_int(rec_check(&rec, e.request_id, true, NULL), ST__EV_COMPLETE, "and completes");

	st__async_free(a);
	PQfinish(db);
	rec_fini(&rec);
	return done_testing();
}

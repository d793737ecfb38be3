/* cancel: a pending request is cancelled at once and its follower gets
 * error CANCELLED; a running handler sees it at its next progress report
 * and stops, and the client gets exactly one CANCELLED; another user or
 * tenant gets NOT_FOUND and changes nothing. */
#include "asynctest.h"

static void cancel(st__async *a, answer *an, const char *t, const char *u,
		   const char *rid)
{
	answer_init(an);
	st__async_cancel(a, t, u, rid, answer_cb, an);
	answer_wait(an);
}

int main(void)
{
	recorder rec;
	rec_init(&rec);
	st__async *a = engine(&rec, "all", 2);
	PGconn *db = db_open();
	answer an;

	/* Pending: an action no worker knows stays pending. */
	submitted p;
	submit(a, &p, &parked_action, "t1", "u1", NULL, "c1", "{}");
	submitted_wait(&p);
	cancel(a, &an, "t2", "u1", p.request_id);
	is(an.error, "NOT_FOUND", "another tenant cannot cancel it");
	cancel(a, &an, "t1", "u2", p.request_id);
	is(an.error, "NOT_FOUND", "another user cannot cancel it");
	is(db_value(db, "SELECT status FROM streamer.requests WHERE request_id = $1",
		    p.request_id), "pending", "still pending");
	cancel(a, &an, "t1", "u1", p.request_id);
	is(an.error, "", "the owner cancels it");
	is(an.status, "cancelled", "cancelled at once");
	ok(rec_wait_finals(&rec, p.request_id, 1, 3000), "its follower is told");
	is_int(rec_check(&rec, p.request_id, true, NULL), ST__EV_ERROR, "one final error");
	is(rec_final_code(&rec, p.request_id), "CANCELLED", "CANCELLED");
	cancel(a, &an, "t1", "u1", p.request_id);
	is(an.status, "cancelled", "cancelling again changes nothing");
	sleep_ms(200);
	is_int(rec_check(&rec, p.request_id, true, NULL), ST__EV_ERROR,
	       "and sends nothing more");

	/* Running: a long slow request, cancelled after its first progress. */
	submitted r;
	submit(a, &r, &fake_actions[3], "t1", "u1", NULL, "c2",
	       "{\"ms\":20000,\"steps\":2000}");
	submitted_wait(&r);
	ok(rec_wait_kind(&rec, r.request_id, ST__EV_PROGRESS, 5000), "it runs");
	cancel(a, &an, "t2", "u9", r.request_id);
	is(an.error, "NOT_FOUND", "another tenant cannot cancel a running one");
	int64_t t0 = st__mono_ms();
	cancel(a, &an, "t1", "u1", r.request_id);
	is(an.status, "cancelled", "the owner cancels it");
	ok(rec_wait_finals(&rec, r.request_id, 1, 5000), "the client is told");
	ok(st__mono_ms() - t0 < 1000, "within a second (%lld ms)",
	   (long long)(st__mono_ms() - t0));
	sleep_ms(300);
	is_int(rec_check(&rec, r.request_id, true, NULL), ST__EV_ERROR,
	       "ack, progress, exactly one final");
	is(rec_final_code(&rec, r.request_id), "CANCELLED", "CANCELLED");
	is(db_value(db, "SELECT status || ' ' || (locked_by IS NULL) || ' ' ||"
		    " (error->>'code') FROM streamer.requests WHERE request_id = $1",
		    r.request_id), "cancelled true CANCELLED", "the row says so");

	st__async_free(a);
	PQfinish(db);
	rec_fini(&rec);
	return done_testing();
}

/* The async engine end to end over a real database and real threads: the
 * full sequence of a request (ack after commit, progress, one final),
 * progress never decreasing and rate-limited, 10 concurrent requests none
 * lost or misrouted, the idempotent client id, status/list scoped to the
 * user and tenant, what psql shows. */
#include "asynctest.h"

int main(void)
{
	recorder rec;
	rec_init(&rec);
	st__async *a = engine(&rec, "all", 4);
	PGconn *db = db_open();

	/* 1. One request, its whole sequence. */
	submitted s;
	int64_t t0 = st__mono_ms();
	ok(submit(a, &s, &fake_actions[3], "t1", "u1", "x1", "c1",
		  "{\"ms\":600,\"steps\":30}") == 0, "submit accepted");
	submitted_wait(&s);
	is(s.error, "", "committed");
	ok(!s.existing, "a new request");
	is(s.status, "pending", "status pending");
	is(db_value(db, "SELECT count(*) FROM streamer.requests WHERE request_id = $1",
		    s.request_id), "1", "the row exists when the callback runs");
	char want[128];
	snprintf(want, sizeof want, "processing 1 %s t", st__async_node_id(a));
	is(db_value(db, "SELECT concat_ws(' ', status, attempts, locked_by,"
		    " locked_until > now()) FROM streamer.requests WHERE request_id = $1",
		    s.request_id), want,
	   "inserted claimed: this process has room to run it (no claim needed)");
	ok(rec_wait_finals(&rec, s.request_id, 1, 10000), "a final message arrives");
	int np = 0;
	is_int(rec_check(&rec, s.request_id, true, &np), ST__EV_COMPLETE,
	       "ack, progress never decreasing, exactly one complete");
	ok(np >= 3 && np <= 9, "progress rate-limited: %d updates for 30 reports in 600 ms", np);
	bool spaced = true;
	int64_t last = 0;
	for (int i = 0; i < rec.n; i++) {
		rec_event *e = &rec.ev[i];
		if (e->kind != ST__EV_PROGRESS || strcmp(e->request_id, s.request_id))
			continue;
		if (last && e->at - last < 90)
			spaced = false;
		last = e->at;
	}
	ok(spaced, "at most one progress per 100 ms");
	is(rec.ev[0].connection_id, "c1", "delivered to the request's connection");
	ok(rec.ev[0].kind == ST__EV_ACK && rec.ev[0].at - t0 < 1000, "ack came first, quickly");
	is(db_value(db, "SELECT status || ' ' || progress || ' ' || attempts ||"
		    " ' ' || (result->>'slept_ms') || ' ' || (locked_by IS NULL)"
		    " || ' ' || (expires_at > now() + interval '6 days')"
		    " FROM streamer.requests WHERE request_id = $1", s.request_id),
	   "completed 100 1 600 true true", "psql shows the finished row");

	/* 2. The same client id again: the first request, no second row. */
	submitted s2;
	submit(a, &s2, &fake_actions[3], "t1", "u1", "x1", "c9", "{\"ms\":1}");
	submitted_wait(&s2);
	ok(s2.existing, "a repeated id is recognised");
	is(s2.request_id, s.request_id, "it returns the first request");
	is(s2.status, "completed", "with its state");
	is(db_value(db, "SELECT count(*) FROM streamer.requests WHERE client_id = 'x1'", NULL),
	   "1", "no second row");
	submitted s3;
	submit(a, &s3, &fake_actions[0], "t2", "u1", "x1", "c9", "{}");
	submitted_wait(&s3);
	ok(!s3.existing, "the same id in another tenant is another request");
	rec_wait_finals(&rec, s3.request_id, 1, 5000);

	/* 3. Ten at once on one connection. */
	submitted many[10];
	for (int i = 0; i < 10; i++) {
		char p[64];
		snprintf(p, sizeof p, "{\"ms\":%d,\"steps\":5}", 100 + 20 * i);
		submit(a, &many[i], &fake_actions[3], "t1", "u2", NULL, "c2", p);
	}
	int good = 0;
	for (int i = 0; i < 10; i++) {
		submitted_wait(&many[i]);
		if (rec_wait_finals(&rec, many[i].request_id, 1, 10000) &&
		    rec_check(&rec, many[i].request_id, true, NULL) == ST__EV_COMPLETE)
			good++;
	}
	is_int(good, 10, "10 concurrent requests, each with its full sequence");
	bool routed = true;
	for (int i = 0; i < rec.n; i++)
		for (int k = 0; k < 10; k++)
			if (!strcmp(rec.ev[i].request_id, many[k].request_id) &&
			    strcmp(rec.ev[i].connection_id, "c2"))
				routed = false;
	ok(routed, "every event went to its connection");

	/* 4. status and list, only for the owner. */
	answer an;
	answer_init(&an);
	st__async_status(a, "t1", "u1", s.request_id, NULL, answer_cb, &an);
	answer_wait(&an);
	is(an.error, "", "status of one's own request");
	is(an.status, "completed", "its state");
	is(an.result, "{\"slept_ms\": 600}", "and its result");
	const char *who[][2] = { { "t2", "u1" }, { "t1", "u2" } };
	for (int i = 0; i < 2; i++) {
		answer_init(&an);
		st__async_status(a, who[i][0], who[i][1], s.request_id, NULL, answer_cb, &an);
		answer_wait(&an);
		is(an.error, "NOT_FOUND", "status from %s/%s is NOT_FOUND", who[i][0], who[i][1]);
	}
	answer_init(&an);
	st__async_status(a, "t1", "u1", "not-a-uuid", NULL, answer_cb, &an);
	answer_wait(&an);
	is(an.error, "NOT_FOUND", "a malformed id is NOT_FOUND");
	answer_init(&an);
	st__async_list(a, "t1", "u2", answer_cb, &an);
	answer_wait(&an);
	is_int(an.n, 10, "list: the user's requests");
	bool mine = false;
	for (int i = 0; i < 10; i++)
		mine |= !strcmp(an.request_id, many[i].request_id);
	ok(mine, "newest first (the ten share one commit)");

	st__async_free(a);
	ok(strcmp(db_value(db, "SELECT count(*) FROM streamer.nodes", NULL), "0") == 0,
	   "the node deregistered on stop");
	PQfinish(db);
	rec_fini(&rec);
	return done_testing();
}

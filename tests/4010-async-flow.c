/* The async path end to end through one real streamerd and real WebSocket
 * clients: the full message sequence of `delay` (acknowledgment first,
 * percentages never decreasing, at most 10 progress messages a second,
 * exactly one complete and nothing after it); 10 concurrent requests on
 * one connection, none lost or misrouted; what psql shows of a running and
 * a finished request; an idempotent `id`; `status` of a finished request
 * carrying its result; `list`; a sync handler deferring to async (a cache
 * miss); a result larger than a NOTIFY payload. */
#include "e2e.h"

int main(void)
{
	e2e_need_env();
	static tsrv s;
	e2e_start(&s, "all", NULL);
	PGconn *db = db_open();
	static e2e_client c;
	e2e_connect(&c, &s, "u1", "t1");
	char rid[37];
	e2e_seq q;

	/* 1. One delay: 2 s in 100 steps, 50 reports a second. */
	long long t0 = e2e_now();
	e2e_submit(&c, rid, "d1", "delay", "{\"ms\":2000,\"steps\":100}");
	ok(*rid, "delay is acknowledged (%s)", rid);
	long long t_ack = e2e_now();
	ok(t_ack - t0 < 2000, "the acknowledgment comes at once (%lld ms)", t_ack - t0);
	ok(e2e_wait(&c, "progress", rid, NULL, 5000) != NULL, "progress arrives");
	is(db_value(db, "SELECT status || ' ' || attempts || ' ' || (progress <= 100)"
		   " FROM streamer.active_requests WHERE request_id = $1", rid),
	   "processing 1 true", "streamer.active_requests shows it running");
	json_t *f = e2e_wait_final(&c, rid, 10000);
	ok(f != NULL, "the final message arrives");
	e2e_pump(&c, 300); /* anything after it would show now */
	ok(e2e_check(&c, 0, rid, true, &q), "ack, progress never decreasing, one final, nothing after");
	is(e2e_str(f, "type"), "complete", "it is complete");
	is_int(json_integer_value(json_object_get(json_object_get(f, "data"), "slept_ms")),
	       2000, "with slept_ms");
	is(e2e_str(f, "id"), "d1", "and the client's id");
	is_int(q.acks, 1, "one acknowledgment");
	ok(q.progress >= 5 && q.progress <= 22, "progress is rate-limited (%d messages for 100 reports in 2 s)",
	   q.progress);
	ok(q.max_per_s <= 10, "at most 10 progress messages in any second (%d)", q.max_per_s);
	ok(q.first_pct > 0 && q.last_pct <= 100, "percentages within 0..100 (%g..%g)",
	   q.first_pct, q.last_pct);

	/* 2. psql's view of the finished request. */
	is(db_value(db, "SELECT concat_ws(' ', status, progress, attempts, max_attempts,"
		   " result->>'slept_ms', client_id, user_id, tenant_id, payload->>'ms',"
		   " locked_by IS NULL, error IS NULL, completed_at >= started_at,"
		   " started_at >= created_at, expires_at > now() + interval '6 days')"
		   " FROM streamer.requests WHERE request_id = $1", rid),
	   "completed 100 1 1 2000 d1 u1 t1 2000 t t t t t", "streamer.requests holds the finished row");
	is(db_value(db, "SELECT count(*) FROM streamer.active_requests WHERE request_id = $1", rid),
	   "0", "it is no longer in streamer.active_requests");
	is(db_value(db, "SELECT requests || ' ' || (p50_ms >= 2000)::text FROM streamer.request_stats"
		   " WHERE action = 'delay' AND status = 'completed'", NULL),
	   "1 true", "streamer.request_stats counts it, with its latency");

	/* 3. status of a finished request carries the result. */
	int from = c.n;
	e2e_send(&c, "{\"type\":\"status\",\"request_id\":\"%s\"}", rid);
	json_t *st = e2e_wait_from(&c, from, "status", rid, NULL, 5000);
	json_t *d = json_object_get(st, "data");
	is(e2e_str(d, "status"), "completed", "status: completed");
	is_int(json_integer_value(json_object_get(json_object_get(d, "result"), "slept_ms")), 2000,
	       "status carries the result");
	ok(json_number_value(json_object_get(d, "percentage")) == 100, "and percentage 100");
	is_int(json_integer_value(json_object_get(d, "attempts")), 1, "and attempts 1");
	e2e_pump(&c, 200);
	is_int(e2e_count_finals(&c, rid), 1, "status sends no second final message");

	/* 4. Ten at once on one connection: every message goes to its request. */
	char rids[10][37];
	from = c.n;
	for (int i = 0; i < 10; i++)
		e2e_send(&c, "{\"id\":\"c%d\",\"action\":\"delay\",\"payload\":{\"ms\":%d,\"steps\":5}}",
			 i, 300 + 37 * i);
	int acked = 0, good = 0, right = 0;
	for (int i = 0; i < 10; i++) {
		char id[8];
		snprintf(id, sizeof id, "c%d", i);
		json_t *a = e2e_wait_from(&c, from, "acknowledgment", NULL, id, 10000);
		snprintf(rids[i], 37, "%s", a ? e2e_str(a, "request_id") : "");
		acked += a != NULL;
	}
	for (int i = 0; i < 10; i++) {
		json_t *fi = e2e_wait_final(&c, rids[i], 15000);
		json_t *sl = json_object_get(json_object_get(fi, "data"), "slept_ms");
		char id[8];
		snprintf(id, sizeof id, "c%d", i);
		right += fi && json_integer_value(sl) == 300 + 37 * i && e2e_match(fi, "complete", NULL, id);
	}
	e2e_pump(&c, 300);
	int misrouted = 0;
	for (int i = from; i < c.n; i++) {
		json_t *m = c.msgs[i].j;
		const char *r = e2e_str(m, "request_id"), *id = e2e_str(m, "id");
		for (int k = 0; r && k < 10; k++)
			if (!strcmp(r, rids[k]) && (!id || atoi(id + 1) != k || id[0] != 'c'))
				misrouted++;
	}
	for (int i = 0; i < 10; i++)
		good += *rids[i] && e2e_check(&c, from, rids[i], true, &q) &&
			!strcmp(e2e_str(q.final, "type"), "complete");
	is_int(acked, 10, "10 concurrent requests acknowledged");
	is_int(good, 10, "each: ack first, progress in order, exactly one complete");
	is_int(right, 10, "each complete carries its own result and id");
	is_int(misrouted, 0, "no message carries another request's id");
	bool distinct = true;
	for (int i = 0; i < 10; i++)
		for (int k = i + 1; k < 10; k++)
			distinct = distinct && strcmp(rids[i], rids[k]);
	ok(distinct, "10 distinct request ids");

	/* 5. The same `id` again: the first request, never a second row. */
	char r1[37], r2[37], r3[37];
	from = c.n;
	e2e_submit(&c, r1, "same", "delay", "{\"ms\":400,\"steps\":4}");
	e2e_submit(&c, r2, "same", "delay", "{\"ms\":400,\"steps\":4}");
	is(r2, r1, "a repeated id gets the first request_id back");
	ok(e2e_wait_final(&c, r1, 5000) != NULL, "the request completes");
	e2e_submit(&c, r3, "same", "delay", "{\"ms\":1,\"steps\":1}");
	is(r3, r1, "also after it finished");
	e2e_pump(&c, 300);
	is(db_value(db, "SELECT count(*) FROM streamer.requests WHERE client_id = $1", "same"),
	   "1", "one row for the id");
	is_int(e2e_count(&c, "complete", r1), 1, "one complete for it");

	/* 6. list: the user's requests, newest first. */
	from = c.n;
	e2e_send(&c, "{\"type\":\"list\"}");
	json_t *l = e2e_wait_from(&c, from, "list", NULL, NULL, 5000);
	json_t *items = json_object_get(l, "data");
	is_int(json_array_size(items), 12, "list shows the user's 12 requests");
	is(e2e_str(json_array_get(items, json_array_size(items) - 1), "request_id"), rid,
	   "the oldest last");

	/* 7. A sync handler deferring to async. */
	from = c.n;
	e2e_send(&c, "{\"id\":\"h1\",\"action\":\"lookup\",\"payload\":{\"key\":\"k1\"}}");
	json_t *h = e2e_wait_from(&c, from, NULL, NULL, "h1", 5000);
	is(e2e_str(h, "type"), "response", "a cache hit answers at once");
	ok(json_is_false(json_object_get(json_object_get(h, "data"), "deferred")), "not deferred");
	e2e_submit(&c, rid, "m1", "lookup", "{\"key\":\"k2\",\"miss\":true}");
	ok(*rid, "a miss is acknowledged instead");
	f = e2e_wait_final(&c, rid, 5000);
	e2e_pump(&c, 200);
	ok(e2e_check(&c, from, rid, true, &q), "ack, then one final");
	is(e2e_str(f, "type"), "complete", "the deferred request completes");
	d = json_object_get(f, "data");
	ok(json_is_true(json_object_get(d, "deferred")) && !strcmp(e2e_str(d, "key"), "k2"),
	   "run again by an async worker, with its payload");
	is(db_value(db, "SELECT status || ' ' || action FROM streamer.requests WHERE request_id = $1", rid),
	   "completed lookup", "and stored");

	/* 8. A result past the NOTIFY limit, same process. */
	e2e_submit(&c, rid, "b1", "big", "{\"size\":20000}");
	f = e2e_wait_final(&c, rid, 5000);
	const char *big = e2e_str(json_object_get(f, "data"), "data");
	is_int(big ? strlen(big) : 0, 20000,
	       "a 20000-byte result arrives whole");

	/* 9. /metrics times async handlers too: one observation per run. */
	const char *runs = db_value(db, "SELECT sum(attempts) FROM streamer.requests"
				    " WHERE action = 'delay'", NULL);
	double seen = http_metric(s.port,
				  "streamer_handler_duration_seconds_count{action=\"delay\"}");
	ok(atoi(runs) > 0 && seen == atoi(runs),
	   "/metrics: one handler_duration observation per delay run (%g, %s runs)",
	   seen, runs);

	e2e_free(&c);
	PQfinish(db);
	is_int(e2e_stop(&s), 0, "streamerd stops cleanly");
	return done_testing();
}

/* kill -9 of a worker process mid-request: the request (of an action with
 * retries: without any, a dead worker's request fails), accepted by
 * gateway A and running on worker B, is rescued when B's lease runs out
 * (STREAMER_LEASE=1s) and completes on worker C, exactly once, its
 * progress and final message still delivered through A. Then a result
 * larger than a NOTIFY payload, run by C, reaches A's client by reference. */
#include "e2e.h"

int main(void)
{
	e2e_need_env();
	static tsrv a, b, c;
	static e2e_client cl;
	e2e_start(&a, "gateway", NULL);
	e2e_start(&b, "worker", NULL);
	PGconn *db = db_open();
	e2e_connect(&cl, &a, "u1", "t1");
	char rid[37], pid[16];
	e2e_seq q;

	e2e_submit(&cl, rid, "k1", "sleepy", "{\"ms\":3000,\"steps\":30}");
	ok(e2e_wait(&cl, "progress", rid, NULL, 5000) != NULL, "B's progress arrives through A");
	e2e_pump(&cl, 500);
	snprintf(pid, sizeof pid, "%d", (int)b.pid);
	is(db_value(db, "SELECT n.pid::text FROM streamer.requests r JOIN streamer.nodes n"
		   " ON n.node_id = r.locked_by WHERE r.request_id = $1", rid),
	   pid, "B holds the lease");
	e2e_kill9(&b);
	int seen = e2e_count(&cl, "progress", rid);
	e2e_start(&c, "worker", NULL);
	long long t0 = e2e_now();
	json_t *f = e2e_wait_final(&cl, rid, 20000);
	diag("rescued and finished %lld ms after the kill", e2e_now() - t0);
	e2e_pump(&cl, 500);
	is(e2e_str(f, "type"), "complete", "the request completes on C");
	ok(e2e_check(&cl, 0, rid, true, &q), "ack, progress never decreasing, exactly one final");
	ok(q.progress > seen, "progress of the second attempt came through A too");
	is(db_value(db, "SELECT concat_ws(' ', r.status, r.attempts, r.locked_by IS NULL,"
		   " r.result->>'slept_ms') FROM streamer.requests r WHERE r.request_id = $1", rid),
	   "completed 2 t 3000", "psql: completed on the second attempt");
	is_int(json_integer_value(json_object_get(json_object_get(f, "data"), "attempt")), 2,
	       "the result is the second attempt's");
	snprintf(pid, sizeof pid, "%d", (int)c.pid);

	char big[37];
	e2e_submit(&cl, big, "b1", "big", "{\"size\":30000}");
	f = e2e_wait_final(&cl, big, 20000);
	const char *data = e2e_str(json_object_get(f, "data"), "data");
	is_int(data ? strlen(data) : 0, 30000, "a 30000-byte result run by C arrives whole through A");
	e2e_pump(&cl, 200);
	is_int(e2e_count_finals(&cl, big), 1, "once");

	e2e_free(&cl);
	PQfinish(db);
	is_int(e2e_stop(&c), 0, "C stops cleanly");
	is_int(e2e_stop(&a), 0, "A stops cleanly");
	return done_testing();
}

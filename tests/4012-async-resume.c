/* Resume after a lost connection, end to end: a client starts a long
 * delay, its connection drops, it reconnects and sends `status`: it gets
 * the stored state, then the request's remaining progress and its final
 * message on the new connection. Once in one process, once across three
 * (the request accepted by gateway A, run by worker B, resumed through
 * gateway C). A request that finished while nobody was connected: status
 * carries the result. */
#include "e2e.h"

static void resume(tsrv *first, tsrv *second, const char *id, const char *label)
{
	static e2e_client c1, c2;
	char rid[37];
	e2e_seq q;
	e2e_connect(&c1, first, "u1", "t1");
	e2e_submit(&c1, rid, id, "delay", "{\"ms\":3000,\"steps\":30}");
	json_t *p = e2e_wait(&c1, "progress", rid, NULL, 5000);
	ok(p != NULL, "%s: progress before the drop", label);
	double seen = 0;
	for (int i = 0; i < c1.n; i++)
		if (e2e_match(c1.msgs[i].j, "progress", rid, NULL))
			seen = json_number_value(json_object_get(c1.msgs[i].j, "percentage"));
	e2e_drop(&c1);
	e2e_sleep(400);

	e2e_connect(&c2, second, "u1", "t1");
	e2e_send(&c2, "{\"type\":\"status\",\"request_id\":\"%s\"}", rid);
	json_t *st = e2e_wait(&c2, "status", rid, NULL, 5000);
	json_t *d = json_object_get(st, "data");
	is(e2e_str(d, "status"), "processing", "%s: status gives the stored state", label);
	double at = json_number_value(json_object_get(d, "percentage"));
	ok(at > 0 && at < 100, "%s: with its progress (%g; %g seen before the drop)", label, at, seen);
	json_t *f = e2e_wait_final(&c2, rid, 8000);
	is(e2e_str(f, "type"), "complete", "%s: the final message arrives on the new connection", label);
	e2e_pump(&c2, 300);
	ok(e2e_check(&c2, 0, rid, false, &q), "%s: progress in order, one final, nothing after", label);
	ok(q.progress >= 3, "%s: the remaining progress came too (%d messages)", label, q.progress);
	ok(q.first_pct >= seen, "%s: and it does not go back (%g >= %g)", label, q.first_pct, seen);
	is_int(json_integer_value(json_object_get(json_object_get(f, "data"), "slept_ms")), 3000,
	       "%s: with the result", label);
	e2e_free(&c1);
	e2e_free(&c2);
}

int main(void)
{
	e2e_need_env();
	static tsrv s, a, b, c;
	e2e_start(&s, "all", NULL);
	resume(&s, &s, "z1", "one process");

	/* Finished while disconnected. */
	static e2e_client c1, c2;
	char rid[37];
	e2e_connect(&c1, &s, "u1", "t1");
	e2e_submit(&c1, rid, "z2", "delay", "{\"ms\":300,\"steps\":3}");
	e2e_drop(&c1);
	e2e_sleep(1000);
	e2e_connect(&c2, &s, "u1", "t1");
	e2e_send(&c2, "{\"type\":\"status\",\"request_id\":\"%s\"}", rid);
	json_t *st = e2e_wait(&c2, "status", rid, NULL, 5000);
	json_t *d = json_object_get(st, "data");
	is(e2e_str(d, "status"), "completed", "finished while away: status completed");
	is_int(json_integer_value(json_object_get(json_object_get(d, "result"), "slept_ms")), 300,
	       "status carries the result");
	e2e_pump(&c2, 300);
	is_int(e2e_count_finals(&c2, rid), 0, "and no stray final message follows");
	e2e_free(&c1);
	e2e_free(&c2);
	is_int(e2e_stop(&s), 0, "the single process stops cleanly");

	e2e_start(&a, "gateway", NULL);
	e2e_start(&b, "worker", NULL);
	e2e_start(&c, "gateway", NULL);
	resume(&a, &c, "z3", "across processes");
	is_int(e2e_stop(&c), 0, "gateway C stops cleanly");
	is_int(e2e_stop(&b), 0, "worker B stops cleanly");
	is_int(e2e_stop(&a), 0, "gateway A stops cleanly");
	return done_testing();
}

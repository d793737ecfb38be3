/* The acknowledgment comes first even when another process runs the
 * request before the accepting gateway has posted it. Gateway A accepts
 * (it runs no handlers, so worker B claims the row as soon as it is
 * committed) and, with the test hook STREAMER_TEST_DELAY_ACKS_MS=1000
 * (tests/lib/streamerd-test.c), waits a second between the commit and the
 * acknowledgments; B meanwhile runs a `delay` of 0 ms and relays its
 * progress and completion to A. A parks those until the ack is out
 * (worker.c, on_node_event). Without that, the client saw progress and
 * completion first, and the acknowledgment, coming after the final
 * message, was dropped. And the parking holds back only that request: a
 * long one running meanwhile keeps sending progress (when A's dispatcher
 * waited for the ack instead, everything it relays stopped). */
#include "e2e.h"

int main(void)
{
	e2e_need_env();
	static tsrv a, b;
	static e2e_client c;
	e2e_start(&a, "gateway", "STREAMER_TEST_DELAY_ACKS_MS=1000", NULL);
	e2e_start(&b, "worker", NULL);
	PGconn *db = db_open();
	e2e_connect(&c, &a, "u1", "t1");

	char longid[37];
	e2e_submit(&c, longid, "long", "delay", "{\"ms\":8000,\"steps\":80}");
	ok(longid[0] && e2e_wait(&c, "progress", longid, NULL, 10000),
	   "a long request runs on B, its progress relayed through A");

	for (int i = 0; i < 3; i++) {
		char rid[37], id[16];
		snprintf(id, sizeof id, "o%d", i);
		int from = c.n;
		e2e_submit(&c, rid, id, "delay", "{\"ms\":0,\"steps\":2}");
		ok(rid[0], "request %d: acknowledged", i);
		if (i == 0) {
			/* The long request's progress that reached the client
			 * before this ack, counted by the reads it came in: a
			 * dispatcher blocked until the ack lets it through in
			 * one burst at the end. */
			int reads = 0;
			long long last = -1;
			for (int k = from; k < c.n; k++) {
				json_t *m = c.msgs[k].j;
				if (e2e_match(m, "acknowledgment", NULL, id))
					break;
				if (e2e_match(m, "progress", longid, NULL) && c.msgs[k].at != last) {
					reads++;
					last = c.msgs[k].at;
				}
			}
			ok(reads >= 3, "while it waited for its ack, the long request's"
			   " progress kept coming (in %d separate reads)", reads);
		}
		json_t *f = rid[0] ? e2e_wait_final(&c, rid, 10000) : NULL;
		e2e_pump(&c, 200); /* a second final would show now */
		is(f ? e2e_str(f, "type") : "nothing", "complete", "request %d: complete", i);
		e2e_seq q;
		ok(rid[0] && e2e_check(&c, from, rid, true, &q),
		   "request %d: ack, progress, exactly one final, in that order", i);
		is(db_value(db, "SELECT locked_by IS NULL AND status = 'completed'"
			   " FROM streamer.requests WHERE client_id = $1", id),
		   "t", "psql: request %d completed (by worker B)", i);
	}

	int from0 = 0;
	ok(e2e_wait_final(&c, longid, 15000) != NULL, "the long request completes");
	e2e_seq q;
	ok(e2e_check(&c, from0, longid, true, &q), "  ack, progress, one final, in that order");

	e2e_free(&c);
	PQfinish(db);
	ok(tsrv_log_has(&a, "\"delayed\":\"acks\""),
	   "the hook did delay the acknowledgments (its log line)");
	is_int(e2e_stop(&b), 0, "worker B stops cleanly");
	is_int(e2e_stop(&a), 0, "gateway A stops cleanly");
	return done_testing();
}

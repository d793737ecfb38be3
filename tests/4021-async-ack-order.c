/* The acknowledgment comes first even when another process runs the
 * request before the accepting gateway has posted it. Gateway A accepts
 * (it runs no handlers, so worker B claims the row as soon as it is
 * committed) and, with the test hook STREAMER_TEST_DELAY_ACKS_MS=400
 * (tests/lib/streamerd-test.c), waits 400 ms between the commit and the
 * acknowledgments; B meanwhile runs a `delay` of 0 ms and relays its
 * progress and completion to A. A holds those back until the ack is out
 * (worker.c, on_node_event). Without that, the client saw progress and
 * completion first, and the acknowledgment, coming after the final
 * message, was dropped. */
#include "e2e.h"

int main(void)
{
	e2e_need_env();
	static tsrv a, b;
	static e2e_client c;
	e2e_start(&a, "gateway", "STREAMER_TEST_DELAY_ACKS_MS=400", NULL);
	e2e_start(&b, "worker", NULL);
	PGconn *db = db_open();
	e2e_connect(&c, &a, "u1", "t1");

	for (int i = 0; i < 3; i++) {
		char rid[37], id[16];
		snprintf(id, sizeof id, "o%d", i);
		int from = c.n;
		e2e_submit(&c, rid, id, "delay", "{\"ms\":0,\"steps\":2}");
		ok(rid[0], "request %d: acknowledged", i);
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

	e2e_free(&c);
	PQfinish(db);
	ok(tsrv_log_has(&a, "\"delayed\":\"acks\""),
	   "the hook did delay the acknowledgments (its log line)");
	is_int(e2e_stop(&b), 0, "worker B stops cleanly");
	is_int(e2e_stop(&a), 0, "gateway A stops cleanly");
	return done_testing();
}

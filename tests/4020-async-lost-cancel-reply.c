/* A cancel's COMMIT succeeds but its reply is lost (issue 5: "exactly one
 * final message"). Both streamerd-test processes run with the test hook
 * STREAMER_TEST_LOSE_CANCEL_REPLY=100 (read by tests/lib/streamerd-test.c,
 * acted on in runtime/queue.c and runtime/worker.c): every cancel, and
 * every finisher statement clearing the lease of a cancelled row, that
 * changed a row is treated as if the connection broke after its commit.
 * On the new connection each asks txid_status of the transaction and,
 * committed, sends the CANCELLED its reply owed. A pending request
 * (gateway-only A) and a running one (B, which runs it and holds its
 * client) each end with exactly one `error` CANCELLED, and the row was
 * cancelled once. */
#include "e2e.h"

static json_t *cancel(e2e_client *c, const char *rid)
{
	int from = c->n;
	e2e_send(c, "{\"type\":\"cancel\",\"request_id\":\"%s\",\"id\":\"q%d\"}", rid, from);
	char id[16];
	snprintf(id, sizeof id, "q%d", from);
	return e2e_wait_from(c, from, NULL, NULL, id, 10000);
}

static const char *status_of(json_t *m)
{
	return m ? e2e_str(json_object_get(m, "data"), "status") : "nothing";
}

int main(void)
{
	e2e_need_env();
	static tsrv a, b;
	static e2e_client c1, c2;
	const char *hook = "STREAMER_TEST_LOSE_CANCEL_REPLY=100";
	PGconn *db = db_open();
	char rid[37];
	e2e_seq q;

	/* 1. Pending: the cancel's own commit owes the final message. */
	e2e_start(&a, "gateway", hook, NULL);
	e2e_connect(&c1, &a, "u1", "t1");
	e2e_submit(&c1, rid, "p1", "delay", "{\"ms\":5000}");
	ok(*rid, "acknowledged, and nobody runs it");
	is(status_of(cancel(&c1, rid)), "cancelled",
	   "cancel answers cancelled although its commit's reply was lost");
	json_t *f = e2e_wait_final(&c1, rid, 10000);
	e2e_pump(&c1, 500); /* a second final would show now */
	is(f ? e2e_code(f) : "nothing", "CANCELLED", "the request ends with error CANCELLED");
	ok(e2e_check(&c1, 0, rid, true, &q), "ack, exactly one final, nothing after");
	is_int(q.finals, 1, "one final message");
	is(db_value(db, "SELECT concat_ws(' ', status, attempts, error->>'code',"
		   " locked_by IS NULL) FROM streamer.requests WHERE request_id = $1", rid),
	   "cancelled 0 CANCELLED t", "psql: cancelled once, never attempted");
	e2e_free(&c1);
	ok(tsrv_log_has(&a, "\"lost\":\"cancel reply\""),
	   "the hook did lose the cancel's reply (its log line)");
	is_int(e2e_stop(&a), 0, "A stops cleanly");

	/* 2. Running on B, whose client it is: the finisher's commit owes it. */
	e2e_start(&b, "all", hook, NULL);
	e2e_connect(&c2, &b, "u1", "t1");
	e2e_submit(&c2, rid, "r1", "delay", "{\"ms\":8000,\"steps\":80}");
	ok(e2e_wait(&c2, "progress", rid, NULL, 5000) != NULL, "it runs");
	is(status_of(cancel(&c2, rid)), "cancelled", "cancel answers cancelled");
	f = e2e_wait_final(&c2, rid, 10000);
	e2e_pump(&c2, 500);
	is(f ? e2e_code(f) : "nothing", "CANCELLED", "the request ends with error CANCELLED");
	ok(e2e_check(&c2, 0, rid, true, &q), "ack, progress, exactly one final, nothing after");
	is_int(q.finals, 1, "one final message");
	is(e2e_val_wait(db, "SELECT concat_ws(' ', status, attempts, error->>'code',"
			" locked_by IS NULL, result IS NULL)"
			" FROM streamer.requests WHERE request_id = $1",
			rid, "cancelled 1 CANCELLED t t", 3000),
	   "cancelled 1 CANCELLED t t", "psql: cancelled once, lease released, no result");

	e2e_free(&c2);
	PQfinish(db);
	ok(tsrv_log_has(&b, "\"lost\":\"cancelled reply\""),
	   "the hook did lose the finisher's cancelled reply (its log line)");
	is_int(e2e_stop(&b), 0, "B stops cleanly");
	return done_testing();
}

/* cancel and ownership end to end, with a gateway-only streamerd (A) and,
 * later, a worker-only one (B): a pending request (no worker anywhere) is
 * cancelled at once; a running one (run by B, its progress delivered
 * through A) stops at its next progress report; both end with `error`
 * CANCELLED and `status` cancelled. Another tenant or another user of the
 * same tenant gets NOT_FOUND from status and cancel, and cannot stop it. */
#include "e2e.h"

/* Sends `type` for rid and returns the answer (status or error). */
static json_t *ask(e2e_client *c, const char *type, const char *rid)
{
	int from = c->n;
	e2e_send(c, "{\"type\":\"%s\",\"request_id\":\"%s\",\"id\":\"q%d\"}", type, rid, from);
	char id[16];
	snprintf(id, sizeof id, "q%d", from);
	return e2e_wait_from(c, from, NULL, NULL, id, 5000);
}

static const char *code_of(json_t *m)
{
	return m ? e2e_str(json_object_get(m, "error"), "code") : NULL;
}

static const char *status_of(json_t *m)
{
	return m ? e2e_str(json_object_get(m, "data"), "status") : NULL;
}

int main(void)
{
	e2e_need_env();
	static tsrv a, b;
	static e2e_client c1, other_tenant, other_user;
	e2e_start(&a, "gateway", NULL);
	PGconn *db = db_open();
	e2e_connect(&c1, &a, "u1", "t1");
	e2e_connect(&other_tenant, &a, "u1", "t2");
	e2e_connect(&other_user, &a, "u2", "t1");
	char rid[37];
	e2e_seq q;

	/* 1. Pending: nobody runs it. */
	e2e_submit(&c1, rid, "p1", "delay", "{\"ms\":5000}");
	ok(*rid, "a gateway-only process acknowledges");
	e2e_pump(&c1, 300);
	is(db_value(db, "SELECT status FROM streamer.requests WHERE request_id = $1", rid),
	   "pending", "and the request waits for a worker");
	is(code_of(ask(&other_tenant, "status", rid)), "NOT_FOUND", "another tenant: status NOT_FOUND");
	is(code_of(ask(&other_tenant, "cancel", rid)), "NOT_FOUND", "another tenant: cancel NOT_FOUND");
	is(code_of(ask(&other_user, "status", rid)), "NOT_FOUND", "another user: status NOT_FOUND");
	is(code_of(ask(&other_user, "cancel", rid)), "NOT_FOUND", "another user: cancel NOT_FOUND");
	is(db_value(db, "SELECT status FROM streamer.requests WHERE request_id = $1", rid),
	   "pending", "still pending");
	json_t *l = NULL;
	{
		int from = other_user.n;
		e2e_send(&other_user, "{\"type\":\"list\"}");
		l = e2e_wait_from(&other_user, from, "list", NULL, NULL, 5000);
	}
	is_int(json_array_size(json_object_get(l, "data")), 0, "another user's list is empty");

	is(status_of(ask(&c1, "cancel", rid)), "cancelled", "cancel answers with the new state");
	json_t *f = e2e_wait_final(&c1, rid, 5000);
	ok(f != NULL, "the final message comes although no process runs handlers");
	is(code_of(f), "CANCELLED", "the request ends with error CANCELLED");
	e2e_pump(&c1, 300);
	ok(e2e_check(&c1, 0, rid, true, &q), "ack, then one final, nothing after");
	is(status_of(ask(&c1, "status", rid)), "cancelled", "status shows cancelled");
	is(db_value(db, "SELECT status || ' ' || attempts || ' ' || (error->>'code')"
		   " FROM streamer.requests WHERE request_id = $1", rid),
	   "cancelled 0 CANCELLED", "the row: cancelled, never attempted");
	is(code_of(ask(&c1, "status", "00000000-0000-4000-8000-000000000000")), "NOT_FOUND",
	   "an unknown request_id is NOT_FOUND");

	/* 2. Running: worker-only B runs it, A delivers. */
	e2e_start(&b, "worker", NULL);
	is(e2e_val_wait(db, "SELECT string_agg(role, ',' ORDER BY role) FROM streamer.nodes",
			NULL, "gateway,worker", 5000),
	   "gateway,worker", "two nodes: A the gateway, B the worker");
	int from = c1.n;
	e2e_submit(&c1, rid, "r1", "delay", "{\"ms\":30000,\"steps\":300}");
	ok(e2e_wait(&c1, "progress", rid, NULL, 15000) != NULL, "B's progress arrives through A");
	is(db_value(db, "SELECT n.role FROM streamer.requests r JOIN streamer.nodes n"
		   " ON n.node_id = r.locked_by WHERE r.request_id = $1", rid),
	   "worker", "the lease is B's");
	is(code_of(ask(&other_tenant, "cancel", rid)), "NOT_FOUND", "another tenant cannot cancel it");
	is(code_of(ask(&other_user, "cancel", rid)), "NOT_FOUND", "nor another user");
	int before = e2e_count(&c1, "progress", rid);
	e2e_pump(&c1, 400);
	ok(e2e_count(&c1, "progress", rid) > before, "it goes on running");
	is(status_of(ask(&c1, "cancel", rid)), "cancelled", "the owner cancels it");
	f = e2e_wait_final(&c1, rid, 15000);
	ok(f != NULL, "the handler stops at a report, long before its 30 s are up");
	is(code_of(f), "CANCELLED", "error CANCELLED");
	e2e_pump(&c1, 500);
	ok(e2e_check(&c1, from, rid, true, &q), "ack, progress, one final, nothing after");
	is(status_of(ask(&c1, "status", rid)), "cancelled", "status shows cancelled");
	is(e2e_val_wait(db, "SELECT concat_ws(' ', status, locked_by IS NULL, progress < 100,"
			" result IS NULL) FROM streamer.requests WHERE request_id = $1",
			rid, "cancelled t t t", 3000),
	   "cancelled t t t", "the row: cancelled, lease released, no result");

	e2e_free(&c1);
	e2e_free(&other_tenant);
	e2e_free(&other_user);
	PQfinish(db);
	is_int(e2e_stop(&b), 0, "B stops cleanly");
	is_int(e2e_stop(&a), 0, "A stops cleanly");
	return done_testing();
}

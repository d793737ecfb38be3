/* The insert trigger: a NOTIFY reaches a listener after commit, none after
 * a rollback, and a batch of inserts in one transaction wakes it once;
 * rows inserted already claimed (processing) wake nobody, and a statement
 * with both kinds wakes the listener once. */
#include <poll.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "tap.h"
#include "testdb.h"

static void exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		BAIL_OUT("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

/* Counts the notifications on `channel` arriving within `ms`. */
static int wait_notifies(PGconn *c, const char *channel, int ms)
{
	int n = 0;
	struct pollfd p = { .fd = PQsocket(c), .events = POLLIN };
	for (;;) {
		PQconsumeInput(c);
		PGnotify *nt;
		while ((nt = PQnotifies(c))) {
			if (strcmp(nt->relname, channel) == 0)
				n++;
			PQfreemem(nt);
		}
		if (poll(&p, 1, ms) <= 0)
			return n;
		ms = 50; /* after the first, only what follows closely */
	}
}

#define INSERT "INSERT INTO streamer.requests (request_id, action, user_id, tenant_id) " \
	       "VALUES (gen_random_uuid(), 'a', 'u', 't')"

int main(void)
{
	PGconn *listener = db_open(), *writer = db_open();
	exec(listener, "LISTEN streamer_queue");

	exec(writer, "BEGIN");
	exec(writer, INSERT);
	is_int(wait_notifies(listener, "streamer_queue", 100), 0,
	       "nothing arrives before commit");
	exec(writer, "ROLLBACK");
	is_int(wait_notifies(listener, "streamer_queue", 300), 0,
	       "nothing arrives after a rollback");

	exec(writer, "BEGIN");
	exec(writer, INSERT);
	exec(writer, "COMMIT");
	is_int(wait_notifies(listener, "streamer_queue", 2000), 1,
	       "one notification after commit");

	exec(writer, "BEGIN");
	for (int i = 0; i < 50; i++)
		exec(writer, INSERT);
	exec(writer, "COMMIT");
	is_int(wait_notifies(listener, "streamer_queue", 2000), 1,
	       "50 inserts in one transaction wake the listener once");

	exec(writer, INSERT ", (gen_random_uuid(), 'b', 'u', 't')");
	is_int(wait_notifies(listener, "streamer_queue", 2000), 1,
	       "a multi-row insert notifies once");

	exec(writer, "INSERT INTO streamer.requests (request_id, action, user_id,"
		     " tenant_id, status, locked_by, attempts) VALUES"
		     " (gen_random_uuid(), 'a', 'u', 't', 'processing', 'n1', 1)");
	is_int(wait_notifies(listener, "streamer_queue", 300), 0,
	       "a row inserted claimed (processing) wakes nobody");

	exec(writer, "INSERT INTO streamer.requests (request_id, action, user_id,"
		     " tenant_id, status, locked_by, attempts) VALUES"
		     " (gen_random_uuid(), 'a', 'u', 't', 'processing', 'n1', 1),"
		     " (gen_random_uuid(), 'a', 'u', 't', 'pending', NULL, 0)");
	is_int(wait_notifies(listener, "streamer_queue", 2000), 1,
	       "claimed and pending rows in one statement notify once");

	PGresult *r = PQexec(writer, "SELECT count(*) FROM streamer.requests");
	is(PQgetvalue(r, 0, 0), "56", "the committed rows are there");
	PQclear(r);

	PQfinish(listener);
	PQfinish(writer);
	return done_testing();
}

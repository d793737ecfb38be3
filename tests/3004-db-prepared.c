/* st__db_exec prepares a statement the first time a connection runs it
 * and runs it by name after; st__db_exec_planned never prepares. The
 * statement is known by its text's address and checked by content, so a
 * buffer reused for another statement runs that one. A reset connection
 * (whose prepared statements are gone) prepares again. */
#include <stdlib.h>
#include <string.h>

#include "../runtime/db.h"
#include "tap.h"
#include "testdb.h"

static const char *one(PGconn *c, const char *sql, const char *arg, bool planned)
{
	static char v[64];
	const char *p[] = { arg };
	PGresult *r = planned ? st__db_exec_planned(c, sql, 1, p)
			      : st__db_exec(c, sql, 1, p);
	snprintf(v, sizeof v, "%s", r && PQntuples(r) ? PQgetvalue(r, 0, 0) : "(failed)");
	PQclear(r);
	return v;
}

static const char *prepared(PGconn *c)
{
	static char v[16];
	PGresult *r = PQexec(c, "SELECT count(*) FROM pg_prepared_statements");
	snprintf(v, sizeof v, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "?");
	PQclear(r);
	return v;
}

int main(void)
{
	const char *url = getenv("DATABASE_URL");
	if (!url)
		skip_all("needs DATABASE_URL (run under make test)");
	bool warned = false;
	PGconn *c = st__db_connect(url, &warned);
	if (!c)
		BAIL_OUT("cannot connect");

	static const char ADD[] = "SELECT $1::int + 1";
	is(one(c, ADD, "41", false), "42", "a statement runs");
	is(prepared(c), "1", "and is prepared on the connection");
	is(one(c, ADD, "1", false), "2", "it runs again, by name");
	is(prepared(c), "1", "without preparing it twice");

	char buf[64];
	strcpy(buf, "SELECT $1::int * 2");
	is(one(c, buf, "21", false), "42", "a statement in a buffer runs");
	strcpy(buf, "SELECT $1::int * 3");
	is(one(c, buf, "21", false), "63", "the same buffer with another statement runs that one");
	is(prepared(c), "3", "each text prepared once");

	is(one(c, "SELECT $1::int - 1", "43", true), "42", "a planned statement runs");
	is(prepared(c), "3", "and is not prepared");

	ok(one(c, "SELECT $1::int +", "1", false) && !strcmp(one(c, "SELECT $1::int +", "1", false), "(failed)"),
	   "a statement that does not parse fails as before");
	ok(!st__db_broken(c), "and the connection stays usable");
	is(one(c, ADD, "9", false), "10", "prepared statements still run after an error");

	PQreset(c);
	ok(!st__db_broken(c), "a reset connection");
	is(one(c, ADD, "99", false), "100", "prepares again after a reset");
	is(prepared(c), "1", "what it runs");

	PQfinish(c);
	return done_testing();
}

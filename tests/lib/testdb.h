/* testdb.h: the test's own database (DATABASE_URL, from tests/lib/run-test)
 * for C tests: connect, and read one value. */
#ifndef TESTDB_H
#define TESTDB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "tap.h"

static inline PGconn *db_open(void)
{
	PGconn *c = PQconnectdb(getenv("DATABASE_URL"));
	if (PQstatus(c) != CONNECTION_OK)
		BAIL_OUT("connect: %s", PQerrorMessage(c));
	return c;
}

/* The first value of a one-row query with up to one text parameter, in a
 * static buffer (valid until the next call); "(null)" for NULL, "(none)"
 * without a row, "error: ..." when the query fails. */
static inline const char *db_value(PGconn *c, const char *sql, const char *param)
{
	static char out[4096];
	const char *p[] = { param };
	PGresult *r = PQexecParams(c, sql, param ? 1 : 0, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		snprintf(out, sizeof out, "error: %s", PQerrorMessage(c));
	else if (PQntuples(r) == 0)
		strcpy(out, "(none)");
	else if (PQgetisnull(r, 0, 0))
		strcpy(out, "(null)");
	else
		snprintf(out, sizeof out, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return out;
}

#endif

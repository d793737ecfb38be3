/* migrate.c: applies the embedded migrations, each once and in order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate.h"

/* Any constant will do: it only has to be the same for every runner. */
#define MIGRATE_LOCK_KEY 0x5354524dL /* "STRM" */

static int fail(char *err, size_t n, const char *what, PGconn *c)
{
	snprintf(err, n, "%s: %s", what, PQerrorMessage(c));
	size_t len = strlen(err);
	while (len > 0 && (err[len - 1] == '\n' || err[len - 1] == ' '))
		err[--len] = '\0';
	return -1;
}

static int exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	PQclear(r);
	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
}

/* The highest applied version, 0 for an empty database, -1 on error. */
static int applied_version(PGconn *c)
{
	PGresult *r = PQexec(c,
		"SELECT coalesce(max(version), 0) FROM streamer.schema_migrations");
	int v = -1;
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		v = atoi(PQgetvalue(r, 0, 0));
	else if (strcmp(PQresultErrorField(r, PG_DIAG_SQLSTATE) ?
			 PQresultErrorField(r, PG_DIAG_SQLSTATE) : "", "42P01") == 0)
		v = 0; /* undefined_table: nothing applied yet */
	PQclear(r);
	return v;
}

int st__migrate_apply(PGconn *c, FILE *out, char *err, size_t errlen)
{
	int applied = 0;
	char lock[128];

	snprintf(lock, sizeof lock, "SELECT pg_advisory_lock(%ld)", MIGRATE_LOCK_KEY);
	if (exec_ok(c, lock) < 0)
		return fail(err, errlen, "taking the migration lock", c);

	int have = applied_version(c);
	if (have < 0) {
		fail(err, errlen, "reading streamer.schema_migrations", c);
		goto fail;
	}
	for (size_t i = 0; i < st__n_migrations; i++) {
		const st__migration *m = &st__migrations[i];
		if (m->version <= have)
			continue;
		if (exec_ok(c, "BEGIN") < 0) {
			fail(err, errlen, "BEGIN", c);
			goto fail;
		}
		if (exec_ok(c, m->sql) < 0) {
			char what[160];
			snprintf(what, sizeof what, "migration %s", m->name);
			fail(err, errlen, what, c);
			exec_ok(c, "ROLLBACK");
			goto fail;
		}
		char ver[16];
		snprintf(ver, sizeof ver, "%d", m->version);
		const char *params[2] = { ver, m->name };
		PGresult *r = PQexecParams(c,
			"INSERT INTO streamer.schema_migrations (version, name) "
			"VALUES ($1, $2)", 2, NULL, params, NULL, NULL, 0);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (!ok || exec_ok(c, "COMMIT") < 0) {
			fail(err, errlen, "recording the migration", c);
			exec_ok(c, "ROLLBACK");
			goto fail;
		}
		if (out)
			fprintf(out, "applied %s\n", m->name);
		applied++;
	}
	snprintf(lock, sizeof lock, "SELECT pg_advisory_unlock(%ld)", MIGRATE_LOCK_KEY);
	exec_ok(c, lock);
	return applied;

fail:
	snprintf(lock, sizeof lock, "SELECT pg_advisory_unlock(%ld)", MIGRATE_LOCK_KEY);
	exec_ok(c, lock);
	return -1;
}

int st__migrate_check(PGconn *c, char *err, size_t errlen)
{
	int want = st__n_migrations ?
		st__migrations[st__n_migrations - 1].version : 0;
	int have = applied_version(c);
	if (have < 0)
		return fail(err, errlen, "reading streamer.schema_migrations", c);
	if (have < want) {
		snprintf(err, errlen,
			 "the database schema is at version %d, this streamerd needs %d: "
			 "run `streamerd migrate` (or `make migrate`)", have, want);
		return -1;
	}
	return 0;
}

/* db.c: libpq helpers for the async engine (see db.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <libpq-events.h>

#include "db.h"

/* Statements prepared on a connection. Parsing and planning one of the
 * batch statements costs about as much as running it (0.1-0.3 ms each,
 * measured with pg_stat_statements.track_planning), so a connection made
 * by st__db_connect prepares each parameterized statement the first time
 * it runs it, and executes it by name after that. A statement is known by
 * its text's address (the engine's SQL is static) and checked by content,
 * so that a reused buffer cannot run the wrong statement. */
#define PREP_MAX 32

struct prepared {
	int n;
	struct {
		const char *sql;
		char *text;
	} v[PREP_MAX];
};

static void prepared_clear(struct prepared *ps)
{
	for (int i = 0; i < ps->n; i++)
		free(ps->v[i].text);
	ps->n = 0;
}

static int prepared_event(PGEventId id, void *info, void *pass)
{
	(void)pass;
	if (id == PGEVT_CONNRESET) { /* a reset connection has none left */
		PGconn *c = ((PGEventConnReset *)info)->conn;
		prepared_clear(PQinstanceData(c, prepared_event));
	} else if (id == PGEVT_CONNDESTROY) {
		PGconn *c = ((PGEventConnDestroy *)info)->conn;
		struct prepared *ps = PQinstanceData(c, prepared_event);
		if (ps) {
			prepared_clear(ps);
			free(ps);
		}
	}
	return 1;
}

/* The name sql is prepared under on c ("s<index>"), preparing it first;
 * false when it cannot be (not our connection, or the table is full). */
static bool prepared_name(PGconn *c, const char *sql, int n, char name[16])
{
	struct prepared *ps = PQinstanceData(c, prepared_event);
	if (!ps)
		return false;
	int i = 0;
	while (i < ps->n && !(ps->v[i].sql == sql && strcmp(ps->v[i].text, sql) == 0))
		i++;
	snprintf(name, 16, "s%d", i);
	if (i < ps->n)
		return true;
	if (i == PREP_MAX)
		return false;
	char *text = strdup(sql);
	if (!text)
		return false;
	PGresult *r = PQprepare(c, name, sql, n, NULL);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (!ok) { /* the plain run below reports why */
		free(text);
		return false;
	}
	ps->v[i].sql = sql;
	ps->v[i].text = text;
	ps->n++;
	return true;
}

static void quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

PGconn *st__db_connect(const char *conninfo, bool *warned)
{
	PGconn *c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		if (!*warned)
			fprintf(stderr, "streamer: database: %s", PQerrorMessage(c));
		*warned = true;
		PQfinish(c);
		return NULL;
	}
	*warned = false;
	PQsetNoticeProcessor(c, quiet, NULL);
	struct prepared *ps = calloc(1, sizeof *ps);
	if (ps && PQregisterEventProc(c, prepared_event, "streamer", NULL) &&
	    PQsetInstanceData(c, prepared_event, ps))
		ps = NULL; /* the connection owns it now */
	free(ps);
	return c;
}

static PGresult *run(PGconn *c, const char *sql, int n,
		     const char *const *params, bool prepare)
{
	char name[16];
	PGresult *r = prepare && n > 0 && prepared_name(c, sql, n, name)
		? PQexecPrepared(c, name, n, params, NULL, NULL, 0)
		: PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType s = PQresultStatus(r);
	if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
		return r;
	if (PQstatus(c) == CONNECTION_OK)
		fprintf(stderr, "streamer: query failed: %s", PQerrorMessage(c));
	PQclear(r);
	return NULL;
}

PGresult *st__db_exec(PGconn *c, const char *sql, int n,
		      const char *const *params)
{
	return run(c, sql, n, params, true);
}

PGresult *st__db_exec_planned(PGconn *c, const char *sql, int n,
			      const char *const *params)
{
	return run(c, sql, n, params, false);
}

bool st__db_broken(PGconn *c)
{
	return !c || PQstatus(c) != CONNECTION_OK;
}

int st__db_xact_begin(PGconn *c, char xid[32])
{
	PGresult *r = st__db_exec(c, "BEGIN", 0, NULL);
	if (!r)
		return -1;
	PQclear(r);
	r = st__db_exec(c, "SELECT txid_current()", 0, NULL);
	if (!r)
		return -1;
	snprintf(xid, 32, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

int st__db_xact_status(PGconn *c, const char *xid)
{
	const char *p[] = { xid };
	PGresult *r = st__db_exec(c, "SELECT txid_status($1::bigint)", 1, p);
	if (!r) /* broken, or an id too old to know: then run it again */
		return st__db_broken(c) ? -1 : 0;
	int s = PQgetisnull(r, 0, 0) ? 0
		: strcmp(PQgetvalue(r, 0, 0), "committed") == 0 ? 1
		: strcmp(PQgetvalue(r, 0, 0), "in progress") == 0 ? 2 : 0;
	PQclear(r);
	return s;
}

void st__db_arr_begin(st_buf *b)
{
	st_buf_reset(b);
	st_buf_lit(b, "{");
}

static void sep(st_buf *b)
{
	if (b->len > 1)
		st_buf_lit(b, ",");
}

void st__db_arr_strn(st_buf *b, const char *s, size_t n)
{
	sep(b);
	if (!s) {
		st_buf_lit(b, "NULL");
		return;
	}
	st_buf_lit(b, "\"");
	size_t from = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\') {
			st_buf_append(b, s + from, i - from);
			st_buf_lit(b, "\\");
			from = i;
		}
	}
	st_buf_append(b, s + from, n - from);
	st_buf_lit(b, "\"");
}

void st__db_arr_str(st_buf *b, const char *s)
{
	st__db_arr_strn(b, s, s ? strlen(s) : 0);
}

void st__db_arr_int(st_buf *b, long long v)
{
	sep(b);
	st_buf_printf(b, "%lld", v);
}

void st__db_arr_f64(st_buf *b, double v)
{
	sep(b);
	st_buf_printf(b, "%.17g", v);
}

void st__db_arr_end(st_buf *b)
{
	st_buf_lit(b, "}");
	st_buf_append(b, "", 1); /* the NUL libpq needs, not counted below */
	b->len--;
}

int64_t st__mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int64_t st__wall_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void st__uuid_v4(char out[37])
{
	unsigned char b[16];
	size_t got = 0;
	while (got < sizeof b) {
		ssize_t n = getrandom(b + got, sizeof b - got, 0);
		if (n > 0)
			got += (size_t)n;
	}
	b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
	static const char hex[] = "0123456789abcdef";
	char *p = out;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[b[i] >> 4];
		*p++ = hex[b[i] & 15];
	}
	*p = '\0';
}

bool st__uuid_valid(const char *s)
{
	if (!s || strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

void st__sleep_unless(int ms, const atomic_int *stop)
{
	while (ms > 0 && !atomic_load(stop)) {
		int step = ms < 20 ? ms : 20;
		struct timespec t = { 0, (long)step * 1000000L };
		nanosleep(&t, NULL);
		ms -= step;
	}
}

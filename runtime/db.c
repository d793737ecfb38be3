/* db.c: libpq helpers for the async engine (see db.h). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "db.h"

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
	return c;
}

PGresult *st__db_exec(PGconn *c, const char *sql, int n,
		      const char *const *params)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType s = PQresultStatus(r);
	if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
		return r;
	if (PQstatus(c) == CONNECTION_OK)
		fprintf(stderr, "streamer: query failed: %s", PQerrorMessage(c));
	PQclear(r);
	return NULL;
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

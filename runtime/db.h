/* db.h: small libpq helpers the async engine shares: connecting, array
 * parameters, result checks, clocks and request ids. */
#ifndef STREAMER_DB_H
#define STREAMER_DB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "streamer/codec.h"

/* Connects to `conninfo`, quiet about NOTICEs. NULL when it fails (the
 * libpq message goes to stderr once per `*warned` transition). */
PGconn *st__db_connect(const char *conninfo, bool *warned);

/* Runs a parameterized statement (text parameters, text results). Returns
 * the result when its status is COMMAND_OK or TUPLES_OK, else logs, clears
 * and returns NULL; then st__db_broken() tells whether to reconnect.
 * On a connection from st__db_connect the statement is prepared the first
 * time and run by name after, with the plan PostgreSQL caches for it. */
PGresult *st__db_exec(PGconn *c, const char *sql, int n,
		      const char *const *params);
/* The same, planned for each run with its parameters: for the statements
 * over a batch of queue rows, whose best plan depends on the batch and on
 * the queue's state (a cached generic plan scanned every pending row to
 * claim a few, and every running one to finish a few). */
PGresult *st__db_exec_planned(PGconn *c, const char *sql, int n,
			      const char *const *params);
bool st__db_broken(PGconn *c);

/* A transaction whose COMMIT's reply may be lost: st__db_xact_begin runs
 * BEGIN and stores the transaction's id (txid_current) as text in xid[32];
 * 0, or -1 when either failed. After the connection broke, on a new one,
 * st__db_xact_status says what became of it: 1 committed, 0 aborted or
 * unknown to the server (run it again), 2 still in progress (ask again
 * soon), -1 the connection broke again. */
int st__db_xact_begin(PGconn *c, char xid[32]);
int st__db_xact_status(PGconn *c, const char *xid);

/* Array literals for unnest($n::T[]): begin with '{', add elements (quoted
 * and escaped, or NULL), end with '}'. */
void st__db_arr_begin(st_buf *b);
void st__db_arr_str(st_buf *b, const char *s); /* NULL: SQL NULL */
void st__db_arr_strn(st_buf *b, const char *s, size_t n);
void st__db_arr_int(st_buf *b, long long v);
void st__db_arr_f64(st_buf *b, double v);
void st__db_arr_end(st_buf *b);

/* Milliseconds: monotonic (deadlines) and Unix (timestamps). */
int64_t st__mono_ms(void);
int64_t st__wall_ms(void);

/* A random (version 4) uuid as canonical text into out[37]. */
void st__uuid_v4(char out[37]);
/* True when s is a uuid in canonical text form (any case). */
bool st__uuid_valid(const char *s);

/* Sleeps up to ms, in short steps, returning early once *stop is set. */
void st__sleep_unless(int ms, const atomic_int *stop);

#endif

/* migrate.h: the schema migrations compiled into streamerd and their runner. */
#ifndef STREAMER_MIGRATE_H
#define STREAMER_MIGRATE_H

#include <stddef.h>
#include <stdio.h>
#include <libpq-fe.h>

typedef struct st__migration {
	int version;      /* from the file name: 0001_init.sql is 1 */
	const char *name; /* "0001_init" */
	const char *sql;
} st__migration;

/* Generated from the files in migrations/, sorted by version. */
extern const st__migration st__migrations[];
extern const size_t st__n_migrations;

/* Applies every migration not yet in streamer.schema_migrations, in order,
 * each in its own transaction, under an advisory lock so that concurrent
 * runners take turns. Prints one line per applied file to `out` (may be
 * NULL). Returns the number applied, or -1 with the reason in err. */
int st__migrate_apply(PGconn *c, FILE *out, char *err, size_t errlen);

/* 0 when the database has every migration this binary knows; -1 with a
 * message naming the command that upgrades it otherwise. */
int st__migrate_check(PGconn *c, char *err, size_t errlen);

#endif

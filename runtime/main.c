/* main.c: streamerd's entry point: `streamerd migrate` or the server. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "daemon.h"
#include "migrate.h"
#include "streamer/registry.h"

static void quiet_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static PGconn *connect_db(void)
{
	const char *url = getenv("DATABASE_URL");
	if (!url || !*url) {
		fprintf(stderr, "streamerd: DATABASE_URL is not set\n");
		return NULL;
	}
	PGconn *c = PQconnectdb(url);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "streamerd: cannot connect to the database: %s",
			PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

/* `streamerd migrate`: brings the schema up to date; safe to run twice. */
static int cmd_migrate(void)
{
	char err[512];
	PGconn *c = connect_db();
	if (!c)
		return 1;
	PQsetNoticeProcessor(c, quiet_notice, NULL); /* no NOTICE chatter */
	int n = st__migrate_apply(c, stdout, err, sizeof err);
	PQfinish(c);
	if (n < 0) {
		fprintf(stderr, "streamerd: migrate: %s\n", err);
		return 1;
	}
	if (n == 0)
		printf("schema is up to date\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "migrate") == 0)
		return cmd_migrate();
	return st__daemon_main(argc, argv, &st_registry_main);
}

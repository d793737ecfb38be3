/* async.c: the engine's assembly (async.h): configuration, the queue and
 * the workers of this process, per STREAMER_ROLE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "async.h"
#include "db.h"
#include "queue.h"
#include "worker.h"

struct st__async {
	st__async_config cfg; /* resolved */
	char node_id[40];
	char role[16];
	st__queue *q;
	st__workers *w;
	bool started;
};

#define DEF(field, value)                \
	do {                             \
		if (!c->field)           \
			c->field = (value); \
	} while (0)

void st__async_config_defaults(st__async_config *c)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	DEF(role, "all");
	DEF(workers, (int)(cores > 0 ? 2 * cores : 2));
	DEF(submitters, 2);
	DEF(batch_max, 512);
	DEF(prefetch, 256);
	DEF(queue_max, 65536);
	DEF(default_timeout_ms, 840000);
	DEF(lease_ms, 10000);
	DEF(backoff_base_ms, 1000);
	DEF(backoff_max_ms, 300000);
	DEF(sweep_ms, 1000);
	DEF(rescue_ms, 1000);
	DEF(heartbeat_ms, 2000);
	DEF(node_dead_ms, 15000);
	DEF(retention_ms, 60000);
	DEF(retention_batch, 1000);
	DEF(result_ttl_ms, 7ull * 24 * 3600 * 1000);
	DEF(progress_client_ms, 100);
	DEF(progress_db_ms, 1000);
	DEF(submit_deadline_ms, 10000);
}

st__async *st__async_create(const st__async_config *cfg)
{
	st__async *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->cfg = *cfg;
	st__async_config_defaults(&a->cfg);
	if (a->cfg.prefetch < 0)
		a->cfg.prefetch = 0;
	if (!a->cfg.conninfo) {
		fprintf(stderr, "streamer: async: no database connection string\n");
		goto fail;
	}
	snprintf(a->role, sizeof a->role, "%s", a->cfg.role);
	a->cfg.role = a->role;
	bool gateway = strcmp(a->role, "worker") != 0;
	bool worker = strcmp(a->role, "gateway") != 0;
	if (strcmp(a->role, "gateway") != 0 && strcmp(a->role, "worker") != 0 &&
	    strcmp(a->role, "all") != 0) {
		fprintf(stderr, "streamer: async: unknown role '%s'\n", a->role);
		goto fail;
	}
	if (cfg->node_id) {
		if (strlen(cfg->node_id) >= 40) {
			fprintf(stderr, "streamer: async: node id too long\n");
			goto fail;
		}
		strcpy(a->node_id, cfg->node_id);
	} else {
		char u[37];
		st__uuid_v4(u);
		/* "n" + 16 hex digits: short enough for a channel name. */
		snprintf(a->node_id, sizeof a->node_id, "n%.8s%.4s%.4s", u, u + 9,
			 u + 14);
	}
	a->cfg.node_id = a->node_id;
	if (worker && !a->cfg.run) {
		fprintf(stderr, "streamer: async: workers need a runner\n");
		goto fail;
	}
	if (gateway && !(a->q = st__queue_create(&a->cfg)))
		goto fail;
	if (!(a->w = st__workers_create(&a->cfg, a->q, worker)))
		goto fail;
	if (a->q && worker)
		st__queue_set_workers(a->q, a->w);
	return a;
fail:
	st__async_free(a);
	return NULL;
}

int st__async_start(st__async *a)
{
	/* One connection up front, so that a wrong DATABASE_URL is an error
	 * at start rather than an endless retry. */
	bool warned = false;
	PGconn *c = st__db_connect(a->cfg.conninfo, &warned);
	if (!c)
		return -1;
	PQfinish(c);
	if (a->q && st__queue_start(a->q) < 0)
		return -1;
	if (st__workers_start(a->w) < 0) {
		if (a->q)
			st__queue_stop(a->q);
		return -1;
	}
	a->started = true;
	return 0;
}

void st__async_stop(st__async *a)
{
	if (!a->started)
		return;
	if (a->q)
		st__queue_stop(a->q);
	st__workers_stop(a->w);
	a->started = false;
}

void st__async_free(st__async *a)
{
	if (!a)
		return;
	st__async_stop(a);
	st__workers_free(a->w);
	st__queue_free(a->q);
	free(a);
}

const char *st__async_node_id(const st__async *a)
{
	return a->node_id;
}

int st__async_submit(st__async *a, const st__submit *s, st__submit_cb cb,
		     void *ud)
{
	return a->q ? st__queue_submit(a->q, s, cb, ud) : -1;
}

int st__async_status(st__async *a, const char *tenant_id, const char *user_id,
		     const char *request_id, const char *connection_id,
		     st__query_cb cb, void *ud)
{
	return a->q ? st__queue_status(a->q, tenant_id, user_id, request_id,
				       connection_id, cb, ud)
		    : -1;
}

int st__async_list(st__async *a, const char *tenant_id, const char *user_id,
		   st__query_cb cb, void *ud)
{
	return a->q ? st__queue_list(a->q, tenant_id, user_id, cb, ud) : -1;
}

int st__async_cancel(st__async *a, const char *tenant_id, const char *user_id,
		     const char *request_id, st__query_cb cb, void *ud)
{
	return a->q ? st__queue_cancel(a->q, tenant_id, user_id, request_id, cb, ud)
		    : -1;
}

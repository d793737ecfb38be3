/* daemon.c: start-up in order (config, log, database, async engine, pool,
 * router, server), the signal thread, and shutdown in reverse. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "async.h"
#include "auth.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "presence.h"
#include "req.h"
#include "router.h"
#include "server.h"

static atomic_bool sig_done;

/* SIGTERM/SIGINT ask the server to drain; SIGUSR1 (from main) ends the
 * thread. The signals are blocked everywhere else. */
static void *signal_main(void *arg)
{
	sigset_t *set = arg;
	pthread_setname_np(pthread_self(), "st-signal"); /* top -H, perf */
	for (;;) {
		int sig;
		if (sigwait(set, &sig) != 0)
			continue;
		if (atomic_load(&sig_done))
			return NULL;
		if (sig == SIGTERM || sig == SIGINT) {
			st__log_info("stopping", "signal=%d", sig);
			st__server_stop();
		}
	}
}

static const char *role_name(st__role r)
{
	return r == ST__ROLE_GATEWAY ? "gateway" : r == ST__ROLE_WORKER ? "worker" : "all";
}

int st__daemon_main(int argc, char **argv, const st_registry *reg)
{
	st__config cfg;
	char err[512];
	int rc = st__config_load(&cfg, argc, argv, stdout, err, sizeof err);
	if (rc != 0) {
		if (rc < 0)
			fprintf(stderr, "streamerd: %s\n", err);
		return rc > 0 ? 0 : 2;
	}
	st__log_set_level(cfg.log_level);

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread */
	signal(SIGPIPE, SIG_IGN);

	int status = 1;
	st__auth *auth = NULL;
	st__presence *pres = NULL;
	st__async *async = NULL;
	st__pool *pool = NULL;
	bool server = false, router = false, sigthread = false, metrics = false;
	pthread_t sig_tid;
	char node_id[160];

	if (!(auth = st__auth_create(&cfg, err, sizeof err))) {
		st__log_error("cannot start", "error=%s", err);
		goto out;
	}
	if (st__metrics_init(reg) < 0) {
		st__log_error("out of memory", NULL);
		goto out;
	}
	metrics = true;

	/* The async engine registers the node when it exists; else we do. */
	st__async_config acfg;
	memset(&acfg, 0, sizeof acfg);
	st__node_id_make(node_id, sizeof node_id);
	acfg.conninfo = cfg.database_url;
	acfg.node_id = node_id;
	acfg.role = role_name(cfg.role);
	acfg.registry = reg;
	acfg.workers = cfg.workers;
	acfg.result_ttl_ms = cfg.result_ttl_ms;
	acfg.lease_ms = cfg.lease_ms;
	acfg.backoff_base_ms = cfg.retry_base_ms;
	acfg.run = st__req_run;
	st__async_config_defaults(&acfg);
	async = st__async_create(&acfg);
	if (!async) {
		/* Without the engine every async action would answer
		 * SERVICE_UNAVAILABLE: refuse to start instead. */
		st__log_error("cannot create the async engine", "node=%s", node_id);
		goto out;
	}

	pres = st__presence_create(cfg.database_url, node_id, role_name(cfg.role),
				   false);
	if (!pres || st__presence_start(pres, err, sizeof err) < 0) {
		st__log_error("cannot start", "error=%s", pres ? err : "out of memory");
		goto out;
	}
	if (st__async_start(async) < 0) {
		st__log_error("cannot start the async engine", NULL);
		goto out;
	}
	if (st__presence_run(pres) < 0)
		goto out;

	pool = st__pool_create(cfg.sync_threads, cfg.sync_queue);
	if (!pool || st__router_init(reg, &cfg, pool, async, st__server_send) < 0) {
		st__log_error("out of memory", NULL);
		goto out;
	}
	router = true;
	if (st__server_create(&cfg, auth, pres, pool, err, sizeof err) < 0) {
		st__log_error("cannot start", "error=%s", err);
		goto out;
	}
	server = true;
	if (pthread_create(&sig_tid, NULL, signal_main, &set) != 0)
		goto out;
	sigthread = true;
	st__log_info("started", "node=%s role=%s actions=%zu", node_id,
		     role_name(cfg.role), reg->n_actions);

	st__server_run();
	status = 0;
out:
	if (server)
		st__server_destroy(); /* closes the connections */
	if (pool)
		st__pool_free(pool);  /* lets running handlers finish */
	if (router)
		st__router_fini();
	/* Presence first: it writes the closed connections' rows away, and
	 * only then may the engine delete the node (whose rows cascade), or
	 * the two deletes of the same rows can deadlock. */
	if (pres) {
		st__presence_stop(pres);
		st__presence_free(pres);
	}
	if (async) {
		st__async_stop(async);
		st__async_free(async);
	}
	if (sigthread) {
		atomic_store(&sig_done, true);
		pthread_kill(sig_tid, SIGUSR1);
		pthread_join(sig_tid, NULL);
	}
	if (metrics)
		st__metrics_fini();
	st__auth_free(auth);
	if (status == 0)
		st__log_info("stopped", NULL);
	st__config_fini(&cfg);
	return status;
}

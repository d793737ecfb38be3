/* presence.c: the gateway's database thread: connection rows in batches,
 * node heartbeat, and the health check. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "log.h"
#include "migrate.h"
#include "presence.h"

#define OPS_MAX 65536     /* rows waiting to be written */
#define BATCH_MAX 256     /* rows per transaction */
#define CHECK_MS 1000     /* health check and heartbeat period */
#define HEALTHY_MS 3500   /* a check older than this: unhealthy */
#define DEAD_NODE "30 seconds" /* a node without heartbeat this long is gone */

typedef struct op {
	struct op *next;
	bool add;
	char *conn_id, *user_id, *tenant_id; /* in mem */
	char mem[];
} op;

struct st__presence {
	char *conninfo, *node_id, *role;
	bool register_node;
	PGconn *db;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	op *head, *tail;
	size_t n;
	bool stopping;
	atomic_llong last_ok_ms;
	bool warned;
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void quiet(void *arg, const char *msg)
{
	(void)arg, (void)msg;
}

void st__node_id_make(char *out, size_t len)
{
	char host[64] = "host";
	gethostname(host, sizeof host - 1);
	host[sizeof host - 1] = '\0';
	unsigned r = 0;
	if (getrandom(&r, sizeof r, 0) != sizeof r)
		r = (unsigned)now_ms();
	/* At most 20 characters of the host name: the id is part of a NOTIFY
	 * channel name (streamer_node_<id>), and those stop at 63 bytes. */
	snprintf(out, len, "%.20s-%ld-%08x", host, (long)getpid(), r);
}

st__presence *st__presence_create(const char *conninfo, const char *node_id,
				  const char *role, bool register_node)
{
	st__presence *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->conninfo = strdup(conninfo);
	p->node_id = strdup(node_id);
	p->role = strdup(role);
	p->register_node = register_node;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (!p->conninfo || !p->node_id || !p->role) {
		st__presence_free(p);
		return NULL;
	}
	return p;
}

static PGconn *db_connect(st__presence *p)
{
	const char *k[] = { "dbname", "connect_timeout", "application_name", NULL };
	const char *v[] = { p->conninfo, "3", "streamerd-gateway", NULL };
	PGconn *c = PQconnectdbParams(k, v, 1);
	if (PQstatus(c) != CONNECTION_OK) {
		if (!p->warned)
			st__log_warn("database unreachable", "error=%s", PQerrorMessage(c));
		p->warned = true;
		PQfinish(c);
		return NULL;
	}
	p->warned = false;
	PQsetNoticeProcessor(c, quiet, NULL);
	return c;
}

/* Runs one statement; true on success. */
static bool exec(PGconn *c, const char *sql, int n, const char *const *params)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType s = PQresultStatus(r);
	bool ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
	if (!ok)
		st__log_warn("database statement failed", "sql=%s error=%s", sql,
			     PQerrorMessage(c));
	PQclear(r);
	return ok;
}

static bool node_register(st__presence *p)
{
	char pid[16], host[64] = "";
	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	gethostname(host, sizeof host - 1);
	const char *v[] = { p->node_id, p->role, host, pid };
	return exec(p->db, "INSERT INTO streamer.nodes (node_id, role, hostname, pid) "
		    "VALUES ($1, $2, $3, $4::int) ON CONFLICT (node_id) "
		    "DO UPDATE SET heartbeat_at = now()", 4, v);
}

/* Nodes that stopped beating are gone; so are their connections. */
static void nodes_reap(st__presence *p)
{
	exec(p->db, "DELETE FROM streamer.nodes WHERE heartbeat_at < now() - "
	     "interval '" DEAD_NODE "'", 0, NULL);
}

int st__presence_start(st__presence *p, char *err, size_t errlen)
{
	p->db = db_connect(p);
	if (!p->db) {
		snprintf(err, errlen, "cannot connect to the database");
		return -1;
	}
	if (st__migrate_check(p->db, err, errlen) < 0)
		return -1;
	if (p->register_node && !node_register(p)) {
		snprintf(err, errlen, "cannot register the node: %s", PQerrorMessage(p->db));
		return -1;
	}
	const char *v[] = { p->node_id };
	exec(p->db, "DELETE FROM streamer.connections WHERE node_id = $1", 1, v);
	if (p->register_node)
		nodes_reap(p);
	atomic_store(&p->last_ok_ms, now_ms());
	return 0;
}

static void write_batch(st__presence *p, op *list)
{
	bool ok = exec(p->db, "BEGIN", 0, NULL);
	for (op *o = list; ok && o; o = o->next) {
		if (o->add) {
			const char *v[] = { o->conn_id, p->node_id, o->user_id, o->tenant_id };
			ok = exec(p->db, "INSERT INTO streamer.connections "
				  "(connection_id, node_id, user_id, tenant_id) "
				  "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING", 4, v);
		} else {
			const char *v[] = { o->conn_id };
			ok = exec(p->db, "DELETE FROM streamer.connections "
				  "WHERE connection_id = $1", 1, v);
		}
	}
	if (ok)
		ok = exec(p->db, "COMMIT", 0, NULL);
	if (!ok) {
		exec(p->db, "ROLLBACK", 0, NULL);
		st__log_warn("connection rows not written", NULL);
	}
}

static void *presence_main(void *arg)
{
	st__presence *p = arg;
	pthread_setname_np(pthread_self(), "st-presence"); /* top -H, perf */
	long long next_check = now_ms() + CHECK_MS;
	int beats = 0;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->head && !p->stopping && now_ms() < next_check) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 200 * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&p->cv, &p->mu, &ts);
		}
		/* Take a batch. */
		op *list = p->head, *last = NULL;
		size_t k = 0;
		for (op *o = list; o && k < BATCH_MAX; o = o->next, k++)
			last = o;
		if (last) {
			p->head = last->next;
			if (!p->head)
				p->tail = NULL;
			last->next = NULL;
			p->n -= k;
		}
		bool stopping = p->stopping && !p->head;
		pthread_mutex_unlock(&p->mu);

		if (!p->db)
			p->db = db_connect(p);
		if (p->db && list)
			write_batch(p, list);
		while (list) {
			op *o = list;
			list = o->next;
			free(o);
		}
		if (p->db && (now_ms() >= next_check || stopping)) {
			next_check = now_ms() + CHECK_MS;
			PGresult *r = PQexec(p->db, "SELECT 1");
			if (PQresultStatus(r) == PGRES_TUPLES_OK)
				atomic_store(&p->last_ok_ms, now_ms());
			PQclear(r);
			if (p->register_node && !stopping && ++beats % 5 == 0) {
				const char *v[] = { p->node_id };
				exec(p->db, "UPDATE streamer.nodes SET heartbeat_at = now() "
				     "WHERE node_id = $1", 1, v);
				if (beats % 30 == 0)
					nodes_reap(p);
			}
		} else if (!p->db) {
			next_check = now_ms() + CHECK_MS;
		}
		if (p->db && PQstatus(p->db) != CONNECTION_OK) {
			PQfinish(p->db);
			p->db = NULL;
		}
		pthread_mutex_lock(&p->mu);
		if (stopping)
			break;
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void push(st__presence *p, bool add, const char *id, const char *u,
		 const char *t)
{
	size_t il = strlen(id) + 1, ul = u ? strlen(u) + 1 : 0, tl = t ? strlen(t) + 1 : 0;
	op *o = malloc(sizeof *o + il + ul + tl);
	if (!o)
		return;
	o->next = NULL;
	o->add = add;
	o->conn_id = memcpy(o->mem, id, il);
	o->user_id = u ? memcpy(o->mem + il, u, ul) : NULL;
	o->tenant_id = t ? memcpy(o->mem + il + ul, t, tl) : NULL;
	pthread_mutex_lock(&p->mu);
	if (p->n >= OPS_MAX || !p->started) {
		pthread_mutex_unlock(&p->mu);
		free(o);
		st__log_warn("connection row dropped: too many waiting", "conn=%s", id);
		return;
	}
	if (p->tail)
		p->tail->next = o;
	else
		p->head = o;
	p->tail = o;
	p->n++;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void st__presence_conn_add(st__presence *p, const char *conn_id,
			   const char *user_id, const char *tenant_id)
{
	push(p, true, conn_id, user_id, tenant_id);
}

void st__presence_conn_remove(st__presence *p, const char *conn_id)
{
	push(p, false, conn_id, NULL, NULL);
}

bool st__presence_healthy(const st__presence *p)
{
	return now_ms() - atomic_load(&((st__presence *)p)->last_ok_ms) < HEALTHY_MS;
}

/* Starts the thread (after st__presence_start). */
int st__presence_run(st__presence *p)
{
	pthread_mutex_lock(&p->mu);
	p->started = true;
	pthread_mutex_unlock(&p->mu);
	if (pthread_create(&p->thread, NULL, presence_main, p) != 0) {
		p->started = false;
		return -1;
	}
	return 0;
}

void st__presence_stop(st__presence *p)
{
	if (!p->started)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	p->started = false;
	if (!p->db)
		p->db = db_connect(p);
	if (p->db) {
		const char *v[] = { p->node_id };
		exec(p->db, "DELETE FROM streamer.connections WHERE node_id = $1", 1, v);
		if (p->register_node)
			exec(p->db, "DELETE FROM streamer.nodes WHERE node_id = $1", 1, v);
	}
}

void st__presence_free(st__presence *p)
{
	if (!p)
		return;
	while (p->head) {
		op *o = p->head;
		p->head = o->next;
		free(o);
	}
	if (p->db)
		PQfinish(p->db);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->conninfo);
	free(p->node_id);
	free(p->role);
	free(p);
}

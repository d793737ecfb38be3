/* A PostgreSQL restart under load: every acknowledged request completes,
 * none twice. Runs its own cluster (the suite's is shared by other tests). */
#include <stdatomic.h>
#include <unistd.h>

#include "asynctest.h"

#define N_MAX 20000

static submitted subs[N_MAX];
static atomic_int n_sub;
static atomic_int stop;
static st__async *eng;

static void *load(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop) && atomic_load(&n_sub) < N_MAX) {
		int i = atomic_load(&n_sub);
		if (submit(eng, &subs[i], &fake_actions[0], "t", "u", NULL, "c", "{}") == 0)
			atomic_fetch_add(&n_sub, 1);
		if (i % 20 == 0)
			sleep_ms(2);
	}
	return NULL;
}

static int sh(const char *cmd)
{
	int rc = system(cmd);
	if (rc != 0)
		diag("%s: exit %d", cmd, rc);
	return rc;
}

int main(void)
{
	const char *tmp = getenv("ST_TMP"), *build = getenv("ST_BUILD");
	if (!tmp)
		skip_all("needs ST_TMP (run through scripts/test.sh)");
	char cmd[1024], url[512];
	snprintf(cmd, sizeof cmd, "scripts/pg.sh start %s/pg >/dev/null", tmp);
	if (sh(cmd))
		BAIL_OUT("cannot start a private cluster");
	snprintf(url, sizeof url, "host=%s/pg user=postgres dbname=postgres", tmp);
	snprintf(cmd, sizeof cmd, "DATABASE_URL='%s' %s/streamerd migrate >/dev/null",
		 url, build ? build : "build");
	if (sh(cmd))
		BAIL_OUT("cannot migrate");
	setenv("DATABASE_URL", url, 1);

	recorder rec;
	rec_init(&rec);
	eng = engine(&rec, "all", 4);
	pthread_t t;
	pthread_create(&t, NULL, load, NULL);
	sleep_ms(500);
	snprintf(cmd, sizeof cmd, "scripts/pg.sh stop %s/pg >/dev/null", tmp);
	ok(sh(cmd) == 0, "PostgreSQL stopped under load");
	sleep_ms(300);
	snprintf(cmd, sizeof cmd, "scripts/pg.sh start %s/pg >/dev/null", tmp);
	ok(sh(cmd) == 0, "and started again");
	sleep_ms(800);
	atomic_store(&stop, 1);
	pthread_join(t, NULL);

	int n = atomic_load(&n_sub), acked = 0, refused = 0, finished = 0, twice = 0;
	for (int i = 0; i < n; i++) {
		submitted_wait(&subs[i]);
		if (subs[i].error[0]) {
			refused++;
			continue;
		}
		acked++;
	}
	diag("%d submitted, %d acknowledged, %d refused", n, acked, refused);
	ok(acked > 100, "requests were acknowledged around the restart");
	int64_t end = st__mono_ms() + 30000;
	for (int i = 0; i < n; i++) {
		if (subs[i].error[0])
			continue;
		if (rec_wait_finals(&rec, subs[i].request_id,
				    1, (int)(end - st__mono_ms() > 0 ? end - st__mono_ms() : 0)))
			finished++;
	}
	sleep_ms(200);
	for (int i = 0; i < n; i++)
		if (!subs[i].error[0] && rec_count_finals(&rec, subs[i].request_id) > 1)
			twice++;
	is_int(finished, acked, "every acknowledged request got its final message");
	is_int(twice, 0, "none got two");
	PGconn *db = db_open();
	char want[32];
	snprintf(want, sizeof want, "%d", acked);
	is(db_value(db, "SELECT count(*) FROM streamer.requests WHERE status = 'completed'",
		    NULL), want, "every acknowledged request is stored completed");
	is(db_value(db, "SELECT count(*) FROM streamer.requests WHERE status <> 'completed'",
		    NULL), "0", "nothing else is left");
	PQfinish(db);
	st__async_free(eng);
	rec_fini(&rec);
	snprintf(cmd, sizeof cmd, "scripts/pg.sh stop %s/pg >/dev/null", tmp);
	sh(cmd);
	return done_testing();
}

/* A PostgreSQL restart under load through a real streamerd: requests keep
 * coming over one WebSocket while the database stops and starts again.
 * Every request gets exactly one outcome: acknowledged and then completed
 * exactly once (nothing acknowledged is lost), or refused with an error
 * and no acknowledgment. Runs its own cluster in $ST_TMP (the suite's is
 * shared by other tests). */
#include "e2e.h"

#define N 60

static int sh(const char *cmd)
{
	char *r = sh_line("%s >/dev/null 2>&1 && echo ok", cmd);
	int rc = r && !strcmp(r, "ok") ? 0 : -1;
	if (rc)
		diag("failed: %s", cmd);
	free(r);
	return rc;
}

int main(void)
{
	e2e_need_env();
	const char *tmp = getenv("ST_TMP");
	char cmd[2048], stop[1024], start[1024];
	snprintf(start, sizeof start, "scripts/pg.sh start %s/pg", tmp);
	snprintf(stop, sizeof stop, "scripts/pg.sh stop %s/pg", tmp);
	snprintf(cmd, sizeof cmd, "%s && psql \"$(scripts/pg.sh url %s/pg postgres)\" -Xqc 'CREATE DATABASE e2e'"
		 " && DATABASE_URL=\"$(scripts/pg.sh url %s/pg e2e)\" %s/streamerd migrate",
		 start, tmp, tmp, e2e_build());
	if (sh(cmd))
		BAIL_OUT("cannot start a private PostgreSQL");
	static char url[700];
	snprintf(url, sizeof url, "DATABASE_URL=host=%s/pg user=postgres dbname=e2e", tmp);
	static tsrv s;
	static e2e_client c;
	e2e_start(&s, "all", url, NULL);
	e2e_connect(&c, &s, "u1", "t1");

	/* 20 before, 20 while it is down, 20 after. */
	for (int i = 0; i < N; i++) {
		e2e_send(&c, "{\"id\":\"r%d\",\"action\":\"delay\",\"payload\":{\"ms\":100,\"steps\":2}}", i);
		e2e_pump(&c, 15);
		if (i == 19)
			ok(sh(stop) == 0, "PostgreSQL stopped under load");
		if (i == 39)
			ok(sh(start) == 0, "and started again");
	}

	int acked = 0, refused = 0, completed = 0, bad = 0;
	for (int i = 0; i < N; i++) {
		char id[8];
		snprintf(id, sizeof id, "r%d", i);
		/* The first answer: the acknowledgment or a refusal. */
		json_t *first = e2e_wait(&c, NULL, NULL, id, 20000);
		const char *t = first ? e2e_str(first, "type") : "nothing";
		if (!strcmp(t, "acknowledgment")) {
			acked++;
			const char *rid = e2e_str(first, "request_id");
			json_t *f = e2e_wait_final(&c, rid, 20000);
			e2e_seq q;
			if (f && !strcmp(e2e_str(f, "type"), "complete"))
				completed++;
			else
				diag("%s (%s): acknowledged, then %s", id, rid, f ? e2e_code(f) : "nothing");
			(void)q;
		} else if (!strcmp(t, "error")) {
			refused++;
			diag("%s refused: %s", id, e2e_code(first));
		} else {
			bad++;
			diag("%s: first answer %s", id, t);
		}
	}
	e2e_pump(&c, 500);
	int twice = 0, order = 0;
	for (int i = 0; i < c.n; i++) {
		json_t *m = c.msgs[i].j;
		if (!e2e_match(m, "acknowledgment", NULL, NULL))
			continue;
		e2e_seq q;
		const char *rid = e2e_str(m, "request_id");
		order += !e2e_check(&c, 0, rid, true, &q);
		twice += q.finals > 1;
	}
	diag("%d acknowledged, %d refused", acked, refused);
	is_int(acked + refused, N, "every request got an answer");
	is_int(bad, 0, "an acknowledgment or an error first");
	ok(acked >= N / 2, "most were acknowledged (%d)", acked);
	is_int(completed, acked, "every acknowledged request completed");
	is_int(twice, 0, "none twice");
	is_int(order, 0, "each in protocol order");
	PGconn *db = PQconnectdb(url + strlen("DATABASE_URL="));
	char want[16];
	snprintf(want, sizeof want, "%d", acked);
	is(db_value(db, "SELECT count(*) FROM streamer.requests WHERE status = 'completed'", NULL),
	   want, "psql: one completed row per acknowledged request");
	PQfinish(db);

	e2e_free(&c);
	is_int(e2e_stop(&s), 0, "streamerd stops cleanly");
	ok(sh(stop) == 0, "the private cluster stops");
	return done_testing();
}

/* Retention: finished rows past expires_at are deleted by the runtime in
 * bounded batches; unfinished and unexpired rows stay. */
#include "asynctest.h"

int main(void)
{
	PGconn *db = db_open();
	db_do(db, "INSERT INTO streamer.requests (request_id, action, user_id,"
		  " tenant_id, status, expires_at)"
		  " SELECT gen_random_uuid(), 'x', 'u', 't',"
		  " (ARRAY['completed', 'failed', 'cancelled'])[1 + i % 3],"
		  " now() - interval '1 minute' FROM generate_series(1, 2500) i");
	db_do(db, "INSERT INTO streamer.requests (request_id, action, user_id,"
		  " tenant_id, status, expires_at) VALUES"
		  " (gen_random_uuid(), 'x', 'u', 't', 'completed', now() + interval '1 day'),"
		  " (gen_random_uuid(), 'parked', 'u', 't', 'pending', NULL)");
	recorder rec;
	rec_init(&rec);
	st__async_config cfg = {
		.conninfo = getenv("DATABASE_URL"),
		.role = "all",
		.registry = &fake_registry,
		.sink = { rec_sink, &rec },
		.run = fake_run,
		.workers = 1,
		.retention_ms = 100,
		.retention_batch = 100,
	};
	st__async *a = st__async_create(&cfg);
	if (!a || st__async_start(a) != 0)
		BAIL_OUT("cannot start the engine");
	int64_t end = st__mono_ms() + 10000;
	while (strcmp(db_value(db, "SELECT count(*) FROM streamer.requests", NULL), "2") &&
	       st__mono_ms() < end)
		sleep_ms(50);
	is(db_value(db, "SELECT count(*) FROM streamer.requests", NULL), "2",
	   "expired finished rows are deleted (2500 in batches of 100)");
	is(db_value(db, "SELECT string_agg(status, ',' ORDER BY status)"
		    " FROM streamer.requests", NULL), "completed,pending",
	   "unexpired and unfinished rows stay");
	st__async_free(a);
	rec_fini(&rec);
	PQfinish(db);
	return done_testing();
}

-- The schema of shared/spec/database.md, as migrations/0001_init.sql makes it.
\set ON_ERROR_STOP 1
BEGIN;
SELECT plan(46);

SELECT has_schema('streamer');
SELECT tables_are('streamer',
	ARRAY['schema_migrations', 'nodes', 'connections', 'requests']);
SELECT views_are('streamer', ARRAY['active_requests', 'request_stats']);

SELECT columns_are('streamer', 'requests', ARRAY[
	'request_id', 'client_id', 'action', 'status', 'user_id', 'tenant_id',
	'connection_id', 'payload', 'result', 'error', 'progress',
	'progress_message', 'attempts', 'max_attempts', 'timeout_ms', 'run_at',
	'locked_by', 'locked_until', 'created_at', 'started_at',
	'completed_at', 'expires_at']);
SELECT col_is_pk('streamer', 'requests', 'request_id', 'request_id is the key');
SELECT col_type_is('streamer', 'requests', 'request_id', 'uuid', 'request_id is a uuid');
SELECT col_type_is('streamer', 'requests', 'payload', 'jsonb', 'payload is jsonb');
SELECT col_type_is('streamer', 'requests', 'result', 'jsonb', 'result is jsonb');
SELECT col_type_is('streamer', 'requests', 'error', 'jsonb', 'error is jsonb');
SELECT col_type_is('streamer', 'requests', 'progress', 'double precision', 'progress is a double');
SELECT col_type_is('streamer', 'requests', 'locked_until', 'timestamp with time zone', 'lease is a timestamptz');
SELECT col_default_is('streamer', 'requests', 'status', 'pending'::text, 'new requests are pending');

SELECT columns_are('streamer', 'connections', ARRAY[
	'connection_id', 'node_id', 'user_id', 'tenant_id', 'connected_at', 'last_seen']);
SELECT col_is_pk('streamer', 'connections', 'connection_id', 'connection_id is the key');
SELECT fk_ok('streamer', 'connections', 'node_id', 'streamer', 'nodes', 'node_id');
SELECT col_is_pk('streamer', 'nodes', 'node_id', 'node_id is the key');
SELECT has_column('streamer', 'nodes', 'heartbeat_at', 'nodes have a heartbeat');
SELECT col_is_pk('streamer', 'schema_migrations', 'version', 'version is the key');
SELECT results_eq('SELECT version, name FROM streamer.schema_migrations ORDER BY 1 LIMIT 1',
	$$VALUES (1, '0001_init'::text)$$, 'the first migration is recorded');

-- Indexes: the claim index is partial on pending rows.
SELECT has_index('streamer', 'requests', 'requests_claim', ARRAY['run_at']);
SELECT is(
	(SELECT pg_get_expr(indpred, indrelid) FROM pg_index
	  WHERE indexrelid = 'streamer.requests_claim'::regclass),
	'(status = ''pending''::text)', 'the claim index holds only pending rows');
SELECT index_is_unique('streamer', 'requests', 'requests_client_id');
SELECT has_index('streamer', 'requests', 'requests_user', ARRAY['tenant_id', 'user_id', 'created_at']);
SELECT has_index('streamer', 'requests', 'requests_expiry', ARRAY['expires_at']);
SELECT has_index('streamer', 'connections', 'connections_node', ARRAY['node_id']);

-- Progress columns are in no index, so progress updates can be HOT.
SELECT is(
	(SELECT count(*)::int FROM pg_index i
	   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
	  WHERE i.indrelid = 'streamer.requests'::regclass
	    AND a.attname IN ('progress', 'progress_message', 'locked_until')),
	0, 'no index key covers progress or the lease''s expiry');
SELECT is(
	(SELECT count(*)::int FROM pg_index i
	  WHERE i.indrelid = 'streamer.requests'::regclass
	    AND (pg_get_expr(i.indpred, i.indrelid) ~ '(progress|locked_until)'
	         OR pg_get_expr(i.indexprs, i.indrelid) ~ '(progress|locked_until)')),
	0, 'no index predicate or expression uses them either');

-- The trigger exists and fires per statement.
SELECT has_trigger('streamer', 'requests', 'requests_notify', 'requests have the notify trigger');
SELECT trigger_is('streamer', 'requests', 'requests_notify', 'streamer', 'notify_queue');

-- Constraints refuse bad rows.
INSERT INTO streamer.nodes (node_id, role) VALUES ('n1', 'all');
SELECT throws_ok($$INSERT INTO streamer.requests (request_id, action, user_id, tenant_id, status)
	VALUES (gen_random_uuid(), 'a', 'u', 't', 'running')$$, '23514', NULL, 'unknown status refused');
SELECT throws_ok($$INSERT INTO streamer.requests (request_id, action, user_id, tenant_id, progress)
	VALUES (gen_random_uuid(), 'a', 'u', 't', 101)$$, '23514', NULL, 'progress over 100 refused');
SELECT throws_ok($$INSERT INTO streamer.requests (request_id, action, user_id, tenant_id, client_id)
	VALUES (gen_random_uuid(), 'a', 'u', 't', repeat('x', 129))$$, '23514', NULL, 'client id over 128 bytes refused');
SELECT throws_ok($$INSERT INTO streamer.connections (connection_id, node_id, user_id, tenant_id)
	VALUES ('c0', 'nope', 'u', 't')$$, '23503', NULL, 'a connection needs a known node');

-- Idempotency: one client_id per user, but other users may reuse it.
INSERT INTO streamer.requests (request_id, action, user_id, tenant_id, client_id)
	VALUES ('00000000-0000-0000-0000-000000000001', 'a', 'u1', 't1', 'c-1');
SELECT throws_ok($$INSERT INTO streamer.requests (request_id, action, user_id, tenant_id, client_id)
	VALUES ('00000000-0000-0000-0000-000000000002', 'a', 'u1', 't1', 'c-1')$$, '23505', NULL,
	'a repeated client id of one user is refused');
SELECT lives_ok($$INSERT INTO streamer.requests (request_id, action, user_id, tenant_id, client_id)
	VALUES ('00000000-0000-0000-0000-000000000003', 'a', 'u2', 't1', 'c-1')$$,
	'another user may use the same client id');

-- Deleting a node removes its connections.
INSERT INTO streamer.connections (connection_id, node_id, user_id, tenant_id) VALUES ('c1', 'n1', 'u', 't');
DELETE FROM streamer.nodes WHERE node_id = 'n1';
SELECT is((SELECT count(*)::int FROM streamer.connections), 0, 'a dead node''s connections go with it');

-- Views.
INSERT INTO streamer.requests (request_id, action, user_id, tenant_id, status, progress, created_at)
VALUES ('00000000-0000-0000-0000-0000000000a1', 'report', 'u', 't', 'processing', 42.5, now() - interval '2 minutes'),
       ('00000000-0000-0000-0000-0000000000a2', 'report', 'u', 't', 'completed', 100, now() - interval '1 minute');
UPDATE streamer.requests SET completed_at = created_at + interval '250 ms'
 WHERE request_id = '00000000-0000-0000-0000-0000000000a2';
SELECT results_eq(
	$$SELECT request_id::text FROM streamer.active_requests LIMIT 1$$,
	$$VALUES ('00000000-0000-0000-0000-0000000000a1')$$,
	'active_requests lists the oldest unfinished request first');
SELECT is((SELECT count(*)::int FROM streamer.active_requests
	    WHERE request_id = '00000000-0000-0000-0000-0000000000a2'), 0,
	'active_requests leaves finished requests out');
SELECT is((SELECT progress FROM streamer.active_requests
	    WHERE request_id = '00000000-0000-0000-0000-0000000000a1'), 42.5::numeric,
	'active_requests shows progress');
SELECT ok((SELECT age >= interval '2 minutes' FROM streamer.active_requests
	    WHERE request_id = '00000000-0000-0000-0000-0000000000a1'),
	'active_requests shows the age');
SELECT results_eq(
	$$SELECT requests::int, p50_ms FROM streamer.request_stats
	   WHERE action = 'report' AND status = 'completed'$$,
	$$VALUES (1, 250.0::numeric)$$, 'request_stats counts and measures by action and status');
SELECT is((SELECT sum(requests)::int FROM streamer.request_stats WHERE action = 'report'), 2,
	'request_stats covers every status');
UPDATE streamer.requests SET created_at = now() - interval '2 hours'
 WHERE request_id = '00000000-0000-0000-0000-0000000000a2';
SELECT is((SELECT count(*)::int FROM streamer.request_stats
	    WHERE action = 'report' AND status = 'completed'), 0,
	'request_stats looks at the last hour only');

-- A progress update is a HOT update (no index touched).
SELECT pg_stat_force_next_flush();
CREATE TEMP TABLE hot_before AS
	SELECT n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relid = 'streamer.requests'::regclass;
UPDATE streamer.requests SET progress = 50, progress_message = 'half'
 WHERE request_id = '00000000-0000-0000-0000-0000000000a1';
SELECT is((SELECT n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relid = 'streamer.requests'::regclass)
          - (SELECT n_tup_hot_upd FROM hot_before), 1::bigint,
	'a progress update is heap-only (HOT)');
CREATE TEMP TABLE hot_before2 AS
	SELECT n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relid = 'streamer.requests'::regclass;
UPDATE streamer.requests SET locked_until = now() + interval '30 seconds'
 WHERE request_id = '00000000-0000-0000-0000-0000000000a1';
SELECT is((SELECT n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relid = 'streamer.requests'::regclass)
          - (SELECT n_tup_hot_upd FROM hot_before2), 1::bigint,
	'a lease renewal is heap-only (HOT)');

SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgname = 'requests_notify' AND tgtype & 1 = 0),
	1, 'the notify trigger is per statement');

SELECT * FROM finish();
ROLLBACK;

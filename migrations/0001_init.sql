-- 0001_init: the streamer schema (shared/spec/database.md).
-- Applied once, inside a transaction, by `streamerd migrate`.

CREATE SCHEMA IF NOT EXISTS streamer;

CREATE TABLE IF NOT EXISTS streamer.schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
);

-- Every running streamerd process, with its heartbeat. A node whose
-- heartbeat is old is dead: the others delete it, which removes its
-- connections (ON DELETE CASCADE).
CREATE TABLE streamer.nodes (
	node_id      text PRIMARY KEY,
	role         text NOT NULL CHECK (role IN ('gateway', 'worker', 'all')),
	hostname     text NOT NULL DEFAULT '',
	pid          integer NOT NULL DEFAULT 0,
	started_at   timestamptz NOT NULL DEFAULT now(),
	heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- Open WebSocket connections and the node that holds each.
CREATE TABLE streamer.connections (
	connection_id text PRIMARY KEY,
	node_id       text NOT NULL REFERENCES streamer.nodes ON DELETE CASCADE,
	user_id       text NOT NULL,
	tenant_id     text NOT NULL,
	connected_at  timestamptz NOT NULL DEFAULT now(),
	last_seen     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX connections_node ON streamer.connections (node_id);
CREATE INDEX connections_user ON streamer.connections (tenant_id, user_id);

-- One row per async request. Progress updates and lease renewals touch
-- only unindexed columns (progress, progress_message, locked_until), so
-- PostgreSQL updates in place (HOT) and the claim index does not bloat;
-- the fillfactor leaves room on each page for that.
CREATE TABLE streamer.requests (
	request_id       uuid PRIMARY KEY,
	client_id        text CHECK (octet_length(client_id) <= 128),
	action           text NOT NULL,
	status           text NOT NULL DEFAULT 'pending'
	                 CHECK (status IN ('pending', 'processing', 'completed',
	                                   'failed', 'cancelled')),
	user_id          text NOT NULL,
	tenant_id        text NOT NULL,
	connection_id    text,
	payload          jsonb NOT NULL DEFAULT '{}',
	result           jsonb,
	error            jsonb,
	progress         double precision NOT NULL DEFAULT 0
	                 CHECK (progress >= 0 AND progress <= 100),
	progress_message text NOT NULL DEFAULT '',
	attempts         integer NOT NULL DEFAULT 0,
	max_attempts     integer NOT NULL DEFAULT 1 CHECK (max_attempts >= 1),
	timeout_ms       integer NOT NULL DEFAULT 840000,
	run_at           timestamptz NOT NULL DEFAULT now(),
	locked_by        text,
	locked_until     timestamptz,
	created_at       timestamptz NOT NULL DEFAULT now(),
	started_at       timestamptz,
	completed_at     timestamptz,
	expires_at       timestamptz
) WITH (fillfactor = 70);

-- The claim index: only pending rows, in the order workers take them.
CREATE INDEX requests_claim ON streamer.requests (run_at)
	WHERE status = 'pending';
-- Lease rescue scans the (few) running rows.
CREATE INDEX requests_running ON streamer.requests (created_at)
	WHERE status = 'processing';
-- The client's id is an idempotency key per user.
CREATE UNIQUE INDEX requests_client_id
	ON streamer.requests (tenant_id, user_id, client_id)
	WHERE client_id IS NOT NULL;
-- `list`: a user's requests, newest first.
CREATE INDEX requests_user ON streamer.requests (tenant_id, user_id, created_at DESC);
-- Retention: finished rows by expiry.
CREATE INDEX requests_expiry ON streamer.requests (expires_at)
	WHERE status IN ('completed', 'failed', 'cancelled');

-- The trigger: every insert wakes the workers, after commit (never on
-- rollback). One statement-level NOTIFY per INSERT, and identical
-- notifications within a transaction fold into one, so a batch of requests
-- costs one wake-up. The payload is empty: NOTIFY is a hint, the row is the
-- truth.
CREATE FUNCTION streamer.notify_queue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('streamer_queue', '');
	RETURN NULL;
END;
$$;

CREATE TRIGGER requests_notify
	AFTER INSERT ON streamer.requests
	FOR EACH STATEMENT EXECUTE FUNCTION streamer.notify_queue();

-- For people at psql: what is running or waiting, oldest first.
CREATE VIEW streamer.active_requests AS
SELECT request_id, action, status, tenant_id, user_id, client_id,
       round(progress::numeric, 1) AS progress, progress_message,
       attempts, max_attempts, locked_by, locked_until,
       now() - created_at AS age, created_at, started_at, run_at
  FROM streamer.requests
 WHERE status IN ('pending', 'processing')
 ORDER BY created_at;

-- Counts and latency percentiles (milliseconds from creation to
-- completion) by action and status over the last hour.
CREATE VIEW streamer.request_stats AS
SELECT action, status, count(*) AS requests,
       round(percentile_cont(0.50) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS p50_ms,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS p95_ms,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS p99_ms,
       round(max(ms)::numeric, 1) AS max_ms
  FROM (SELECT action, status,
               extract(epoch FROM (coalesce(completed_at, now()) - created_at)) * 1000 AS ms
          FROM streamer.requests
         WHERE created_at > now() - interval '1 hour') r
 GROUP BY action, status
 ORDER BY action, status;

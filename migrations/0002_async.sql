-- 0002_async: what the async engine (runtime/queue.c, runtime/worker.c)
-- needs beyond the tables: routing of events to the node that holds a
-- connection, and an index for cancelled requests whose running handler
-- still has to tell its client.

-- The JSON text of a request's final event (`complete` or `error`) as the
-- engine passes it between nodes (runtime/delivery.c reads it). Past
-- PostgreSQL's 8000-byte NOTIFY limit it is a reference: the receiver reads
-- the row.
CREATE FUNCTION streamer.final_event(r streamer.requests) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN octet_length(j) < 7900 THEN j
	            ELSE json_build_object('k', k, 'r', r.request_id,
	                                   'c', r.connection_id, 'ref', true)::text
	       END
	  FROM (SELECT CASE r.status WHEN 'completed' THEN 'complete'
	                             ELSE 'error' END AS k) kk,
	       LATERAL (SELECT json_build_object(
	                 'k', kk.k, 'r', r.request_id, 'c', r.connection_id,
	                 'i', r.client_id, 'a', r.action, 'p', r.progress,
	                 't', (extract(epoch FROM coalesce(r.completed_at, now())) * 1000)::bigint,
	                 'res', r.result,
	                 'ec', r.error->>'code', 'em', r.error->>'message')::text AS j) jj
$$;

-- Sends `payload` to the node holding connection `conn` when that is not
-- `me` (NOTIFY on streamer_node_<node_id>, delivered after commit). Returns
-- the holding node, or NULL when the connection is not recorded.
CREATE FUNCTION streamer.route_event(conn text, payload text, me text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	n text;
BEGIN
	IF conn IS NULL THEN
		RETURN NULL;
	END IF;
	SELECT node_id INTO n FROM streamer.connections WHERE connection_id = conn;
	IF n IS NOT NULL AND n <> me THEN
		PERFORM pg_notify('streamer_node_' || n, payload);
	END IF;
	RETURN n;
END;
$$;

-- A running request cancelled by a client keeps locked_by until the node
-- running it has told the client; if that node died, lease rescue finds
-- the row here.
-- Keyed on created_at, not locked_until: lease renewals must not touch an
-- index, so that they stay heap-only (HOT) updates.
CREATE INDEX requests_cancelling ON streamer.requests (created_at)
	WHERE status = 'cancelled' AND locked_by IS NOT NULL;

-- A queue table churns: every request is inserted, updated a few times and
-- deleted. Vacuum it early and without throttling so that dead tuples do
-- not slow the claim down after millions of requests.
ALTER TABLE streamer.requests SET (
	autovacuum_vacuum_scale_factor = 0.01,
	autovacuum_vacuum_insert_scale_factor = 0.05,
	autovacuum_analyze_scale_factor = 0.02,
	autovacuum_vacuum_cost_delay = 0);

-- 0003_route_final: routing a request's final event without building it
-- when the connection is on the calling node.
--
-- streamer.route_event(conn, streamer.final_event(r), me) builds the JSON
-- of the event (json_build_object of the row, about 6 us) before it looks
-- the connection up, and throws it away when the connection is local,
-- which on a single node is every time: a quarter of the cost of finishing
-- a request. This function looks the node up first and builds the event
-- only when it must NOTIFY another node.

-- Sends the final event of request `r` to the node holding its connection
-- when that is not `me` (NOTIFY on streamer_node_<node_id>, delivered after
-- commit). Returns the holding node, or NULL when the connection is not
-- recorded (or the request has none).
CREATE FUNCTION streamer.route_final(r streamer.requests, me text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	n text;
BEGIN
	IF r.connection_id IS NULL THEN
		RETURN NULL;
	END IF;
	SELECT node_id INTO n FROM streamer.connections
	 WHERE connection_id = r.connection_id;
	IF n IS NOT NULL AND n <> me THEN
		PERFORM pg_notify('streamer_node_' || n, streamer.final_event(r));
	END IF;
	RETURN n;
END;
$$;

-- 0004_notify_pending: the insert trigger wakes the workers only for rows
-- they may claim.
--
-- A process that runs handlers inserts the requests it can start at once
-- already claimed (status 'processing', locked by itself; see
-- docs/database.md). No worker can take those, so a NOTIFY for them only
-- wakes every dispatcher for a claim that finds nothing, and makes the
-- inserting transaction take PostgreSQL's notification lock, which is held
-- through the commit's WAL flush and so serializes concurrent inserts.
-- The trigger now sees the statement's rows (a transition table) and
-- NOTIFYs once when any of them is pending, as before.

CREATE OR REPLACE FUNCTION streamer.notify_queue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM inserted WHERE status = 'pending') THEN
		PERFORM pg_notify('streamer_queue', '');
	END IF;
	RETURN NULL;
END;
$$;

DROP TRIGGER requests_notify ON streamer.requests;
CREATE TRIGGER requests_notify
	AFTER INSERT ON streamer.requests
	REFERENCING NEW TABLE AS inserted
	FOR EACH STATEMENT EXECUTE FUNCTION streamer.notify_queue();

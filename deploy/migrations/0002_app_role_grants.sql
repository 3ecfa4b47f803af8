-- The service's own role (`wardship_app`, see deploy/roles.sql) may read and append stored
-- events, never change them. Skipped where that role does not exist (the embedded dev stack).
-- Run by the owner of the tables (`wardship migrate` with the owner's URL).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wardship_app')
       OR to_regclass('wardship_events') IS NULL THEN
        RETURN;
    END IF;
    REVOKE ALL ON wardship_events, wardship_snapshots FROM wardship_app;
    GRANT SELECT, INSERT ON wardship_events, wardship_snapshots TO wardship_app;
    -- eventsourcing takes LOCK TABLE ... IN EXCLUSIVE MODE to keep the notification log
    -- gap-free, which PostgreSQL < 17 allows only with UPDATE, DELETE or TRUNCATE privilege.
    -- UPDATE is granted for that lock alone: the append-only trigger refuses every UPDATE.
    GRANT UPDATE ON wardship_events TO wardship_app;
    GRANT USAGE, SELECT ON SEQUENCE wardship_events_notification_id_seq TO wardship_app;
END;
$$;

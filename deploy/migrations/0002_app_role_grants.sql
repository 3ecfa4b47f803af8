-- The service's own role (`wardship_app` unless deploy/roles.sql named another, which it
-- records as the database's `wardship.app_role` setting) may read and append stored events,
-- never change them. Skipped where that role does not exist (the embedded dev stack).
-- Run by the owner of the tables (`wardship migrate` with the owner's URL).
DO $$
DECLARE
    app text := coalesce(nullif(current_setting('wardship.app_role', true), ''), 'wardship_app');
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = app)
       OR to_regclass('wardship_events') IS NULL THEN
        RETURN;
    END IF;
    EXECUTE format('REVOKE ALL ON wardship_events, wardship_snapshots FROM %I', app);
    EXECUTE format('GRANT SELECT, INSERT ON wardship_events, wardship_snapshots TO %I', app);
    -- eventsourcing takes LOCK TABLE ... IN EXCLUSIVE MODE to keep the notification log
    -- gap-free, which PostgreSQL < 17 allows only with UPDATE, DELETE or TRUNCATE privilege.
    -- UPDATE is granted for that lock alone: the append-only trigger refuses every UPDATE.
    EXECUTE format('GRANT UPDATE ON wardship_events TO %I', app);
    EXECUTE format(
        'GRANT USAGE, SELECT ON SEQUENCE wardship_events_notification_id_seq TO %I', app);
END;
$$;

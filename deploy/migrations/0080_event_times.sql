-- The time index (`domain.time_index`): each event's version by its recorded time, written by
-- the event store's recorder in the events' own transaction (the recorder creates the table,
-- as eventsourcing creates the events table). `wardship migrate` then indexes the events
-- recorded before it existed. Here: the app role may read and append rows, and no role may
-- change or remove one, as with the events they index.
DO $$
DECLARE
    app text := coalesce(nullif(current_setting('wardship.app_role', true), ''), 'wardship_app');
BEGIN
    IF to_regclass('wardship_event_times') IS NULL THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = app) THEN
        EXECUTE format('REVOKE ALL ON wardship_event_times FROM %I', app);
        EXECUTE format('GRANT SELECT, INSERT ON wardship_event_times TO %I', app);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'wardship_event_times'::regclass
                   AND tgname = 'wardship_event_times_append_only') THEN
        CREATE TRIGGER wardship_event_times_append_only BEFORE UPDATE OR DELETE
            ON wardship_event_times FOR EACH ROW
            EXECUTE FUNCTION wardship_refuse_history_change();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'wardship_event_times'::regclass
                   AND tgname = 'wardship_event_times_no_truncate') THEN
        CREATE TRIGGER wardship_event_times_no_truncate BEFORE TRUNCATE
            ON wardship_event_times FOR EACH STATEMENT
            EXECUTE FUNCTION wardship_refuse_history_change();
    END IF;
END;
$$;

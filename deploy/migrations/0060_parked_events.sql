-- Events a consumer of the log (the relay, a read model) could not decode or apply, set aside
-- so that it goes on with the next one (`wardship parked` lists, retries and resolves them).
-- One row per consumer and log position; parking it again counts an attempt. No personal
-- data: the error is its type and where it was raised, never its message.
CREATE TABLE IF NOT EXISTS wardship_parked_events (
    id                 bigserial   PRIMARY KEY,
    consumer           text        NOT NULL,
    position           bigint      NOT NULL,
    originator_id      uuid,
    originator_version integer,
    topic              text        NOT NULL,
    error_type         text        NOT NULL,
    error              text        NOT NULL,
    first_seen         timestamptz NOT NULL DEFAULT now(),
    last_seen          timestamptz NOT NULL DEFAULT now(),
    attempts           integer     NOT NULL DEFAULT 1,
    status             text        NOT NULL DEFAULT 'parked'
                                   CHECK (status IN ('parked', 'resolved')),
    resolved_at        timestamptz,
    resolution         text,
    UNIQUE (consumer, position)
);
-- What /metrics and /readyz count on every scrape and probe: only the parked rows.
CREATE INDEX IF NOT EXISTS wardship_parked_events_parked
    ON wardship_parked_events (consumer) WHERE status = 'parked';

-- Rows are resolved, never deleted: the record of what was set aside stays.
DO $$
DECLARE
    app text := coalesce(nullif(current_setting('wardship.app_role', true), ''), 'wardship_app');
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = app) THEN
        EXECUTE format('REVOKE DELETE, TRUNCATE ON wardship_parked_events FROM %I', app);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON wardship_parked_events TO %I', app);
        EXECUTE format(
            'GRANT USAGE, SELECT ON SEQUENCE wardship_parked_events_id_seq TO %I', app);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'wardship_parked_events'::regclass
                   AND tgname = 'wardship_parked_events_kept') THEN
        CREATE TRIGGER wardship_parked_events_kept BEFORE DELETE
            ON wardship_parked_events FOR EACH ROW
            EXECUTE FUNCTION wardship_refuse_history_change();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'wardship_parked_events'::regclass
                   AND tgname = 'wardship_parked_events_no_truncate') THEN
        CREATE TRIGGER wardship_parked_events_no_truncate BEFORE TRUNCATE
            ON wardship_parked_events FOR EACH STATEMENT
            EXECUTE FUNCTION wardship_refuse_history_change();
    END IF;
END;
$$;

-- Every read of a case or child file by a person: who, what, when (inspectors audit who
-- looked at which child).
-- Append-only like the events: the trigger function comes from 0001_append_only_events.sql.
CREATE TABLE IF NOT EXISTS wardship_access_log (
    id            bigserial   PRIMARY KEY,
    read_at       timestamptz NOT NULL DEFAULT now(),
    subject       text        NOT NULL,
    role          text        NOT NULL,
    jurisdiction  text        NOT NULL,
    resource_type text        NOT NULL,
    resource_id   text        NOT NULL,
    child_id      text,
    case_jurisdiction text,
    purpose       text        NOT NULL,
    request_id    text
);
CREATE INDEX IF NOT EXISTS wardship_access_log_resource
    ON wardship_access_log (resource_type, resource_id, read_at);
CREATE INDEX IF NOT EXISTS wardship_access_log_subject ON wardship_access_log (subject, read_at);
CREATE INDEX IF NOT EXISTS wardship_access_log_child ON wardship_access_log (child_id, read_at);

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'wardship_access_log'::regclass
                   AND tgname = 'wardship_access_log_append_only') THEN
        CREATE TRIGGER wardship_access_log_append_only BEFORE UPDATE OR DELETE
            ON wardship_access_log FOR EACH ROW EXECUTE FUNCTION wardship_refuse_history_change();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'wardship_access_log'::regclass
                   AND tgname = 'wardship_access_log_no_truncate') THEN
        CREATE TRIGGER wardship_access_log_no_truncate BEFORE TRUNCATE
            ON wardship_access_log FOR EACH STATEMENT
            EXECUTE FUNCTION wardship_refuse_history_change();
    END IF;
END;
$$;

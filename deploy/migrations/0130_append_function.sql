-- The event store appends through one function (`domain.time_index`), which `wardship migrate`
-- creates with the event tables. It runs as its caller, so the app role keeps the rights of
-- 0002 and 0080 and no more; here only that role (and the owner) may call it.
DO $$
DECLARE
    app text := coalesce(nullif(current_setting('wardship.app_role', true), ''), 'wardship_app');
    append regprocedure := to_regprocedure(
        'wardship_append_events(uuid[], bigint[], text[], bytea[], timestamptz[], text)');
BEGIN
    IF append IS NULL OR NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = app) THEN
        RETURN;
    END IF;
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', append);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', append, app);
END;
$$;

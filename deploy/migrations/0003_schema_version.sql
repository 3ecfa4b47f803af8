-- The schema versions `wardship migrate` has brought this database to (the highest script
-- number, recorded after every script ran). A service is ready only at its expected version.
CREATE TABLE IF NOT EXISTS wardship_schema_version (
    version    integer     PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- The app role only reads it (see 0002 for where that role's name comes from).
DO $$
DECLARE
    app text := coalesce(nullif(current_setting('wardship.app_role', true), ''), 'wardship_app');
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = app) THEN
        EXECUTE format('REVOKE ALL ON wardship_schema_version FROM %I', app);
        EXECUTE format('GRANT SELECT ON wardship_schema_version TO %I', app);
    END IF;
END;
$$;

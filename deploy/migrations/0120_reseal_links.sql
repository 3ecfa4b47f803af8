-- The signed link records of `wardship reseal` (docs/privacy.md): each the document that maps
-- every case's head hash in the store it was copied from to its head hash here, signed with
-- the service's Ed25519 key (`api.inspection.links`). Written once by the copy, read by
-- `wardship verify --links`; like the events they vouch for, never changed or removed.
CREATE TABLE IF NOT EXISTS wardship_reseal_links (
    id       bigserial   PRIMARY KEY,
    made_at  timestamptz NOT NULL DEFAULT now(),
    document text        NOT NULL
);

DO $$
DECLARE
    app text := coalesce(nullif(current_setting('wardship.app_role', true), ''), 'wardship_app');
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = app) THEN
        EXECUTE format('REVOKE ALL ON wardship_reseal_links FROM %I', app);
        EXECUTE format('GRANT SELECT ON wardship_reseal_links TO %I', app);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'wardship_reseal_links'::regclass
                   AND tgname = 'wardship_reseal_links_append_only') THEN
        CREATE TRIGGER wardship_reseal_links_append_only BEFORE UPDATE OR DELETE
            ON wardship_reseal_links FOR EACH ROW
            EXECUTE FUNCTION wardship_refuse_history_change();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'wardship_reseal_links'::regclass
                   AND tgname = 'wardship_reseal_links_no_truncate') THEN
        CREATE TRIGGER wardship_reseal_links_no_truncate BEFORE TRUNCATE
            ON wardship_reseal_links FOR EACH STATEMENT
            EXECUTE FUNCTION wardship_refuse_history_change();
    END IF;
END;
$$;

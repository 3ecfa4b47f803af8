-- Per-child data keys (docs/privacy.md): each child file's key wrapped by a master key. A
-- destroyed key keeps its row (wrapped NULL, destroyed_at set), so none is made again and
-- the audit can say when. Rows are updated (rotation re-wraps, erasure destroys), never
-- deleted: a DELETE would let a key be created afresh for an erased child.
-- Idempotent: also run by the service when it creates its own tables (tests, development).
CREATE TABLE IF NOT EXISTS wardship_data_keys (
    key_id        text        PRIMARY KEY,
    wrapped       bytea,
    master_key_id text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    destroyed_at  timestamptz,
    CHECK ((wrapped IS NULL) = (destroyed_at IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS wardship_data_keys_master
    ON wardship_data_keys (master_key_id) WHERE wrapped IS NOT NULL;

-- A destroyed key stays destroyed: no UPDATE brings key material back to its row.
CREATE OR REPLACE FUNCTION wardship_keep_keys_destroyed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'data keys are destroyed, never deleted'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.destroyed_at IS NOT NULL AND NEW.wrapped IS NOT NULL THEN
        RAISE EXCEPTION 'data key % was destroyed and cannot be restored', OLD.key_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;

DO $$
DECLARE
    app text := coalesce(nullif(current_setting('wardship.app_role', true), ''), 'wardship_app');
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'wardship_data_keys'::regclass
                   AND tgname = 'wardship_data_keys_stay_destroyed') THEN
        CREATE TRIGGER wardship_data_keys_stay_destroyed BEFORE UPDATE OR DELETE
            ON wardship_data_keys FOR EACH ROW EXECUTE FUNCTION wardship_keep_keys_destroyed();
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = app) THEN
        EXECUTE format('REVOKE ALL ON wardship_data_keys FROM %I', app);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON wardship_data_keys TO %I', app);
    END IF;
END;
$$;

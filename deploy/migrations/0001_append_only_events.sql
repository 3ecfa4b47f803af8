-- Stored events and snapshots are never updated or deleted, by any role.
-- Triggers bind every role, the table owner and superusers included; only an explicit
-- ALTER TABLE ... DISABLE TRIGGER by the owner lifts them, and the next `wardship migrate`
-- re-enables them. Idempotent, and takes no table lock when the triggers are already in place.

CREATE OR REPLACE FUNCTION wardship_refuse_history_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'stored events are never changed: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'record a new event that corrects the case instead';
END;
$$;

-- eventsourcing only ever INSERTs snapshots (one new row per snapshot version), so the
-- snapshot table is held to the same rule as the events.
DO $$
DECLARE
    tbl text;
    trig record;
BEGIN
    FOREACH tbl IN ARRAY ARRAY['wardship_events', 'wardship_snapshots'] LOOP
        CONTINUE WHEN to_regclass(tbl) IS NULL;
        FOR trig IN
            SELECT tbl || '_append_only' AS name, 'UPDATE OR DELETE' AS ops, 'ROW' AS level
            UNION ALL
            SELECT tbl || '_no_truncate', 'TRUNCATE', 'STATEMENT'
        LOOP
            IF NOT EXISTS (SELECT 1 FROM pg_trigger
                           WHERE tgrelid = to_regclass(tbl) AND tgname = trig.name) THEN
                EXECUTE format(
                    'CREATE TRIGGER %I BEFORE %s ON %I FOR EACH %s '
                    'EXECUTE FUNCTION wardship_refuse_history_change()',
                    trig.name, trig.ops, tbl, trig.level);
            ELSIF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(tbl)
                          AND tgname = trig.name AND tgenabled = 'D') THEN
                EXECUTE format('ALTER TABLE %I ENABLE TRIGGER %I', tbl, trig.name);
            END IF;
        END LOOP;
    END LOOP;
END;
$$;

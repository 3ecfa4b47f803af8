-- Database roles for a real deployment. Run once, as a superuser, when provisioning:
--   psql "$ADMIN_URL" -v owner_password=... -v app_password=... -f deploy/roles.sql
-- wardship_owner owns the schema and tables and runs `wardship migrate` (creates the event
-- tables, installs the append-only triggers and the app role's grants).
-- wardship_app is what the API, workers and projection runners log in as: not a superuser,
-- not an owner, so it can neither change stored events nor switch the triggers off.
CREATE ROLE wardship_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'owner_password';
CREATE ROLE wardship_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'app_password';
CREATE DATABASE wardship OWNER wardship_owner;

\connect wardship
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO wardship_owner;
GRANT USAGE ON SCHEMA public TO wardship_app;
-- Projection runners create and swap their own read-model tables. Creating tables does not
-- let the app touch the event tables: it does not own them (run it with CREATE_TABLE=n so
-- eventsourcing does not try to create them) and the triggers refuse UPDATE and DELETE.
GRANT CREATE ON SCHEMA public TO wardship_app;
-- Read models, tracking and API tables the owner creates later are the app's to maintain;
-- the event and snapshot tables are narrowed to SELECT/INSERT by migration 0002.
ALTER DEFAULT PRIVILEGES FOR ROLE wardship_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO wardship_app;
ALTER DEFAULT PRIVILEGES FOR ROLE wardship_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO wardship_app;

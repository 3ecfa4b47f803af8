-- Database roles for a real deployment. Run once, as a superuser, when provisioning:
--   psql "$ADMIN_URL" -v ON_ERROR_STOP=1 -v owner_password=... -v app_password=... \
--        -f deploy/roles.sql
-- Optional: -v owner=... -v app=... -v database=... (default wardship_owner, wardship_app,
-- wardship) for other names, e.g. several deployments (or tests) on one server.
-- The owner owns the schema and every table and is the only role `wardship migrate` runs as:
-- it creates the event, read-model and tracking tables, installs the append-only triggers
-- and the app role's grants. The app role is what the API, workers and projection runners
-- log in as: not a superuser, not an owner, no CREATE anywhere, so it can neither change the
-- schema, nor change stored events, nor switch the triggers off.
\if :{?owner}
\else
    \set owner wardship_owner
\endif
\if :{?app}
\else
    \set app wardship_app
\endif
\if :{?database}
\else
    \set database wardship
\endif

CREATE ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'owner_password';
CREATE ROLE :"app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'app_password';
CREATE DATABASE :"database" OWNER :"owner";
-- The migrations grant to the app role by this name.
ALTER DATABASE :"database" SET wardship.app_role = :'app';

\connect :"database"
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO :"owner";
GRANT USAGE ON SCHEMA public TO :"app";
-- Read-model, tracking and API tables the owner creates are the app's to maintain (rows
-- only); the event, snapshot and schema-version tables are narrowed by migrations 0002/0003.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"app";

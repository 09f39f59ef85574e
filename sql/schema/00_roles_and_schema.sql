-- Roles, schema and the privileges every other object builds on.
--
-- Three group roles (NOLOGIN); grant them to login roles:
--   cachemon_writer  ingest only (COPY/INSERT raw events, ingest_events)
--   cachemon_reader  read aggregates, baselines and observations (never raw events or keys)
--   cachemon_admin   operate: tick, maintenance, baselines, auditor, acknowledgements
-- Roles are cluster-wide: they are created when missing and never dropped by a downgrade,
-- because other databases of the cluster may use them.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'cachemon_writer') THEN
        CREATE ROLE cachemon_writer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'cachemon_reader') THEN
        CREATE ROLE cachemon_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'cachemon_admin') THEN
        CREATE ROLE cachemon_admin NOLOGIN;
    END IF;
END
$roles$;

CREATE SCHEMA IF NOT EXISTS cachemon;
COMMENT ON SCHEMA cachemon IS
    'cachemon: cache events, per-minute and per-hour rollups, baselines and auditor observations';
REVOKE ALL ON SCHEMA cachemon FROM PUBLIC;
GRANT USAGE ON SCHEMA cachemon TO cachemon_writer, cachemon_reader, cachemon_admin;

-- On Supabase, the API's service role writes and operates; anon and authenticated get
-- nothing unless the README's documented grant is run.
DO $supabase$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
        GRANT cachemon_writer, cachemon_reader, cachemon_admin TO service_role;
    END IF;
END
$supabase$;

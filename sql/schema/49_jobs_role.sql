-- The role pg_cron runs cachemon's jobs as (cachemon.schedule_jobs), so they never run as a
-- superuser: LOGIN (pg_cron's workers log in as the job's user), no password (nobody logs in
-- with it through password authentication), no attribute beyond LOGIN, and member of
-- cachemon_admin only. Cluster-wide like the other roles: created when missing, never dropped.
DO $jobs$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'cachemon_jobs') THEN
        CREATE ROLE cachemon_jobs LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
            NOBYPASSRLS INHERIT PASSWORD NULL;
    END IF;
END
$jobs$;
GRANT cachemon_admin TO cachemon_jobs;
COMMENT ON ROLE cachemon_jobs IS
    'cachemon: the user pg_cron runs the cachemon-* jobs as (member of cachemon_admin only; no password)';

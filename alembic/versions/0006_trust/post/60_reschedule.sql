-- Re-register the pg_cron jobs (where pg_cron is installed in this database) so they run as
-- cachemon_jobs instead of the superuser an earlier revision scheduled them as.
DO $schedule$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        PERFORM cachemon.schedule_jobs();
    END IF;
END
$schedule$;

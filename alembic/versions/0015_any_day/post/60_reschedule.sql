-- Register the pg_cron jobs again (where pg_cron is installed in this database): adds
-- cachemon-auditor-check, whose runs fail while the auditor fails.
DO $schedule$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        PERFORM cachemon.schedule_jobs();
    END IF;
END
$schedule$;

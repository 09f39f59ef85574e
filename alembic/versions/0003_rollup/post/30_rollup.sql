-- Daily partitions of cache_metrics from the start of raw retention through the premake
-- horizon, so a freshly migrated database accepts events at once; and the pg_cron jobs where
-- pg_cron is installed in this database (elsewhere `cachemon scheduler` runs the same functions).
SELECT cachemon.run_maintenance();

DO $schedule$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        PERFORM cachemon.schedule_jobs();
    END IF;
END
$schedule$;

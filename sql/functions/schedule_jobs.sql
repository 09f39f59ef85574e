CREATE OR REPLACE FUNCTION cachemon.schedule_jobs()
RETURNS TABLE (job_name text, schedule text, command text, jobid bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_job record;
BEGIN
    /*
     * Registers cachemon's pg_cron jobs in this database, by name, so calling it again updates
     * them instead of adding copies (cron.schedule(name, ...) upserts by name and user):
     *   cachemon-tick          every minute   SELECT cachemon.tick()
     *   cachemon-maintenance   hourly (:07)   SELECT cachemon.run_maintenance()
     *   cachemon-cron-cleanup  daily (03:23)  SELECT cachemon._purge_cron_history()
     * pg_cron 1.4 has minute granularity, hence five-field schedules. Without pg_cron in this
     * database it returns no rows and says so in a NOTICE: run `cachemon scheduler` instead.
     * Jobs run as the role that called this function.
     */
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension AS e WHERE e.extname = 'pg_cron') THEN
        RAISE NOTICE 'cachemon.schedule_jobs: pg_cron is not installed in database %; nothing scheduled (run `cachemon scheduler` instead)',
            pg_catalog.current_database();
        RETURN;
    END IF;
    FOR v_job IN
        SELECT * FROM (VALUES
            ('cachemon-tick', '* * * * *', 'SELECT cachemon.tick()'),
            ('cachemon-maintenance', '7 * * * *', 'SELECT cachemon.run_maintenance()'),
            ('cachemon-cron-cleanup', '23 3 * * *', 'SELECT cachemon._purge_cron_history()')
        ) AS j(name, sched, cmd)
    LOOP
        job_name := v_job.name;
        schedule := v_job.sched;
        command := v_job.cmd;
        EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO jobid USING v_job.name, v_job.sched, v_job.cmd;
        RETURN NEXT;
    END LOOP;
END
$function$;

COMMENT ON FUNCTION cachemon.schedule_jobs() IS
    'Registers (or updates) the pg_cron jobs cachemon-tick (every minute), cachemon-maintenance (hourly) and cachemon-cron-cleanup (daily); idempotent. Without pg_cron: a NOTICE and no rows.';

REVOKE ALL ON FUNCTION cachemon.schedule_jobs() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.schedule_jobs() TO cachemon_admin;

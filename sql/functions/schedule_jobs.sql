CREATE OR REPLACE FUNCTION cachemon.schedule_jobs()
RETURNS TABLE (job_name text, schedule text, command text, jobid bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_job record;
    v_in_database oid := cachemon._genuine_pg_cron_object('schedule_in_database',
        ARRAY['text', 'text', 'text', 'text', 'text', 'boolean']::regtype[]);
    v_unschedule oid := cachemon._genuine_pg_cron_object('unschedule', ARRAY['bigint']::regtype[]);
    v_job_table oid := cachemon._genuine_pg_cron_object('job');
    v_run_as text;
    v_stale bigint;
BEGIN
    /*
     * Registers cachemon's pg_cron jobs in this database, by name, so calling it again updates
     * them instead of adding copies:
     *   cachemon-tick          every minute   SELECT cachemon.tick()
     *   cachemon-maintenance   hourly (:07)   SELECT cachemon.run_maintenance()
     *   cachemon-cron-cleanup  daily (03:23)  SELECT cachemon._purge_cron_history()
     *   cachemon-auditor-check every minute   SELECT cachemon._auditor_check(): its run is
     *                                         recorded as failed (with the reason) while
     *                                         the auditor fails, succeeded once it recovers
     * pg_cron 1.4 has minute granularity, hence five-field schedules. Without pg_cron in this
     * database it returns no rows and says so in a NOTICE: run `cachemon scheduler` instead.
     *
     * The jobs run as role cachemon_jobs (LOGIN, no password, member of cachemon_admin and
     * nothing else), never as a superuser: cron.schedule_in_database(..., username) lets only
     * a superuser name another user, so this function is SECURITY DEFINER and its owner (the
     * role that ran the migrations) must be a superuser for that; where it is not (Supabase's
     * postgres), the jobs are scheduled with cron.schedule and run as the owner, and a
     * NOTICE says so. Jobs of the same names in this database under another user are removed
     * first (e.g. those an earlier revision scheduled as a superuser).
     *
     * pg_cron's functions and table are used only when they are members of the installed
     * extension pg_cron (cachemon._genuine_pg_cron_object): a schema cron planted by a role
     * with CREATE on the database is never called. SECURITY DEFINER also because
     * cachemon_admin has no USAGE on schema cron. It takes no input: names, schedules and
     * commands are the constants below.
     */
    IF v_in_database IS NULL OR v_unschedule IS NULL OR v_job_table IS NULL THEN
        RAISE NOTICE 'cachemon.schedule_jobs: pg_cron is not installed in database %; nothing scheduled (run `cachemon scheduler` instead)',
            pg_catalog.current_database();
        RETURN;
    END IF;
    v_run_as := CASE
        WHEN (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user)
             AND EXISTS (SELECT FROM pg_catalog.pg_roles AS r
                          WHERE r.rolname = 'cachemon_jobs' AND r.rolcanlogin
                            AND NOT r.rolsuper AND NOT r.rolbypassrls)
        THEN 'cachemon_jobs'
        ELSE current_user END;
    IF v_run_as <> 'cachemon_jobs' THEN
        RAISE NOTICE 'cachemon.schedule_jobs: jobs run as % (only a superuser may schedule them as cachemon_jobs)',
            v_run_as;
    END IF;
    FOR v_stale IN
        EXECUTE pg_catalog.format(
            'SELECT j.jobid FROM %s AS j WHERE j.jobname = ANY ($1) AND j.database = $2'
            ' AND j.username <> $3', v_job_table::pg_catalog.regclass)
          USING ARRAY['cachemon-tick', 'cachemon-maintenance', 'cachemon-cron-cleanup',
                'cachemon-auditor-check'],
                pg_catalog.current_database(), v_run_as
    LOOP
        EXECUTE 'SELECT cron.unschedule($1::bigint)' USING v_stale;
    END LOOP;
    FOR v_job IN
        SELECT * FROM (VALUES
            ('cachemon-tick', '* * * * *', 'SELECT cachemon.tick()'),
            ('cachemon-maintenance', '7 * * * *', 'SELECT cachemon.run_maintenance()'),
            ('cachemon-cron-cleanup', '23 3 * * *', 'SELECT cachemon._purge_cron_history()'),
            ('cachemon-auditor-check', '* * * * *', 'SELECT cachemon._auditor_check()')
        ) AS j(name, sched, cmd)
    LOOP
        job_name := v_job.name;
        schedule := v_job.sched;
        command := v_job.cmd;
        EXECUTE 'SELECT cron.schedule_in_database($1::text, $2::text, $3::text, $4::text, $5::text, true)'
           INTO jobid
          USING v_job.name, v_job.sched, v_job.cmd, pg_catalog.current_database(), v_run_as;
        RETURN NEXT;
    END LOOP;
END
$function$;

COMMENT ON FUNCTION cachemon.schedule_jobs() IS
    'Registers (or updates) the pg_cron jobs cachemon-tick (every minute), cachemon-maintenance (hourly), cachemon-cron-cleanup (daily) and cachemon-auditor-check (every minute; its run fails while the auditor fails), run as role cachemon_jobs (not a superuser); idempotent. Without pg_cron: a NOTICE and no rows. SECURITY DEFINER: naming the jobs'' user needs a superuser and cachemon_admin has no access to schema cron; no inputs; only the genuine pg_cron is called.';

REVOKE ALL ON FUNCTION cachemon.schedule_jobs() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.schedule_jobs() TO cachemon_admin;

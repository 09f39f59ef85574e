CREATE OR REPLACE FUNCTION cachemon.unschedule_jobs()
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_jobid bigint;
    v_removed integer := 0;
    v_unschedule oid := cachemon._genuine_pg_cron_object('unschedule', ARRAY['bigint']::regtype[]);
    v_job_table oid := cachemon._genuine_pg_cron_object('job');
BEGIN
    /*
     * Removes the pg_cron jobs schedule_jobs() registers for this database, whichever user
     * they run as, and returns how many it removed; 0 with a NOTICE where pg_cron is absent.
     * The migration's downgrade calls it.
     *
     * SECURITY DEFINER because cachemon_admin has no USAGE on schema cron and pg_cron lets a
     * role see and remove only its own jobs (the jobs run as cachemon_jobs). It takes no
     * input, and it calls only the genuine pg_cron (members of the installed extension,
     * cachemon._genuine_pg_cron_object), never a planted schema cron.
     */
    IF v_unschedule IS NULL OR v_job_table IS NULL THEN
        RAISE NOTICE 'cachemon.unschedule_jobs: pg_cron is not installed in database %; nothing to remove',
            pg_catalog.current_database();
        RETURN 0;
    END IF;
    FOR v_jobid IN
        EXECUTE pg_catalog.format(
            'SELECT j.jobid FROM %s AS j WHERE j.jobname = ANY ($1) AND j.database = $2',
            v_job_table::pg_catalog.regclass)
          USING ARRAY['cachemon-tick', 'cachemon-maintenance', 'cachemon-cron-cleanup',
                'cachemon-auditor-check'],
                pg_catalog.current_database()
    LOOP
        EXECUTE 'SELECT cron.unschedule($1::bigint)' USING v_jobid;
        v_removed := v_removed + 1;
    END LOOP;
    RETURN v_removed;
END
$function$;

COMMENT ON FUNCTION cachemon.unschedule_jobs() IS
    'Removes this database''s pg_cron jobs cachemon-tick, cachemon-maintenance, cachemon-cron-cleanup and cachemon-auditor-check, whoever they run as; returns how many. Without pg_cron: a NOTICE and 0. SECURITY DEFINER: cachemon_admin has no access to schema cron; no inputs; only the genuine pg_cron is called.';

REVOKE ALL ON FUNCTION cachemon.unschedule_jobs() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.unschedule_jobs() TO cachemon_admin;

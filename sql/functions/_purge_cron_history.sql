CREATE OR REPLACE FUNCTION cachemon._purge_cron_history(p_now timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '5s'
AS $function$
DECLARE
    v_table oid := cachemon._genuine_pg_cron_object('job_run_details');
    v_deleted bigint := 0;
    v_now timestamptz := p_now;
BEGIN
    /*
     * pg_cron logs every run in cron.job_run_details and never trims it: a job every minute
     * adds 1440 rows a day. Deletes the runs that ended before p_now - 'retention.cron_history'.
     *
     * The table is used only when it is the genuine one, a member of the installed extension
     * pg_cron (cachemon._genuine_pg_cron_object): where pg_cron is absent, a role with CREATE
     * on the database could plant schema cron, a table job_run_details and a trigger on it,
     * and run_maintenance (SECURITY DEFINER) used to fire that trigger as its owner. Without
     * the genuine table it does nothing and returns 0.
     *
     * SECURITY DEFINER because pg_cron's schema cron and its row level security let a role
     * delete only its own runs, and cachemon_admin (the grantee, and the role the jobs run as)
     * has no USAGE on schema cron ("permission denied for schema cron"). Its one input is
     * checked: a p_now after now() (or NULL) counts as now(), so a typo cannot empty the log.
     */
    IF p_now IS NULL OR p_now > pg_catalog.now() THEN
        v_now := pg_catalog.now();
    END IF;
    IF v_table IS NULL THEN
        RETURN 0;
    END IF;
    BEGIN
        EXECUTE pg_catalog.format('DELETE FROM %s WHERE end_time < $1', v_table::pg_catalog.regclass)
            USING v_now - cachemon._setting('retention.cron_history')::interval;
        GET DIAGNOSTICS v_deleted = ROW_COUNT;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'cachemon: may not trim cron.job_run_details as %: %', current_user, SQLERRM;
        RETURN 0;
    END;
    RETURN v_deleted;
END
$function$;

COMMENT ON FUNCTION cachemon._purge_cron_history(timestamptz) IS
    'Internal (pg_cron job cachemon-cron-cleanup, and run_maintenance): deletes rows older than retention.cron_history from the genuine cron.job_run_details (a member of extension pg_cron; a planted one is ignored); 0 without pg_cron. SECURITY DEFINER: cachemon_admin has no access to schema cron; a p_now after now() counts as now().';

REVOKE ALL ON FUNCTION cachemon._purge_cron_history(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._purge_cron_history(timestamptz) TO cachemon_admin;

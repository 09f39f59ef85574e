CREATE OR REPLACE FUNCTION cachemon._purge_cron_history(p_now timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_deleted bigint := 0;
BEGIN
    /*
     * pg_cron logs every run in cron.job_run_details and never trims it: a job every minute
     * adds 1440 rows a day. Deletes the runs that ended before p_now - 'retention.cron_history'.
     * Where pg_cron is absent, or the caller may not delete there, it does nothing (a NOTICE
     * says why) and returns 0. Dynamic SQL, so the function exists without pg_cron.
     */
    IF pg_catalog.to_regclass('cron.job_run_details') IS NULL THEN
        RETURN 0;
    END IF;
    BEGIN
        EXECUTE 'DELETE FROM cron.job_run_details WHERE end_time < $1'
            USING p_now - cachemon._setting('retention.cron_history')::interval;
        GET DIAGNOSTICS v_deleted = ROW_COUNT;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'cachemon: may not trim cron.job_run_details as %: %', current_user, SQLERRM;
        RETURN 0;
    END;
    RETURN v_deleted;
END
$function$;

COMMENT ON FUNCTION cachemon._purge_cron_history(timestamptz) IS
    'Internal (pg_cron job cachemon-cron-cleanup, and run_maintenance): deletes cron.job_run_details rows older than retention.cron_history; 0 without pg_cron.';

REVOKE ALL ON FUNCTION cachemon._purge_cron_history(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._purge_cron_history(timestamptz) TO cachemon_admin;

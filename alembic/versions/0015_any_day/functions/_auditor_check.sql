CREATE OR REPLACE FUNCTION cachemon._auditor_check()
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_health cachemon._auditor_health;
BEGIN
    /*
     * Raises while the auditor's last run failed (cachemon._auditor_health), naming since
     * when and the error; otherwise returns 'auditor ok'. The pg_cron job
     * cachemon-auditor-check runs it every minute, so while the auditor fails its runs are
     * recorded as 'failed' in cron.job_run_details with this message, and as 'succeeded'
     * again once a run of the auditor succeeds. It is a job of its own: the tick job must
     * commit its rollups whatever the auditor does.
     */
    SELECT h.* INTO v_health FROM cachemon._auditor_health AS h WHERE h.id;
    IF v_health.failure IS NOT NULL THEN
        RAISE EXCEPTION 'cachemon: the auditor is failing since %: %',
            v_health.failing_since, v_health.failure
            USING ERRCODE = 'external_routine_exception',
                  HINT = 'SELECT * FROM cachemon._auditor_health; the rollups still run';
    END IF;
    RETURN 'auditor ok';
END
$function$;

COMMENT ON FUNCTION cachemon._auditor_check() IS
    'Internal (pg_cron job cachemon-auditor-check): raises while the auditor''s last run failed (cachemon._auditor_health), so the job''s run is recorded as failed with the reason; else returns auditor ok.';

REVOKE ALL ON FUNCTION cachemon._auditor_check() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._auditor_check() TO cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon.unschedule_jobs()
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_name text;
    v_removed integer := 0;
BEGIN
    /*
     * Removes the pg_cron jobs schedule_jobs() registers (those the caller can see), and
     * returns how many it removed; 0 with a NOTICE where pg_cron is absent. The migration's
     * downgrade calls it.
     */
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension AS e WHERE e.extname = 'pg_cron') THEN
        RAISE NOTICE 'cachemon.unschedule_jobs: pg_cron is not installed in database %; nothing to remove',
            pg_catalog.current_database();
        RETURN 0;
    END IF;
    FOR v_name IN
        EXECUTE 'SELECT jobname FROM cron.job WHERE jobname = ANY ($1)'
            USING ARRAY['cachemon-tick', 'cachemon-maintenance', 'cachemon-cron-cleanup']
    LOOP
        EXECUTE 'SELECT cron.unschedule($1)' USING v_name;
        v_removed := v_removed + 1;
    END LOOP;
    RETURN v_removed;
END
$function$;

COMMENT ON FUNCTION cachemon.unschedule_jobs() IS
    'Removes the pg_cron jobs cachemon-tick, cachemon-maintenance and cachemon-cron-cleanup; returns how many. Without pg_cron: a NOTICE and 0.';

REVOKE ALL ON FUNCTION cachemon.unschedule_jobs() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.unschedule_jobs() TO cachemon_admin;

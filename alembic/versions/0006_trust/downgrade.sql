-- 0006_trust: give the pg_cron jobs back to the migrating role (as the earlier schedule_jobs
-- registered them, so the earlier unschedule_jobs can remove them), then drop the helpers
-- this revision added; the functions it changed are put back from their earlier frozen
-- copies. Role cachemon_jobs stays (roles are never dropped).
DO $jobs$
DECLARE
    v_job record;
BEGIN
    IF cachemon._genuine_pg_cron_object('schedule', ARRAY['text', 'text', 'text']::regtype[])
       IS NOT NULL THEN
        IF cachemon.unschedule_jobs() > 0 THEN
            FOR v_job IN
                SELECT * FROM (VALUES
                    ('cachemon-tick', '* * * * *', 'SELECT cachemon.tick()'),
                    ('cachemon-maintenance', '7 * * * *', 'SELECT cachemon.run_maintenance()'),
                    ('cachemon-cron-cleanup', '23 3 * * *', 'SELECT cachemon._purge_cron_history()')
                ) AS j(name, sched, cmd)
            LOOP
                EXECUTE 'SELECT cron.schedule($1::text, $2::text, $3::text)'
                  USING v_job.name, v_job.sched, v_job.cmd;
            END LOOP;
        END IF;
    END IF;
END
$jobs$;
DROP FUNCTION IF EXISTS cachemon._genuine_pg_cron_object(text, regtype[]);
DROP FUNCTION IF EXISTS cachemon._genuine_realtime_send();

-- 0006_trust: drop the helpers this revision added; the functions it changed are put back
-- from their earlier frozen copies. Role cachemon_jobs stays (roles are never dropped), and
-- so do the jobs it runs: the earlier functions work when called as cachemon_jobs.
DROP FUNCTION IF EXISTS cachemon._genuine_pg_cron_object(text, regtype[]);
DROP FUNCTION IF EXISTS cachemon._genuine_realtime_send();

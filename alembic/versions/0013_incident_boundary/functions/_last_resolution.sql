CREATE OR REPLACE FUNCTION cachemon._last_resolution(p_now timestamptz)
RETURNS TABLE (implementation_type text, resolved_at timestamptz)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * Per implementation the instant its last finding was resolved (by the auditor or a
     * person), up to p_now: where one incident ends for the auditor. The minutes that begin
     * before it belong to that incident and open nothing new; the sequential test keeps only
     * the minutes that begin at or after it (cachemon._cusum_compute: the statistic restarts),
     * and run_auditor lets a window longer than auditor.window, or a segment of the
     * sequential test, count only when it begins at or after it. One definition, so the two
     * agree: until revision 0013 the restart kept the minute the resolution fell in, which
     * begins before it, and a segment that began there could not count.
     */
    SELECT o.implementation_type, max(o.resolved_at)
      FROM cachemon.cache_auditor_observations AS o
     WHERE o.status = 'resolved' AND o.resolved_at <= p_now
     GROUP BY o.implementation_type
$function$;

COMMENT ON FUNCTION cachemon._last_resolution(timestamptz) IS
    'Internal: per implementation the instant its last finding was resolved, up to p_now. The auditor''s incident boundary: the sequential test restarts with the minutes that begin at or after it, and a long window or segment counts only when it begins at or after it.';

REVOKE ALL ON FUNCTION cachemon._last_resolution(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._last_resolution(timestamptz) TO cachemon_reader, cachemon_admin;

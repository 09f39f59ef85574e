CREATE OR REPLACE FUNCTION cachemon._auditor_windows(p_window interval)
RETURNS SETOF integer
LANGUAGE plpgsql
STABLE
ROWS 8
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * The window lengths (whole minutes) a rule judges at once: the minutes listed in the
     * setting auditor.windows (default 2, 5, 15, 60) plus p_window itself, each between 2 and
     * 1440. Short windows find a clear incident in about two minutes; long ones find a small
     * sustained breach, or any breach of a quiet implementation, as soon as enough requests
     * make it significant (adaptively longer windows instead of silence). run_auditor decides
     * clearing on p_window (or the shortest longer window with enough traffic).
     * PL/pgSQL (not SQL) only so that its body is not checked before cachemon._setting
     * exists when the functions are created in name order.
     */
    RETURN QUERY
    SELECT DISTINCT least(greatest(w, 2), 1440)
      FROM unnest(coalesce(cachemon._setting('auditor.windows')::integer[], '{}'::integer[])
                  || (extract(epoch FROM p_window) / 60)::integer) AS u (w)
     WHERE w IS NOT NULL
     ORDER BY 1;
END
$function$;

COMMENT ON FUNCTION cachemon._auditor_windows(interval) IS
    'Internal: window lengths in minutes the rules judge (setting auditor.windows plus p_window, each 2..1440).';

REVOKE ALL ON FUNCTION cachemon._auditor_windows(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._auditor_windows(interval) TO cachemon_reader, cachemon_admin;

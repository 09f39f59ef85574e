CREATE OR REPLACE FUNCTION cachemon._queued_buckets(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (bucket timestamptz, implementation_type text)
LANGUAGE sql
STABLE
ROWS 8
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * The distinct (minute, implementation) pairs of [p_from, p_to) still queued in
     * _dirty_buckets: minutes whose rollup row may be incomplete, which the auditor and the
     * migration verdict leave out. SECURITY DEFINER because cachemon_reader (the dashboard,
     * which calls migration_verdict) may not read the queue itself; this returns only
     * minutes and implementation names, which the reader sees in cache_metrics_1min anyway.
     */
    SELECT DISTINCT d.bucket, d.implementation_type
      FROM cachemon._dirty_buckets AS d
     WHERE d.bucket >= p_from AND d.bucket < p_to;
$function$;

COMMENT ON FUNCTION cachemon._queued_buckets(timestamptz, timestamptz) IS
    'Internal: (minute, implementation) pairs of [p_from, p_to) still queued for rollup. SECURITY DEFINER so that readers (migration_verdict) can leave such minutes out without reading the queue.';

REVOKE ALL ON FUNCTION cachemon._queued_buckets(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._queued_buckets(timestamptz, timestamptz) TO cachemon_reader, cachemon_admin;

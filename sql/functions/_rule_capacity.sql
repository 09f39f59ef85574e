CREATE OR REPLACE FUNCTION cachemon._rule_capacity(p_now timestamptz, p_window interval)
RETURNS SETOF cachemon._finding
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * Capacity: eviction rate (evictions per 100 lookups) or average cache size above the
     * baseline by at least warning_threshold percent (critical from critical_threshold).
     * Evictions are counts: significant when the Anscombe-transformed Poisson z,
     * 2 (sqrt(observed + 3/8) - sqrt(expected + 3/8)), reaches significance_z, with the
     * expected count from the baseline rate (at least 0.1 per 100 lookups). Cache size is a
     * level: significant when (observed - baseline) / robust per-minute spread reaches it.
     */
    RETURN QUERY
    WITH w AS (
        SELECT pg_catalog.date_trunc('minute', p_now, 'UTC') AS t_end,
               pg_catalog.date_trunc('minute', p_now, 'UTC') - p_window AS t_start,
               (extract(epoch FROM p_window) / 60)::integer AS minutes
    ), r AS (
        SELECT * FROM cachemon._auditor_rule('capacity')
    ), x AS (
        SELECT t.implementation_type, t.evictions, t.lookups, t.eviction_rate, t.avg_cache_size,
               w.minutes,
               greatest(cachemon._baseline_expected(b, 'eviction_rate', w.t_end - p_window / 2), 0.1)
                   AS base_eviction_rate,
               cachemon._baseline_expected(b, 'avg_cache_size', w.t_end - p_window / 2) AS base_size,
               cachemon._baseline_scale(b, 'avg_cache_size', w.t_end - p_window / 2) AS size_scale
          FROM w
         CROSS JOIN LATERAL cachemon._window_totals(w.t_start, w.t_end) AS t
          JOIN cachemon.cache_baseline_metrics AS b
            ON b.implementation_type = t.implementation_type AND b.is_active
    ), d AS (
        SELECT x.implementation_type, x.minutes, x.lookups, v.*
          FROM x CROSS JOIN r
         CROSS JOIN LATERAL (VALUES
             ('eviction_rate', x.eviction_rate, x.base_eviction_rate,
              2 * (sqrt(x.evictions + 0.375) - sqrt(x.base_eviction_rate / 100.0 * x.lookups + 0.375)),
              pg_catalog.format('%s evictions in %s lookups', cachemon._fmt(x.evictions, 0),
                                cachemon._fmt(x.lookups, 0))),
             ('avg_cache_size', x.avg_cache_size, x.base_size,
              (x.avg_cache_size - x.base_size) / x.size_scale,
              pg_catalog.format('%s lookups', cachemon._fmt(x.lookups, 0)))
         ) AS v (metric, observed, base, z, volume)
    )
    SELECT d.implementation_type, 'capacity', r.category, j.state, j.severity,
           d.metric, d.observed, d.base, 100.0 * (d.observed - d.base) / NULLIF(d.base, 0),
           d.lookups, d.z,
           pg_catalog.format('%s of %s is %s vs baseline %s over %s minutes (%s%% higher; %s)',
               CASE d.metric WHEN 'eviction_rate' THEN 'eviction rate (per 100 lookups)'
                             ELSE 'average cache size' END,
               d.implementation_type, cachemon._fmt(d.observed, 2), cachemon._fmt(d.base, 2),
               d.minutes, cachemon._fmt(100.0 * (d.observed - d.base) / NULLIF(d.base, 0), 0),
               d.volume),
           CASE WHEN j.state = 'breach' THEN CASE d.metric
               WHEN 'eviction_rate' THEN pg_catalog.format(
                   'The cache of %s is evicting far more than usual: raise its memory limit (maxmemory) or shorten TTLs of large, rarely read entries; check for a new key pattern that fills the cache (per-user or per-request keys).',
                   d.implementation_type)
               ELSE pg_catalog.format(
                   'The cache of %s is growing far beyond its usual size: check TTLs are set on new keys, look for unbounded key growth, and make sure its memory limit and eviction policy are what you expect.',
                   d.implementation_type) END END,
           pg_catalog.jsonb_build_object('z', round(d.z::numeric, 2), 'window_minutes', d.minutes)
      FROM d CROSS JOIN r
     CROSS JOIN LATERAL cachemon._judge(
         100.0 * (d.observed - d.base) / NULLIF(d.base, 0), d.z >= r.significance_z,
         d.lookups >= r.min_requests, r) AS j;
END
$function$;

COMMENT ON FUNCTION cachemon._rule_capacity(timestamptz, interval) IS
    'Auditor rule capacity: eviction rate (per 100 lookups) or average cache size above the baseline by more than the thresholds, significant for the volume.';

REVOKE ALL ON FUNCTION cachemon._rule_capacity(timestamptz, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rule_capacity(timestamptz, interval) TO cachemon_reader, cachemon_admin;

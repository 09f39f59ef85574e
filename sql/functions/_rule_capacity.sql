CREATE OR REPLACE FUNCTION cachemon._rule_capacity(p_now timestamptz, p_window interval, p_stats cachemon._window_stat[],
    p_cusum cachemon._cusum_stat[])
RETURNS SETOF cachemon._finding
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * Capacity: eviction rate (evictions per 100 lookups) or average cache size above the
     * baseline by at least warning_threshold percent (critical from critical_threshold).
     * Evictions are rare counts: the window's evictions without its worst minute are
     * compared with the baseline's POOLED rate (all evictions / all lookups of that hour of
     * day, not the median minute, which is 0 when most minutes have none) times the window's
     * lookups; significant when the Poisson upper-tail z (cachemon._poisson_z) over sqrt of
     * the baseline's dispersion factor reaches significance_z, with at least 5 evictions.
     * A traffic rise raises expected and observed evictions alike. Cache size is a level:
     * significant when (observed - baseline median) / robust per-minute spread reaches it.
     * Judged over every window of cachemon._auditor_windows.
     */
    RETURN QUERY
    WITH r AS (
        SELECT * FROM cachemon._auditor_rule('capacity')
    ), t AS MATERIALIZED (
        SELECT s.minutes AS k, s.*
          FROM unnest(p_stats) AS s
         WHERE s.minutes IN (SELECT k.k FROM cachemon._auditor_windows(p_window) AS k (k))
    ), x AS (
        -- evictions and lookups of the same minutes (the window without its worst eviction
        -- minute); lookups without another minute would make a traffic step look like
        -- an eviction storm
        SELECT t.implementation_type, t.loo_evictions AS evictions, t.lookups,
               t.loo_eviction_lookups AS loo_lookups,
               100.0::double precision * t.loo_evictions / NULLIF(t.loo_eviction_lookups, 0) AS eviction_rate,
               t.avg_cache_size, t.k AS minutes,
               greatest(coalesce(cachemon._baseline_pooled_at(b, 'eviction_rate', pg_catalog.date_trunc('minute', p_now, 'UTC')),
                                 cachemon._baseline_expected(b, 'eviction_rate', pg_catalog.date_trunc('minute', p_now, 'UTC'))),
                        0.01) AS base_eviction_rate,
               coalesce((b.statistics -> 'dispersion' ->> 'eviction_rate_phi')::double precision, 1) AS phi,
               cachemon._baseline_expected(b, 'avg_cache_size', pg_catalog.date_trunc('minute', p_now, 'UTC')) AS base_size,
               cachemon._baseline_scale(b, 'avg_cache_size', pg_catalog.date_trunc('minute', p_now, 'UTC')) AS size_scale
          FROM t
          JOIN cachemon.cache_baseline_metrics AS b
            ON b.implementation_type = t.implementation_type AND b.is_active
    ), d AS (
        SELECT x.implementation_type, x.minutes, x.lookups, v.*
          FROM x CROSS JOIN r
         CROSS JOIN LATERAL (VALUES
             ('eviction_rate', x.eviction_rate, x.base_eviction_rate,
              CASE WHEN x.evictions >= 5 THEN cachemon._poisson_z(x.evictions,
                       x.base_eviction_rate / 100.0 * x.loo_lookups) / sqrt(greatest(x.phi, 1))
                   ELSE 0 END,
              pg_catalog.format('%s evictions in %s lookups without the worst minute', cachemon._fmt(x.evictions, 0),
                                cachemon._fmt(x.loo_lookups, 0))),
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
           pg_catalog.jsonb_build_object('z', round(d.z::numeric, 2), 'window_minutes', d.minutes,
               'enough', d.lookups >= r.min_requests)
      FROM d CROSS JOIN r
     CROSS JOIN LATERAL cachemon._judge(
         100.0 * (d.observed - d.base) / NULLIF(d.base, 0), d.z >= r.significance_z,
         d.lookups >= r.min_requests, r) AS j;
END
$function$;

COMMENT ON FUNCTION cachemon._rule_capacity(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) IS
    'Auditor rule capacity: eviction rate (pooled, without the worst minute, Poisson test) or average cache size above the baseline by more than the thresholds, over 2..60-minute windows.';

REVOKE ALL ON FUNCTION cachemon._rule_capacity(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rule_capacity(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) TO cachemon_reader, cachemon_admin;

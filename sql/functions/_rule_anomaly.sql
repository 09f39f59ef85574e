CREATE OR REPLACE FUNCTION cachemon._rule_anomaly(p_now timestamptz, p_window interval, p_stats cachemon._window_stat[],
    p_cusum cachemon._cusum_stat[])
RETURNS SETOF cachemon._finding
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * Robust z-score on every baselined metric listed in params.metrics: z = (window value -
     * baseline median) / (1.4826 MAD of one minute), both of that hour of day when the
     * baseline has a profile. The window value (over several minutes) is less noisy than
     * one minute, so judging it against one minute's spread is conservative. Medians and
     * MADs are what a few bad baseline minutes cannot drag. |z| is the deviation: breach
     * from warning_threshold (critical from critical_threshold), either direction (a cache
     * that is suddenly much faster, or quieter, is also worth a look). requests_per_minute is
     * judged only with an hour-of-day profile: without one the daily rhythm alone would
     * exceed any sensible threshold. One row per metric; run_auditor keeps the worst.
     * Since revision 0007: window values leave the worst minute out (cachemon._window_stats,
     * loo_*), only fully rolled-up minutes count, requests_per_minute is expected from the
     * baseline's pooled requests per minute of every minute of that hour, and MORE traffic
     * than usual with unchanged quality is severity 'info' at most (a surge is news, not a
     * fault; the quality rules judge what it does to the cache).
     */
    RETURN QUERY
    WITH w AS (
        SELECT pg_catalog.date_trunc('minute', p_now, 'UTC') AS t_end,
               pg_catalog.date_trunc('minute', p_now, 'UTC') - p_window AS t_start,
               (extract(epoch FROM p_window) / 60)::integer AS minutes
    ), r AS (
        SELECT * FROM cachemon._auditor_rule('anomaly')
    ), x AS (
        SELECT t.implementation_type, v.metric, v.observed, t.operations, w.minutes,
               CASE WHEN v.metric = 'requests_per_minute'
                    THEN coalesce(cachemon._baseline_pooled_at(b, v.metric, w.t_end - p_window / 2),
                                  cachemon._baseline_expected(b, v.metric, w.t_end - p_window / 2))
                    ELSE cachemon._baseline_expected(b, v.metric, w.t_end - p_window / 2) END AS base,
               cachemon._baseline_scale(b, v.metric, w.t_end - p_window / 2) AS scale
          FROM w
         CROSS JOIN r
          JOIN unnest(p_stats) AS t ON t.minutes = w.minutes
          JOIN cachemon.cache_baseline_metrics AS b
            ON b.implementation_type = t.implementation_type AND b.is_active
         CROSS JOIN LATERAL (VALUES
             ('hit_rate', 100.0::double precision * t.loo_hits / NULLIF(t.loo_lookups, 0)),
             ('error_rate', 100.0::double precision * t.loo_errors / NULLIF(t.loo_operations, 0)),
             ('avg_response_time_ms', t.loo_avg_response_time_ms),
             ('p95_response_time_ms', t.loo_p95_response_time_ms),
             ('requests_per_minute', t.requests_per_minute),
             ('eviction_rate', 100.0::double precision * t.loo_evictions / NULLIF(t.loo_lookups, 0)),
             ('avg_cache_size', t.avg_cache_size)
         ) AS v (metric, observed)
         WHERE r.params -> 'metrics' ? v.metric
           AND (v.metric <> 'requests_per_minute' OR b.hourly_profile IS NOT NULL)
           AND b.statistics ? v.metric
    ), d AS (
        SELECT x.*, (x.observed - x.base) / x.scale AS z,
               x.operations >= r.min_requests AS enough
          FROM x CROSS JOIN r
    )
    SELECT d.implementation_type, 'anomaly', r.category, j.state,
           CASE WHEN d.metric = 'requests_per_minute' AND d.z > 0 AND j.severity IS NOT NULL
                THEN 'info' ELSE j.severity END,
           d.metric, d.observed, d.base, 100.0 * (d.observed - d.base) / NULLIF(d.base, 0),
           d.operations, d.z,
           pg_catalog.format('%s of %s is %s vs baseline median %s over %s minutes: robust z-score %s (%s operations)',
               d.metric, d.implementation_type, cachemon._fmt(d.observed, 2), cachemon._fmt(d.base, 2),
               d.minutes, cachemon._fmt(d.z, 1), cachemon._fmt(d.operations, 0)),
           CASE WHEN j.state = 'breach' THEN pg_catalog.format(
               '%s of %s is far outside its normal range: compare with the other rules'' findings for %s, check deploys, traffic changes and the cache server around %s; if the change is expected (new traffic pattern), recompute the baseline with cachemon.compute_baseline(%L).',
               d.metric, d.implementation_type, d.implementation_type,
               pg_catalog.to_char(p_now AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
               d.implementation_type) END,
           pg_catalog.jsonb_build_object('z', round(d.z::numeric, 2), 'scale', d.scale,
               'window_minutes', d.minutes, 'enough', d.enough)
      FROM d CROSS JOIN r
     CROSS JOIN LATERAL cachemon._judge(abs(d.z), true, d.enough, r) AS j;
END
$function$;

COMMENT ON FUNCTION cachemon._rule_anomaly(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) IS
    'Auditor rule anomaly: robust z-score (median/MAD, hour of day when profiled) of each baselined metric in params.metrics beyond the thresholds.';

REVOKE ALL ON FUNCTION cachemon._rule_anomaly(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rule_anomaly(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) TO cachemon_reader, cachemon_admin;

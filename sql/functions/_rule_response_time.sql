CREATE OR REPLACE FUNCTION cachemon._rule_response_time(p_now timestamptz, p_window interval, p_stats cachemon._window_stat[],
    p_cusum cachemon._cusum_stat[])
RETURNS SETOF cachemon._finding
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_rec constant text := 'Look at %s''s backend: CPU, memory and network latency of the cache server, connection pool saturation, and value sizes (large values serialise slowly); if only p99 rose, look for slow keys or lock contention.';
BEGIN
    /*
     * Response time above baseline, over every window of cachemon._auditor_windows, one row
     * per window and metric: p50, p95 and p99 of the window (quantiles of the merged minute
     * sketches, within 0.55%); not the average, which a few very slow requests move at will
     * (the migration rule and verdict still report it). All without the window's worst minute (loo:
     * one slow minute, or one request 20x slower in a quiet minute, cannot open a finding).
     * Expected: the baseline's pooled quantile of that hour of day (merged sketches of the
     * baseline window), and for the average the hour's median minute average.
     * Breach when higher by at least warning_threshold percent (critical from
     * critical_threshold) and significant: for a quantile, z = ln(observed / expected) /
     * (s / sqrt(minutes)), s the baseline's robust (MAD) spread of ln(minute quantile /
     * expected) (statistics.dispersion.pNN_log_sd, at least 0.05), and the window must hold
     * at least 10 requests beyond the quantile (200 for p95, 1000 for p99), AND the
     * quantile's distribution-free lower confidence bound (loo_pNN_lower_ms: the value at rank
     * N (q - 3.09 sqrt(q (1 - q) / N)) of the window's sketch) must itself exceed the expected
     * value by clear_threshold percent (12.5%), which a tail made of a handful of very slow
     * requests, or the drift of an hour's quantile from its profile, cannot do. A tail-only
     * regression shows in p99 first.
     * Since revision 0009 the rule also judges the sequential test of cachemon._cusum (one
     * row per metric, details.test = 'sequential', window_minutes = the minutes of its
     * segment): a breach when the CUSUM statistic reaches auditor.cusum_h and the value over
     * its segment, without its worst minute, is beyond the warning threshold. It finds a threshold-level breach of a
     * busy implementation in minutes and of a quiet one as soon as the evidence allows,
     * without waiting for a long window to fill; run_auditor opens it like a critical breach.
     */
    RETURN QUERY
    WITH r AS (
        SELECT * FROM cachemon._auditor_rule('response_time')
    ), t AS MATERIALIZED (
        SELECT s.minutes AS k, s.*
          FROM unnest(p_stats) AS s
         WHERE s.minutes IN (SELECT k.k FROM cachemon._auditor_windows(p_window) AS k (k))
    ), x AS (
        SELECT t.implementation_type, t.k AS minutes, greatest(t.data_minutes - 1, 1) AS kk,
               t.loo_latency_count, v.metric, v.label, v.observed, v.q, v.lower,
               CASE WHEN v.metric = 'avg_response_time_ms'
                    THEN cachemon._baseline_expected(b, v.metric, pg_catalog.date_trunc('minute', p_now, 'UTC'))
                    ELSE coalesce(cachemon._baseline_pooled_at(b, v.metric, pg_catalog.date_trunc('minute', p_now, 'UTC')),
                                  cachemon._baseline_expected(b, v.metric, pg_catalog.date_trunc('minute', p_now, 'UTC')))
               END AS base,
               CASE WHEN v.metric = 'avg_response_time_ms'
                    THEN cachemon._baseline_scale(b, v.metric, pg_catalog.date_trunc('minute', p_now, 'UTC'))
                    ELSE greatest(coalesce((b.statistics -> 'dispersion' ->> v.sd_key)::double precision,
                                           -- no sketches in the baseline: the relative robust
                                           -- spread of the minute values instead
                                           cachemon._baseline_scale(b, v.metric, pg_catalog.date_trunc('minute', p_now, 'UTC'))
                                           / NULLIF(cachemon._baseline_expected(b, v.metric, pg_catalog.date_trunc('minute', p_now, 'UTC')), 0),
                                           0.05), 0.05)
               END AS scale
          FROM t
          JOIN cachemon.cache_baseline_metrics AS b
            ON b.implementation_type = t.implementation_type AND b.is_active
         CROSS JOIN LATERAL (VALUES
             ('p50_response_time_ms', 'p50 response time', t.loo_p50_response_time_ms, 0.5, 'p50_log_sd', t.loo_p50_lower_ms),
             ('p95_response_time_ms', 'p95 response time', t.loo_p95_response_time_ms, 0.95, 'p95_log_sd', t.loo_p95_lower_ms),
             ('p99_response_time_ms', 'p99 response time', t.loo_p99_response_time_ms, 0.99, 'p99_log_sd', t.loo_p99_lower_ms)
         ) AS v (metric, label, observed, q, sd_key, lower)
    ), d AS (
        SELECT x.*,
               100.0 * (x.observed - x.base) / NULLIF(x.base, 0) AS deviation,
               CASE WHEN x.q IS NULL
                    THEN (x.observed - x.base) / (x.scale / sqrt(x.kk))
                    ELSE ln(greatest(x.observed, 1e-6) / greatest(x.base, 1e-6)) / (x.scale / sqrt(x.kk))
               END AS z,
               x.loo_latency_count >= r.min_requests
                   AND (x.q IS NULL OR x.loo_latency_count * (1 - x.q) >= 10) AS enough
          FROM x CROSS JOIN r
         WHERE x.base IS NOT NULL
    )
    SELECT d.implementation_type, 'response_time', r.category, j.state, j.severity,
           d.metric, d.observed, d.base, d.deviation, d.loo_latency_count, d.z,
           pg_catalog.format('%s of %s is %s ms vs baseline %s ms over %s minutes, %s timed requests without the worst minute (%s%% higher)',
               d.label, d.implementation_type, cachemon._fmt(d.observed, 1), cachemon._fmt(d.base, 1),
               d.minutes, cachemon._fmt(d.loo_latency_count, 0), cachemon._fmt(d.deviation, 1)),
           CASE WHEN j.state = 'breach' THEN pg_catalog.format(
               v_rec,
               d.implementation_type) END,
           pg_catalog.jsonb_build_object('z', round(d.z::numeric, 2), 'scale', d.scale,
               'window_minutes', d.minutes, 'enough', d.enough,
               'lower_bound_ms', d.lower)
      FROM d CROSS JOIN r
     CROSS JOIN LATERAL cachemon._judge(d.deviation,
         d.z >= r.significance_z
         AND coalesce(d.lower > d.base * (1 + r.clear_threshold / 100.0), false), d.enough, r) AS j;
    RETURN QUERY
    SELECT c.implementation_type, 'response_time', r.category, j.state, j.severity,
           c.metric, c.observed, c.base, 100.0 * (c.observed - c.base) / NULLIF(c.base, 0),
           c.events::bigint, c.statistic,
           pg_catalog.format('%s of %s is %s ms vs baseline %s ms over the last %s minutes without the worst one: %s of %s timed requests above the baseline''s %s where it expects %s (%s%% higher; sequential test %s of %s)',
               replace(c.metric, '_response_time_ms', '') || ' response time',
               c.implementation_type, cachemon._fmt(c.observed, 1), cachemon._fmt(c.base, 1),
               c.segment_minutes, cachemon._fmt(c.exceedances, 0), cachemon._fmt(c.events, 0),
               replace(c.metric, '_response_time_ms', ''), cachemon._fmt(c.expected_exceedances, 1),
               cachemon._fmt(100.0 * (c.observed - c.base) / NULLIF(c.base, 0), 1),
               cachemon._fmt(c.statistic, 1), cachemon._fmt(c.threshold, 1)),
           CASE WHEN j.state = 'breach' THEN pg_catalog.format(v_rec, c.implementation_type) END,
           pg_catalog.jsonb_build_object('test', 'sequential', 'cusum', round(c.statistic::numeric, 2),
               'cusum_threshold', c.threshold, 'design', c.design, 'segment_start', c.segment_start,
               'recent', round(c.recent::numeric, 2), 'recovery', round(c.recovery::numeric, 2),
               'above', c.exceedances, 'expected_above', round(c.expected_exceedances::numeric, 1),
               'window_minutes', c.segment_minutes, 'enough', false)
      FROM unnest(p_cusum) AS c CROSS JOIN cachemon._auditor_rule('response_time') AS r
     CROSS JOIN LATERAL cachemon._judge(100.0 * (c.observed - c.base) / NULLIF(c.base, 0),
                                        c.statistic >= c.threshold AND c.recent > 0, true, r) AS j
     WHERE c.metric LIKE 'p%\_response\_time\_ms' AND c.segment_minutes > 0;
END
$function$;

COMMENT ON FUNCTION cachemon._rule_response_time(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) IS
    'Auditor rule response_time: window p50/p95/p99 (merged sketches) and average, without the worst minute, above the baseline (pooled hour-of-day quantiles) by more than the thresholds, significant against the baseline''s robust spread, over 2..60-minute windows.';

REVOKE ALL ON FUNCTION cachemon._rule_response_time(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rule_response_time(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) TO cachemon_reader, cachemon_admin;

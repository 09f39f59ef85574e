CREATE OR REPLACE FUNCTION cachemon._rule_response_time(p_now timestamptz, p_window interval)
RETURNS SETOF cachemon._finding
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * Response time above baseline, one row for the average and one for p95. The window's
     * average is exact (latency_sum / latency_count); its p95 is the latency-weighted mean
     * of the minutes' p95s. Each against the baseline's hour-of-day median. Breach when
     * higher by at least warning_threshold percent (critical from critical_threshold) and
     * significant: z = (observed - baseline) / (robust per-minute spread / sqrt(minutes))
     * reaches significance_z. run_auditor keeps the worse of the two rows (a critical p95
     * suppresses a warning on the average).
     */
    RETURN QUERY
    WITH w AS (
        SELECT pg_catalog.date_trunc('minute', p_now, 'UTC') AS t_end,
               pg_catalog.date_trunc('minute', p_now, 'UTC') - p_window AS t_start,
               (extract(epoch FROM p_window) / 60)::integer AS minutes
    ), r AS (
        SELECT * FROM cachemon._auditor_rule('response_time')
    ), x AS (
        SELECT t.implementation_type, v.metric, v.label, v.observed, t.latency_count, t.minutes AS data_minutes,
               cachemon._baseline_expected(b, v.metric, w.t_end - p_window / 2) AS base,
               cachemon._baseline_scale(b, v.metric, w.t_end - p_window / 2) AS scale,
               w.minutes
          FROM w
         CROSS JOIN LATERAL cachemon._window_totals(w.t_start, w.t_end) AS t
          JOIN cachemon.cache_baseline_metrics AS b
            ON b.implementation_type = t.implementation_type AND b.is_active
         CROSS JOIN LATERAL (VALUES
             ('avg_response_time_ms', 'average response time', t.avg_response_time_ms),
             ('p95_response_time_ms', 'p95 response time', t.p95_response_time_ms)
         ) AS v (metric, label, observed)
    ), d AS (
        SELECT x.*,
               100.0 * (x.observed - x.base) / NULLIF(x.base, 0) AS deviation,
               (x.observed - x.base) / (x.scale / sqrt(greatest(x.data_minutes, 1))) AS z,
               x.latency_count >= r.min_requests AS enough
          FROM x CROSS JOIN r
    )
    SELECT d.implementation_type, 'response_time', r.category, j.state, j.severity,
           d.metric, d.observed, d.base, d.deviation, d.latency_count, d.z,
           pg_catalog.format('%s of %s is %s ms vs baseline %s ms over %s minutes, %s timed requests (%s%% higher)',
               d.label, d.implementation_type, cachemon._fmt(d.observed, 1), cachemon._fmt(d.base, 1),
               d.minutes, cachemon._fmt(d.latency_count, 0), cachemon._fmt(d.deviation, 1)),
           CASE WHEN j.state = 'breach' THEN pg_catalog.format(
               'Look at %s''s backend: CPU, memory and network latency of the cache server, connection pool saturation, and value sizes (large values serialise slowly); if only p95 rose, look for slow keys or lock contention.',
               d.implementation_type) END,
           pg_catalog.jsonb_build_object('z', round(d.z::numeric, 2), 'scale', d.scale,
               'window_minutes', d.minutes)
      FROM d CROSS JOIN r
     CROSS JOIN LATERAL cachemon._judge(d.deviation, d.z >= r.significance_z, d.enough, r) AS j;
END
$function$;

COMMENT ON FUNCTION cachemon._rule_response_time(timestamptz, interval) IS
    'Auditor rule response_time: window average and p95 response time above the baseline (hour-of-day median) by more than the thresholds, significant against the baseline''s robust spread.';

REVOKE ALL ON FUNCTION cachemon._rule_response_time(timestamptz, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rule_response_time(timestamptz, interval) TO cachemon_reader, cachemon_admin;

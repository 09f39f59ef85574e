CREATE OR REPLACE FUNCTION cachemon._rule_migration(p_now timestamptz, p_window interval, p_stats cachemon._window_stat[],
    p_cusum cachemon._cusum_stat[])
RETURNS SETOF cachemon._finding
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * Migration: the candidate implementation (params.candidate, default 'new') worse than
     * the reference (params.reference, default 'legacy') over the same window, so traffic
     * patterns and the time of day affect both alike. Three rows for the candidate:
     * hit rate lower by hit_rate_drop_pct percent (relative), average response time higher
     * by response_time_increase_pct percent, error rate higher by error_rate_increase_points
     * points. The deviation is the multiple of that margin (warning 1, critical 2, clear 0.5
     * by default). Significance: a two-proportion z-test for the rates; for response time the
     * difference of the averages over the standard error of minute averages (the reference's
     * robust per-minute spread from its baseline, or its spread within the window, at least
     * 1% of its average) times sqrt(1/k_candidate + 1/k_reference), and since revision 0011
     * at least the standard error the requests themselves give, sqrt(var_c/n_c + var_r/n_r)
     * with each side's latency variance over the window's sketches: an average is moved at
     * will by a few very slow requests (0.5% of requests 10-40x slower put one or two in
     * every 5-minute window at night, and opened critical findings), and those same
     * requests make the variance large; a real slowdown of every request does not. Both
     * sides need min_requests.
     * No baseline needed: this is the comparison a migration is about.
     * Since revision 0007 each side is judged without its worst minute of the window
     * (cachemon._window_stats, loo_*) and only over fully rolled-up minutes, so one stalled
     * minute of the candidate cannot open a finding; run_auditor groups a migration finding
     * with the candidate's other findings of the same incident.
     */
    RETURN QUERY
    WITH w AS (
        SELECT pg_catalog.date_trunc('minute', p_now, 'UTC') AS t_end,
               pg_catalog.date_trunc('minute', p_now, 'UTC') - p_window AS t_start,
               (extract(epoch FROM p_window) / 60)::integer AS minutes
    ), r AS (
        SELECT * FROM cachemon._auditor_rule('migration')
    ), p AS (
        SELECT r.params ->> 'candidate' AS cand, r.params ->> 'reference' AS ref,
               coalesce((r.params ->> 'hit_rate_drop_pct')::double precision, 10) AS hr_margin,
               coalesce((r.params ->> 'response_time_increase_pct')::double precision, 25) AS rt_margin,
               coalesce((r.params ->> 'error_rate_increase_points')::double precision, 1) AS er_margin
          FROM r
    ), t AS (
        SELECT s.implementation_type, s.loo_hits AS hits, s.loo_lookups AS lookups,
               100.0::double precision * s.loo_hits / NULLIF(s.loo_lookups, 0) AS hit_rate,
               s.loo_errors AS errors, s.loo_operations AS operations,
               100.0::double precision * s.loo_errors / NULLIF(s.loo_operations, 0) AS error_rate,
               s.loo_avg_response_time_ms AS avg_response_time_ms,
               s.loo_latency_count AS latency_count
          FROM w JOIN unnest(p_stats) AS s ON s.minutes = w.minutes
    ), mins AS MATERIALIZED (
        -- the window's minutes of both sides, read once: the minute average, and the timed
        -- requests with the first two moments of their latencies from the minute's sketch
        -- (each key at the value it stands for; none without a sketch)
        SELECT m.implementation_type, m.latency_count, m.latency_sum,
               coalesce((m.latency_sketch).zero_count, 0) + q.n AS n, q.s1, q.s2
          FROM w CROSS JOIN p
          JOIN cachemon.cache_metrics_1min AS m
            ON m.implementation_type IN (p.cand, p.ref)
           AND m.bucket >= w.t_start AND m.bucket < w.t_end
         CROSS JOIN LATERAL (
               SELECT coalesce(sum(u.c), 0) AS n, coalesce(sum(u.c * v.v), 0) AS s1,
                      coalesce(sum(u.c * v.v * v.v), 0) AS s2
                 FROM unnest((m.latency_sketch).keys, (m.latency_sketch).counts) AS u (k, c)
                CROSS JOIN LATERAL (SELECT cachemon.sketch_value(u.k) AS v) AS v) AS q
    ), lat AS (
        SELECT count(*) FILTER (WHERE m.implementation_type = p.cand) AS k_cand,
               count(*) FILTER (WHERE m.implementation_type = p.ref) AS k_ref,
               stddev_samp(m.latency_sum / m.latency_count)
                   FILTER (WHERE m.implementation_type = p.ref) AS sd_ref,
               (SELECT cachemon._baseline_scale(b, 'avg_response_time_ms', w.t_end - p_window / 2)
                  FROM cachemon.cache_baseline_metrics AS b
                 WHERE b.implementation_type = p.ref AND b.is_active) AS baseline_scale
          FROM w CROSS JOIN p
          JOIN mins AS m ON m.latency_count > 0
         GROUP BY w.t_end, p.ref
    ), req AS (
        -- the standard error of the difference of the two averages from the requests'
        -- own variance: a heavy tail (a few requests 100x slower) makes it large
        SELECT sqrt(sum(greatest(mm.s2 - mm.s1 * mm.s1 / mm.n, 0) / greatest(mm.n - 1, 1) / mm.n)) AS se
          FROM (SELECT sum(m.n) AS n, sum(m.s1) AS s1, sum(m.s2) AS s2
                  FROM mins AS m GROUP BY m.implementation_type) AS mm
         WHERE mm.n > 0
    ), x AS (
        SELECT p.cand, p.ref, w.minutes, v.*
          FROM w CROSS JOIN p CROSS JOIN lat CROSS JOIN req
          JOIN t AS c ON c.implementation_type = p.cand
          JOIN t AS f ON f.implementation_type = p.ref
         CROSS JOIN LATERAL (VALUES
             ('hit_rate', 'hit rate', '%', c.hit_rate, f.hit_rate,
              100.0 * (f.hit_rate - c.hit_rate) / NULLIF(f.hit_rate, 0) / p.hr_margin,
              cachemon._two_proportion_z(f.hits, f.lookups, c.hits, c.lookups),
              least(c.lookups, f.lookups), c.lookups, f.lookups, 'lookups'),
             ('avg_response_time_ms', 'average response time', ' ms',
              c.avg_response_time_ms, f.avg_response_time_ms,
              100.0 * (c.avg_response_time_ms - f.avg_response_time_ms)
                  / NULLIF(f.avg_response_time_ms, 0) / p.rt_margin,
              (c.avg_response_time_ms - f.avg_response_time_ms)
                  / greatest(greatest(coalesce(lat.baseline_scale, 0), coalesce(lat.sd_ref, 0),
                                      0.01 * f.avg_response_time_ms, 1e-9)
                             * sqrt(1.0 / greatest(lat.k_cand, 1) + 1.0 / greatest(lat.k_ref, 1)),
                             coalesce(req.se, 0)),
              least(c.latency_count, f.latency_count),
              c.latency_count, f.latency_count, 'timed requests'),
             ('error_rate', 'error rate', '%', c.error_rate, f.error_rate,
              (c.error_rate - f.error_rate) / p.er_margin,
              cachemon._two_proportion_z(c.errors, c.operations, f.errors, f.operations),
              least(c.operations, f.operations), c.operations, f.operations, 'operations')
         ) AS v (metric, label, unit, observed, base, score, z, volume, n_cand, n_ref, noun)
    )
    SELECT x.cand, 'migration', r.category, j.state, j.severity, x.metric, x.observed, x.base,
           CASE WHEN x.metric = 'error_rate' THEN x.observed - x.base
                ELSE 100.0 * (x.observed - x.base) / NULLIF(x.base, 0) END,
           x.volume, x.z,
           pg_catalog.format('%s of %s is %s%s vs %s%s for %s over the same %s minutes (%s vs %s %s)',
               x.label, x.cand, cachemon._fmt(x.observed, 2), x.unit, cachemon._fmt(x.base, 2), x.unit,
               x.ref, x.minutes, cachemon._fmt(x.n_cand, 0), cachemon._fmt(x.n_ref, 0), x.noun),
           CASE WHEN j.state = 'breach' THEN pg_catalog.format(
               'Hold the rollout of %s (route traffic back to %s if users notice) until its %s matches %s; compare the two side by side with SELECT * FROM cachemon.get_cache_performance_summary(NULL, ''1 hour'') and look at what differs in %s: key construction, TTLs, serialisation, connection settings.',
               x.cand, x.ref, x.label, x.ref, x.cand) END,
           pg_catalog.jsonb_build_object('reference', x.ref, 'z', round(x.z::numeric, 2),
               'margin_multiple', round(x.score::numeric, 2), 'window_minutes', x.minutes,
               'enough', x.volume >= r.min_requests)
      FROM x CROSS JOIN r
     CROSS JOIN LATERAL cachemon._judge(x.score, x.z >= r.significance_z,
                                        x.volume >= r.min_requests, r) AS j;
END
$function$;

COMMENT ON FUNCTION cachemon._rule_migration(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) IS
    'Auditor rule migration: the candidate implementation (params.candidate) worse than the reference (params.reference) over the same window in hit rate, response time or error rate, significant for the volume.';

REVOKE ALL ON FUNCTION cachemon._rule_migration(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rule_migration(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) TO cachemon_reader, cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon._rule_error_rate(p_now timestamptz, p_window interval, p_stats cachemon._window_stat[],
    p_cusum cachemon._cusum_stat[])
RETURNS SETOF cachemon._finding
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_rec constant text := 'Read the error_type and error_message of %s''s recent errors (SELECT error_type, count(*) FROM cachemon.cache_metrics WHERE event_type = ''error'' AND implementation_type = %L AND recorded_at > now() - interval ''15 minutes'' GROUP BY 1); check the cache server''s availability, timeouts and connection limits, and fall back to the reference implementation if errors reach users.';
BEGIN
    /*
     * Error rate above an absolute threshold (percent of operations = hits + misses + sets
     * + errors), for every implementation with data, over every window of
     * cachemon._auditor_windows (2, 5, 15, 60 minutes by default; one row each). Errors are
     * rare counts, so the window's errors without its worst minute (loo: at least two
     * distinct bad minutes) are tested as a count. With an active baseline: breach when the
     * rate is at least warning_threshold (critical from critical_threshold) AND the count is
     * significantly above what the baseline's pooled error rate of that hour predicts, by
     * the Poisson upper-tail z (cachemon._poisson_z) divided by sqrt of the baseline's
     * quasi-Poisson dispersion factor (error_rate_phi: background errors come in small
     * clumps), at least 3 errors. This finds 1.5% at 120 operations a minute within the
     * 5-minute window (the test is against the 0.15-0.2% background, not against 1%).
     * Without a baseline: the Wilson lower bound of the rate must be above the warning
     * threshold. Fewer than min_requests operations: hold.
     * Since revision 0009 the rule also judges the sequential test of cachemon._cusum (one
     * row per metric, details.test = 'sequential', window_minutes = the minutes of its
     * segment): a breach when the CUSUM statistic reaches auditor.cusum_h and the value over
     * its segment, without its worst minute, is beyond the warning threshold. It finds a threshold-level breach of a
     * busy implementation in minutes and of a quiet one as soon as the evidence allows,
     * without waiting for a long window to fill; run_auditor opens it like a critical breach.
     */
    RETURN QUERY
    WITH r AS (
        SELECT * FROM cachemon._auditor_rule('error_rate')
    ), t AS MATERIALIZED (
        SELECT s.minutes AS k, s.*
          FROM unnest(p_stats) AS s
         WHERE s.minutes IN (SELECT k.k FROM cachemon._auditor_windows(p_window) AS k (k))
    ), x AS (
        SELECT t.implementation_type, t.k AS minutes, t.loo_errors AS errors,
               t.loo_operations AS operations, t.error_rate AS whole,
               100.0::double precision * t.loo_errors / NULLIF(t.loo_operations, 0) AS observed,
               -- the hour's pooled rate, but never below the whole window's: errors are rare,
               -- and a quiet implementation's hour with no error in the baseline says 0%
               -- where the truth is its background rate
               greatest(coalesce(cachemon._baseline_pooled_at(b, 'error_rate', pg_catalog.date_trunc('minute', p_now, 'UTC')),
                                 cachemon._baseline_expected(b, 'error_rate', pg_catalog.date_trunc('minute', p_now, 'UTC'))),
                        (b.statistics -> 'pooled' ->> 'error_rate')::double precision)
                   AS base,
               coalesce((b.statistics -> 'dispersion' ->> 'error_rate_phi')::double precision, 1) AS phi,
               b.id IS NOT NULL AS baselined
          FROM t
          LEFT JOIN cachemon.cache_baseline_metrics AS b
            ON b.implementation_type = t.implementation_type AND b.is_active
    ), d AS (
        SELECT x.*,
               x.operations * greatest(coalesce(x.base, 0), 0.01) / 100.0 AS expected,
               cachemon._poisson_z(x.errors, x.operations * greatest(coalesce(x.base, 0), 0.01) / 100.0)
                   / sqrt(greatest(x.phi, 1)) AS z,
               CASE WHEN x.baselined AND x.base IS NOT NULL
                    THEN x.errors >= 3 AND cachemon._poisson_z(x.errors,
                             x.operations * greatest(x.base, 0.01) / 100.0)
                             / sqrt(greatest(x.phi, 1)) >= r.significance_z
                    ELSE 100.0 * cachemon._wilson_bound(x.errors, x.operations, r.significance_z, false)
                             > r.warning_threshold END AS significant,
               x.operations >= r.min_requests AS enough
          FROM x CROSS JOIN r
    )
    SELECT d.implementation_type, 'error_rate', r.category, j.state, j.severity,
           'error_rate', d.observed, d.base,
           100.0 * (d.observed - d.base) / NULLIF(d.base, 0), d.operations, d.observed,
           pg_catalog.format('error rate of %s is %s%% over %s minutes: %s errors in %s operations without the worst minute (threshold %s%%%s)',
               d.implementation_type, cachemon._fmt(d.observed, 2), d.minutes,
               cachemon._fmt(d.errors, 0), cachemon._fmt(d.operations, 0),
               cachemon._fmt(r.warning_threshold, 1),
               CASE WHEN d.base IS NOT NULL
                    THEN ', baseline ' || cachemon._fmt(d.base, 2) || '%' ELSE '' END),
           CASE WHEN j.state = 'breach' THEN pg_catalog.format(
               v_rec,
               d.implementation_type, d.implementation_type) END,
           pg_catalog.jsonb_build_object('errors', d.errors, 'operations', d.operations,
               'expected_errors', round(d.expected::numeric, 2), 'z', round(d.z::numeric, 2),
               'phi', d.phi, 'significant', d.significant, 'window_minutes', d.minutes,
               'enough', d.enough, 'whole_window_error_rate', d.whole)
      FROM d CROSS JOIN r
     CROSS JOIN LATERAL cachemon._judge(d.observed, d.significant, d.enough, r) AS j;
    RETURN QUERY
    SELECT c.implementation_type, 'error_rate', r.category, j.state, j.severity,
           'error_rate', c.observed, c.base,
           100.0 * (c.observed - c.base) / NULLIF(c.base, 0), c.events::bigint, c.statistic,
           pg_catalog.format('error rate of %s is %s%% over the last %s minutes without the worst one: %s errors in %s operations where the baseline expects %s (sequential test %s of %s, threshold %s%%)',
               c.implementation_type, cachemon._fmt(c.observed, 2), c.segment_minutes,
               cachemon._fmt(c.exceedances, 0), cachemon._fmt(c.events, 0),
               cachemon._fmt(c.expected_exceedances, 1), cachemon._fmt(c.statistic, 1),
               cachemon._fmt(c.threshold, 1), cachemon._fmt(r.warning_threshold, 1)),
           CASE WHEN j.state = 'breach' THEN pg_catalog.format(v_rec, c.implementation_type, c.implementation_type) END,
           pg_catalog.jsonb_build_object('test', 'sequential', 'cusum', round(c.statistic::numeric, 2),
               'cusum_threshold', c.threshold, 'design', c.design, 'segment_start', c.segment_start,
               'recent', round(c.recent::numeric, 2), 'recovery', round(c.recovery::numeric, 2),
               'errors', c.exceedances, 'operations', c.events,
               'expected_errors', round(c.expected_exceedances::numeric, 2),
               'window_minutes', c.segment_minutes, 'enough', false)
      FROM unnest(p_cusum) AS c CROSS JOIN cachemon._auditor_rule('error_rate') AS r
     CROSS JOIN LATERAL cachemon._judge(c.observed, c.statistic >= c.threshold AND c.recent > 0, true, r) AS j
     WHERE c.metric = 'error_rate' AND c.segment_minutes > 0;
END
$function$;

COMMENT ON FUNCTION cachemon._rule_error_rate(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) IS
    'Auditor rule error_rate: error rate (without the worst minute) above the absolute thresholds (default 1% warning, 5% critical), its error count significantly above the baseline''s pooled rate (quasi-Poisson), over 2..60-minute windows.';

REVOKE ALL ON FUNCTION cachemon._rule_error_rate(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rule_error_rate(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) TO cachemon_reader, cachemon_admin;

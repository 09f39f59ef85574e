CREATE OR REPLACE FUNCTION cachemon._rule_hit_rate_drop(p_now timestamptz, p_window interval, p_stats cachemon._window_stat[],
    p_cusum cachemon._cusum_stat[])
RETURNS SETOF cachemon._finding
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_rec constant text := 'Check what changed for %s: key normalisation (case, whitespace, parameter order), TTLs and eviction settings, and deploys or cache flushes in the last hour; a flush recovers within one TTL, a key change does not.';
BEGIN
    /*
     * Hit rate below baseline, judged over every window of cachemon._auditor_windows
     * (default 2, 5, 15 and 60 minutes; one row per window, run_auditor combines them).
     * Observed: the pooled hit rate of the window without its worst minute (loo: a breach
     * needs two distinct bad minutes). Expected: the baseline's pooled hit rate of that hour
     * of day (or of the window). Deviation: percent below it (relative), breach from
     * warning_threshold (critical from critical_threshold) when significant. Significance
     * allows for overdispersion: real hit rates drift by more than binomial sampling noise,
     * so the variance of the window's rate is p(1-p)/n + tau^2, with tau the between-minute
     * spread of the true hit rate estimated from the baseline (statistics.dispersion
     * .hit_rate_tau): z = (expected - observed) / sqrt(p(1-p)/n + tau^2) must reach
     * significance_z. A drift of a point or two never gets there however many lookups; a
     * 10% drop does as soon as the volume separates it from noise. Fewer than min_requests
     * lookups: hold.
     * Since revision 0009 the rule also judges the sequential test of cachemon._cusum (one
     * row per metric, details.test = 'sequential', window_minutes = the minutes of its
     * segment): a breach when the CUSUM statistic reaches auditor.cusum_h and the value over
     * its segment, without its worst minute, is beyond the warning threshold. It finds a threshold-level breach of a
     * busy implementation in minutes and of a quiet one as soon as the evidence allows,
     * without waiting for a long window to fill; run_auditor opens it like a critical breach.
     */
    RETURN QUERY
    WITH r AS (
        SELECT * FROM cachemon._auditor_rule('hit_rate_drop')
    ), t AS MATERIALIZED (
        SELECT s.minutes AS k, s.*
          FROM unnest(p_stats) AS s
         WHERE s.minutes IN (SELECT k.k FROM cachemon._auditor_windows(p_window) AS k (k))
    ), x AS (
        SELECT t.implementation_type, t.k AS minutes, t.loo_hits, t.loo_lookups,
               100.0::double precision * t.loo_hits / NULLIF(t.loo_lookups, 0) AS observed, t.hit_rate AS whole,
               coalesce(cachemon._baseline_pooled_at(b, 'hit_rate', pg_catalog.date_trunc('minute', p_now, 'UTC')),
                        cachemon._baseline_expected(b, 'hit_rate', pg_catalog.date_trunc('minute', p_now, 'UTC')))
                   AS base,
               coalesce((b.statistics -> 'dispersion' ->> 'hit_rate_tau')::double precision, 0) AS tau
          FROM t
          JOIN cachemon.cache_baseline_metrics AS b
            ON b.implementation_type = t.implementation_type AND b.is_active
    ), d AS (
        SELECT x.*,
               100.0 * (x.base - x.observed) / NULLIF(x.base, 0) AS deviation,
               (x.base - x.observed) / 100.0
                   / NULLIF(sqrt((x.base / 100.0) * (1 - x.base / 100.0) / NULLIF(x.loo_lookups, 0)
                                 + power(x.tau / 100.0, 2)), 0) AS z,
               x.loo_lookups >= r.min_requests AS enough
          FROM x CROSS JOIN r
    )
    SELECT d.implementation_type, 'hit_rate_drop', r.category, j.state, j.severity,
           'hit_rate', d.observed, d.base, -d.deviation, d.loo_lookups, d.z,
           pg_catalog.format('hit rate of %s is %s%% vs baseline %s%% over %s minutes, %s lookups without the worst minute (%s%% lower)',
               d.implementation_type, cachemon._fmt(d.observed, 1), cachemon._fmt(d.base, 1),
               d.minutes, cachemon._fmt(d.loo_lookups, 0), cachemon._fmt(d.deviation, 1)),
           CASE WHEN j.state = 'breach' THEN pg_catalog.format(
               v_rec,
               d.implementation_type) END,
           pg_catalog.jsonb_build_object('z', round(d.z::numeric, 2), 'tau', d.tau,
               'window_minutes', d.minutes, 'enough', d.enough,
               'whole_window_hit_rate', d.whole)
      FROM d CROSS JOIN r
     CROSS JOIN LATERAL cachemon._judge(d.deviation, d.z >= r.significance_z, d.enough, r) AS j;
    RETURN QUERY
    SELECT c.implementation_type, 'hit_rate_drop', r.category, j.state, j.severity,
           'hit_rate', c.observed, c.base, -(100.0 * (c.base - c.observed) / NULLIF(c.base, 0)),
           c.events::bigint, c.statistic,
           pg_catalog.format('hit rate of %s is %s%% vs baseline %s%% over the last %s minutes without the worst one, %s lookups (%s%% lower; sequential test %s of %s)',
               c.implementation_type, cachemon._fmt(c.observed, 1), cachemon._fmt(c.base, 1),
               c.segment_minutes, cachemon._fmt(c.events, 0),
               cachemon._fmt(100.0 * (c.base - c.observed) / NULLIF(c.base, 0), 1),
               cachemon._fmt(c.statistic, 1), cachemon._fmt(c.threshold, 1)),
           CASE WHEN j.state = 'breach' THEN pg_catalog.format(v_rec, c.implementation_type) END,
           pg_catalog.jsonb_build_object('test', 'sequential', 'cusum', round(c.statistic::numeric, 2),
               'cusum_threshold', c.threshold, 'design', c.design, 'segment_start', c.segment_start,
               'recent', round(c.recent::numeric, 2), 'recovery', round(c.recovery::numeric, 2),
               'misses', c.exceedances, 'expected_misses', round(c.expected_exceedances::numeric, 1),
               'window_minutes', c.segment_minutes, 'enough', false)
      FROM unnest(p_cusum) AS c CROSS JOIN cachemon._auditor_rule('hit_rate_drop') AS r
     CROSS JOIN LATERAL cachemon._judge(100.0 * (c.base - c.observed) / NULLIF(c.base, 0),
                                        c.statistic >= c.threshold AND c.recent > 0, true, r) AS j
     WHERE c.metric = 'hit_rate' AND c.segment_minutes > 0;
END
$function$;

COMMENT ON FUNCTION cachemon._rule_hit_rate_drop(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) IS
    'Auditor rule hit_rate_drop: pooled hit rate (without the worst minute) below the baseline''s pooled hour-of-day rate by more than the thresholds, significant against binomial noise plus the baseline''s overdispersion, over 2..60-minute windows.';

REVOKE ALL ON FUNCTION cachemon._rule_hit_rate_drop(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rule_hit_rate_drop(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) TO cachemon_reader, cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon._rule_hit_rate_drop(p_now timestamptz, p_window interval)
RETURNS SETOF cachemon._finding
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * Hit rate below baseline. The window's hit rate (exact: hits / lookups over its
     * minutes) against the baseline's median for that hour of day. Breach when it is lower
     * by at least warning_threshold percent (relative; critical from critical_threshold)
     * AND significantly so: the Wilson upper bound of the window's rate at significance_z
     * is still below the baseline (a one-sided score test), which a quiet window with a
     * handful of lookups cannot pass. Fewer than min_requests lookups: hold.
     */
    RETURN QUERY
    WITH w AS (
        SELECT pg_catalog.date_trunc('minute', p_now, 'UTC') AS t_end,
               pg_catalog.date_trunc('minute', p_now, 'UTC') - p_window AS t_start,
               (extract(epoch FROM p_window) / 60)::integer AS minutes
    ), r AS (
        SELECT * FROM cachemon._auditor_rule('hit_rate_drop')
    ), x AS (
        SELECT t.implementation_type, t.hit_rate AS observed, t.hits, t.lookups,
               cachemon._baseline_expected(b, 'hit_rate', w.t_end - p_window / 2) AS base,
               w.minutes
          FROM w
         CROSS JOIN LATERAL cachemon._window_totals(w.t_start, w.t_end) AS t
          JOIN cachemon.cache_baseline_metrics AS b
            ON b.implementation_type = t.implementation_type AND b.is_active
    ), d AS (
        SELECT x.*,
               100.0 * (x.base - x.observed) / NULLIF(x.base, 0) AS deviation,
               100.0 * cachemon._wilson_bound(x.hits, x.lookups, r.significance_z, true)
                   < x.base AS significant,
               x.lookups >= r.min_requests AS enough
          FROM x CROSS JOIN r
    )
    SELECT d.implementation_type, 'hit_rate_drop', r.category, j.state, j.severity,
           'hit_rate', d.observed, d.base, -d.deviation, d.lookups, d.deviation,
           pg_catalog.format('hit rate of %s is %s%% vs baseline %s%% over %s minutes, %s lookups (%s%% lower)',
               d.implementation_type, cachemon._fmt(d.observed, 1), cachemon._fmt(d.base, 1),
               d.minutes, cachemon._fmt(d.lookups, 0), cachemon._fmt(d.deviation, 1)),
           CASE WHEN j.state = 'breach' THEN pg_catalog.format(
               'Check what changed for %s: key normalisation (case, whitespace, parameter order), TTLs and eviction settings, and deploys or cache flushes in the last hour; a flush recovers within one TTL, a key change does not.',
               d.implementation_type) END,
           pg_catalog.jsonb_build_object('hits', d.hits, 'lookups', d.lookups,
               'significant', d.significant, 'window_minutes', d.minutes)
      FROM d CROSS JOIN r
     CROSS JOIN LATERAL cachemon._judge(d.deviation, d.significant, d.enough, r) AS j;
END
$function$;

COMMENT ON FUNCTION cachemon._rule_hit_rate_drop(timestamptz, interval) IS
    'Auditor rule hit_rate_drop: window hit rate below the baseline (hour-of-day median) by more than the thresholds of cachemon._auditor_rules, significant by a Wilson score test.';

REVOKE ALL ON FUNCTION cachemon._rule_hit_rate_drop(timestamptz, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rule_hit_rate_drop(timestamptz, interval) TO cachemon_reader, cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon._rule_error_rate(p_now timestamptz, p_window interval)
RETURNS SETOF cachemon._finding
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * Error rate above an absolute threshold (percent of operations = hits + misses + sets
     * + errors), for every implementation with data in the window, baselined or not.
     * Breach when the window's rate is at least warning_threshold (critical from
     * critical_threshold) AND the Wilson lower bound of the rate at significance_z is above
     * the warning threshold: 2 errors in 100 requests is not evidence of a 1% error rate.
     */
    RETURN QUERY
    WITH w AS (
        SELECT pg_catalog.date_trunc('minute', p_now, 'UTC') AS t_end,
               pg_catalog.date_trunc('minute', p_now, 'UTC') - p_window AS t_start,
               (extract(epoch FROM p_window) / 60)::integer AS minutes
    ), r AS (
        SELECT * FROM cachemon._auditor_rule('error_rate')
    ), d AS (
        SELECT t.implementation_type, t.errors, t.operations, t.error_rate AS observed, w.minutes,
               cachemon._baseline_expected(b, 'error_rate', w.t_end - p_window / 2) AS base,
               100.0 * cachemon._wilson_bound(t.errors, t.operations, r.significance_z, false)
                   > r.warning_threshold AS significant,
               t.operations >= r.min_requests AS enough
          FROM w
         CROSS JOIN r
         CROSS JOIN LATERAL cachemon._window_totals(w.t_start, w.t_end) AS t
          LEFT JOIN cachemon.cache_baseline_metrics AS b
            ON b.implementation_type = t.implementation_type AND b.is_active
    )
    SELECT d.implementation_type, 'error_rate', r.category, j.state, j.severity,
           'error_rate', d.observed, d.base,
           100.0 * (d.observed - d.base) / NULLIF(d.base, 0), d.operations, d.observed,
           pg_catalog.format('error rate of %s is %s%% over %s minutes: %s errors in %s operations (threshold %s%%%s)',
               d.implementation_type, cachemon._fmt(d.observed, 2), d.minutes,
               cachemon._fmt(d.errors, 0), cachemon._fmt(d.operations, 0),
               cachemon._fmt(r.warning_threshold, 1),
               CASE WHEN d.base IS NOT NULL
                    THEN ', baseline ' || cachemon._fmt(d.base, 2) || '%' ELSE '' END),
           CASE WHEN j.state = 'breach' THEN pg_catalog.format(
               'Read the error_type and error_message of %s''s recent errors (SELECT error_type, count(*) FROM cachemon.cache_metrics WHERE event_type = ''error'' AND implementation_type = %L AND recorded_at > now() - interval ''15 minutes'' GROUP BY 1); check the cache server''s availability, timeouts and connection limits, and fall back to the reference implementation if errors reach users.',
               d.implementation_type, d.implementation_type) END,
           pg_catalog.jsonb_build_object('errors', d.errors, 'operations', d.operations,
               'significant', d.significant, 'window_minutes', d.minutes)
      FROM d CROSS JOIN r
     CROSS JOIN LATERAL cachemon._judge(d.observed, d.significant, d.enough, r) AS j;
END
$function$;

COMMENT ON FUNCTION cachemon._rule_error_rate(timestamptz, interval) IS
    'Auditor rule error_rate: window error rate above the absolute thresholds of cachemon._auditor_rules (default 1% warning, 5% critical), with its Wilson lower bound above the warning threshold.';

REVOKE ALL ON FUNCTION cachemon._rule_error_rate(timestamptz, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rule_error_rate(timestamptz, interval) TO cachemon_reader, cachemon_admin;

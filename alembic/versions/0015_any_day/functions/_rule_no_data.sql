CREATE OR REPLACE FUNCTION cachemon._rule_no_data(p_now timestamptz, p_window interval, p_stats cachemon._window_stat[],
    p_cusum cachemon._cusum_stat[])
RETURNS SETOF cachemon._finding
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * No data: an implementation with an active baseline whose 1-minute rows stopped. The
     * deviation is the number of whole minutes since its last minute with events (looked
     * for over 4 x critical_threshold minutes; longer counts as that). Breach from
     * warning_threshold minutes (critical from critical_threshold) when its baseline
     * expected at least min_requests operations in those minutes (requests per minute of
     * that hour of day x silent minutes), so a night-time lull does not alarm; clear once
     * the last minute had data. p_window is not used: silence is measured from p_now.
     * Retire an implementation by deactivating its baseline.
     * Since revision 0007 the expectation is the baseline's pooled requests per minute of
     * that hour of day over EVERY minute (silent and quiet ones included), so a
     * 5-events-a-minute implementation expects 5, not the 13 of its busier minutes, and the
     * night has its own (lower) expectation: P(silence | expected) = exp(-expected) is tiny
     * once expected * silent minutes reaches min_requests.
     * Since revision 0007 (second pass) the expectation is also at most the implementation's
     * own rate over the 30 minutes before its silence began (when it had events then): a
     * benign lull (traffic at a tenth of the hour's usual) makes a few silent minutes of a
     * quiet implementation likely, and silence is judged against the traffic it interrupts,
     * not against the hour's usual. An outage of a busy implementation still opens after
     * warning_threshold minutes; after a lull it takes longer (the evidence is weaker).
     */
    RETURN QUERY
    WITH w AS (
        SELECT pg_catalog.date_trunc('minute', p_now, 'UTC') AS t_end
    ), r AS (
        SELECT * FROM cachemon._auditor_rule('no_data')
    ), x0 AS (
        SELECT b.implementation_type, w.t_end,
               (4 * r.critical_threshold)::integer AS lookback,
               coalesce(cachemon._baseline_pooled_at(b, 'requests_per_minute', w.t_end),
                        cachemon._baseline_expected(b, 'requests_per_minute', w.t_end)) AS baseline_rpm,
               (SELECT max(m.bucket) FROM cachemon.cache_metrics_1min AS m
                 WHERE m.implementation_type = b.implementation_type
                   AND m.bucket < w.t_end
                   AND m.bucket >= w.t_end - pg_catalog.make_interval(mins => (4 * r.critical_threshold)::integer)
                   AND m.total_events > 0) AS last_bucket
          FROM cachemon.cache_baseline_metrics AS b CROSS JOIN w CROSS JOIN r
         WHERE b.is_active
    ), x AS (
        SELECT x0.implementation_type, x0.t_end, x0.lookback, x0.last_bucket,
               CASE WHEN x0.last_bucket IS NULL THEN x0.baseline_rpm
                    ELSE least(x0.baseline_rpm,
                               (SELECT sum(m.total_events)::double precision / 30
                                  FROM cachemon.cache_metrics_1min AS m
                                 WHERE m.implementation_type = x0.implementation_type
                                   AND m.bucket > x0.last_bucket - interval '30 minutes'
                                   AND m.bucket <= x0.last_bucket)) END AS expected_rpm
          FROM x0
    ), d AS (
        SELECT x.*,
               coalesce(extract(epoch FROM x.t_end - x.last_bucket) / 60 - 1, x.lookback)::double precision
                   AS silent
          FROM x
    )
    SELECT d.implementation_type, 'no_data', r.category, j.state, j.severity,
           'silent_minutes', d.silent, d.expected_rpm, -100.0::double precision,
           (d.expected_rpm * d.silent)::bigint, d.silent,
           CASE WHEN d.silent = 0 THEN pg_catalog.format('%s sent events in the last minute', d.implementation_type)
                ELSE pg_catalog.format('%s has sent no events for %s%s minutes (since %s); its baseline expects about %s operations per minute',
                    d.implementation_type, CASE WHEN d.last_bucket IS NULL THEN 'at least ' ELSE '' END,
                    cachemon._fmt(d.silent, 0),
                    coalesce(pg_catalog.to_char((d.last_bucket + interval '1 minute') AT TIME ZONE 'UTC',
                                                'YYYY-MM-DD HH24:MI "UTC"'), 'before the look-back'),
                    cachemon._fmt(d.expected_rpm, 0)) END,
           CASE WHEN j.state = 'breach' THEN pg_catalog.format(
               'Check that the application serving %s is up and that its collector can reach the database (CACHE_METRICS_ENABLED, CACHEMON_DATABASE_URL, collector stats: failed batches); check that cachemon.tick runs (rollups). If %s was retired on purpose, deactivate its baseline: UPDATE cachemon.cache_baseline_metrics SET is_active = false WHERE implementation_type = %L.',
               d.implementation_type, d.implementation_type, d.implementation_type) END,
           pg_catalog.jsonb_build_object('last_bucket', d.last_bucket,
               'expected_operations', round((d.expected_rpm * d.silent)::numeric, 0))
      FROM d CROSS JOIN r
     CROSS JOIN LATERAL cachemon._judge(
         d.silent, true,
         d.silent < r.clear_threshold OR d.expected_rpm * d.silent >= r.min_requests, r) AS j;
END
$function$;

COMMENT ON FUNCTION cachemon._rule_no_data(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) IS
    'Auditor rule no_data: an implementation with an active baseline sent no events for warning_threshold minutes although its baseline expected at least min_requests operations in them.';

REVOKE ALL ON FUNCTION cachemon._rule_no_data(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rule_no_data(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) TO cachemon_reader, cachemon_admin;

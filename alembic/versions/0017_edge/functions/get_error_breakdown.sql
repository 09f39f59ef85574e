CREATE OR REPLACE FUNCTION cachemon.get_error_breakdown(
    time_window interval,
    implementation_type text DEFAULT NULL,
    p_now timestamptz DEFAULT pg_catalog.now()
)
RETURNS SETOF cachemon.error_breakdown
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    v_impl text := get_error_breakdown.implementation_type;
    v_window interval;
    c_max_errors constant integer := 1000000;
    v_errors bigint;
BEGIN
    /*
     * The errors of (p_now - time_window, p_now] by implementation and error_type, most
     * frequent first: how many, their share (percent) of that implementation's errors in the
     * window, first and last seen, and the message of the latest one. Error types are not
     * rolled up, so this reads the raw events (kept retention.raw, 7 days by default: a longer
     * window counts what is still kept) through the index on (implementation_type,
     * recorded_at), and the error counts of edge rows (aggregate mode: per minute, error type
     * with a sample message; their first and last seen are the start of their minute).
     *
     * SECURITY DEFINER because cachemon_reader may not read raw events (they hold cache
     * keys); this returns only per-type aggregates and the latest message, which is what a
     * reader is meant to see. time_window: 1 minute .. 400 days, no months or years.
     *
     * The work of one call is bounded, however many events, implementations or error types
     * the writer sent: p_now must lie within [now() - retention.raw, now() + 1 day]
     * (cachemon._check_now; 'infinity' and '-infinity' are refused), and the window's error
     * events are counted first along the partial index on error events, stopping one past
     * 1,000,000: more is an error naming the cap, before anything is aggregated. Other
     * events are never read.
     */
    v_window := cachemon._check_interval('get_error_breakdown', 'time_window', time_window,
                                         interval '1 minute', interval '400 days');
    PERFORM cachemon._check_now(p_now);
    SELECT pg_catalog.count(*) INTO v_errors
      FROM (SELECT 1 FROM cachemon.cache_metrics AS e
             WHERE e.event_type = 'error'
               AND e.recorded_at > p_now - v_window AND e.recorded_at <= p_now
               AND (v_impl IS NULL OR e.implementation_type = v_impl)
             LIMIT c_max_errors + 1) AS c;
    IF v_errors > c_max_errors THEN
        RAISE EXCEPTION 'get_error_breakdown: time_window % holds more than % error events',
            v_window, c_max_errors
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass a shorter time_window or one implementation_type.';
    END IF;
    RETURN QUERY
    SELECT g.impl, g.error_type, g.n,
           pg_catalog.round(100::numeric * g.n / pg_catalog.sum(g.n) OVER (PARTITION BY g.impl), 3),
           g.first_at, g.last_at, g.last_message
      FROM (SELECT e.impl, e.error_type,
                   pg_catalog.sum(e.n)::bigint AS n,
                   pg_catalog.min(e.at) AS first_at,
                   pg_catalog.max(e.at) AS last_at,
                   (pg_catalog.array_agg(e.message ORDER BY e.at DESC))[1] AS last_message
              FROM (SELECT r.implementation_type AS impl, r.error_type, 1::bigint AS n,
                           r.recorded_at AS at, r.error_message AS message
                      FROM cachemon.cache_metrics AS r
                     WHERE r.event_type = 'error'
                       AND r.recorded_at > p_now - v_window AND r.recorded_at <= p_now
                       AND (v_impl IS NULL OR r.implementation_type = v_impl)
                    UNION ALL
                    SELECT x.implementation_type, t.error_type, t.n, x.bucket, t.message
                      FROM cachemon.cache_metrics_edge AS x
                     CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(x.error_types),
                                                   pg_catalog.unnest(x.error_counts),
                                                   pg_catalog.unnest(x.error_samples)) AS t(error_type, n, message)
                     WHERE x.event_type = 'error'
                       AND x.bucket > p_now - v_window AND x.bucket <= p_now
                       AND (v_impl IS NULL OR x.implementation_type = v_impl)) AS e
             GROUP BY e.impl, e.error_type) AS g
     ORDER BY g.impl, g.n DESC, g.error_type;
END
$function$;

COMMENT ON FUNCTION cachemon.get_error_breakdown(interval, text, timestamptz) IS
    'Errors of (p_now - time_window, p_now] per implementation (or the one named) and error_type: count, share of the implementation''s errors (percent), first and last seen, latest message. Reads raw error events only through a partial index, and the error counts of edge rows (kept 7 days by default). Bounded work: p_now within [now() - retention.raw, now() + 1 day] (no infinity); a window holding more than 1,000,000 raw error events is refused before any aggregation. SECURITY DEFINER: cachemon_reader cannot read raw events; only these aggregates are returned.';

REVOKE ALL ON FUNCTION cachemon.get_error_breakdown(interval, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.get_error_breakdown(interval, text, timestamptz)
    TO cachemon_reader, cachemon_admin;

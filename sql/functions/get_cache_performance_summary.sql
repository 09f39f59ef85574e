CREATE OR REPLACE FUNCTION cachemon.get_cache_performance_summary(
    implementation_type text DEFAULT NULL,
    time_window interval DEFAULT '1 hour',
    p_now timestamptz DEFAULT pg_catalog.now()
)
RETURNS TABLE (
    implementation_type text,
    window_start timestamptz,
    window_end timestamptz,
    total_events bigint,
    hits bigint,
    misses bigint,
    sets bigint,
    evictions bigint,
    errors bigint,
    hit_rate numeric,
    error_rate numeric,
    avg_response_time_ms double precision,
    p50_response_time_ms double precision,
    p95_response_time_ms double precision,
    p99_response_time_ms double precision,
    max_response_time_ms double precision,
    avg_cache_size double precision,
    max_cache_size bigint
)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * The seed's summary over the whole minutes of [p_now - time_window, p_now), one row per
     * implementation (or only the one named). Counts, rates and averages are exact sums over
     * cache_metrics_1min. This first version leaves percentiles NULL: they need mergeable
     * sketches, which the rollup revision adds. A non-positive window returns no rows.
     */
    SELECT m.implementation_type,
           pg_catalog.date_trunc('minute', p_now, 'UTC') - time_window,
           pg_catalog.date_trunc('minute', p_now, 'UTC'),
           sum(m.total_events)::bigint,
           sum(m.hits)::bigint,
           sum(m.misses)::bigint,
           sum(m.sets)::bigint,
           sum(m.evictions)::bigint,
           sum(m.errors)::bigint,
           cachemon.calculate_hit_rate(sum(m.hits)::bigint, sum(m.misses)::bigint),
           100::numeric * sum(m.errors)
               / NULLIF(sum(m.hits) + sum(m.misses) + sum(m.sets) + sum(m.errors), 0),
           sum(m.latency_sum) / NULLIF(sum(m.latency_count), 0),
           NULL::double precision,
           NULL::double precision,
           NULL::double precision,
           max(m.max_response_time_ms),
           (sum(m.cache_size_sum) / NULLIF(sum(m.cache_size_count), 0))::double precision,
           max(m.max_cache_size)
      FROM cachemon.cache_metrics_1min AS m
     WHERE m.bucket >= pg_catalog.date_trunc('minute', p_now, 'UTC') - time_window
       AND m.bucket < pg_catalog.date_trunc('minute', p_now, 'UTC')
       AND (get_cache_performance_summary.implementation_type IS NULL
            OR m.implementation_type = get_cache_performance_summary.implementation_type)
     GROUP BY m.implementation_type
     ORDER BY m.implementation_type;
$function$;

COMMENT ON FUNCTION cachemon.get_cache_performance_summary(text, interval, timestamptz) IS
    'Performance of each implementation (or the one named) over the whole minutes of [p_now - time_window, p_now): counts, hit and error rate, response times, cache size.';

REVOKE ALL ON FUNCTION cachemon.get_cache_performance_summary(text, interval, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.get_cache_performance_summary(text, interval, timestamptz)
    TO cachemon_reader, cachemon_admin;

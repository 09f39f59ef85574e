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
     * implementation (or only the one named): counts, hit and error rate, average and
     * p50/p95/p99 response time, cache size. Whole UTC days are read from the internal daily
     * merge (_cache_metrics_1day), the remaining whole hours from cache_metrics_1hour, the
     * ragged ends from cache_metrics_1min; percentiles come from merged latency sketches (within
     * 0.9% of percentile_disc over the window's events). The work is in
     * cachemon._performance_summary. A non-positive window returns no rows.
     *
     * Bounded work (checked in cachemon._performance_summary): p_now within
     * [now() - retention.1hour, now() + 1 day] ('infinity' refused), and a call that would
     * read more than 100,000 stored rows (implementations times days, hours and minutes) is
     * refused before any sketch is merged.
     */
    SELECT * FROM cachemon._performance_summary(implementation_type, time_window, p_now);
$function$;

COMMENT ON FUNCTION cachemon.get_cache_performance_summary(text, interval, timestamptz) IS
    'Performance of each implementation (or the one named) over the whole minutes of [p_now - time_window, p_now): counts, hit and error rate, average and p50/p95/p99 response time (merged sketches, within 0.55% of percentile_disc), cache size. Whole UTC days come from the internal daily merge _cache_metrics_1day, the other whole hours from cache_metrics_1hour, the ends from cache_metrics_1min. Bounded work: p_now within [now() - retention.1hour, now() + 1 day] (no infinity); a call that would read more than 100,000 stored rows is refused before any merge.';

REVOKE ALL ON FUNCTION cachemon.get_cache_performance_summary(text, interval, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.get_cache_performance_summary(text, interval, timestamptz)
    TO cachemon_reader, cachemon_admin;

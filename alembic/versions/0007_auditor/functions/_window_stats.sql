CREATE OR REPLACE FUNCTION cachemon._window_stats(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (
    implementation_type text,
    minutes integer,
    data_minutes integer,
    pending_minutes integer,
    hits bigint,
    lookups bigint,
    errors bigint,
    operations bigint,
    evictions bigint,
    latency_count bigint,
    hit_rate double precision,
    error_rate double precision,
    eviction_rate double precision,
    requests_per_minute double precision,
    avg_response_time_ms double precision,
    p50_response_time_ms double precision,
    p95_response_time_ms double precision,
    p99_response_time_ms double precision,
    avg_cache_size double precision,
    loo_hits bigint,
    loo_lookups bigint,
    loo_errors bigint,
    loo_operations bigint,
    loo_evictions bigint,
    loo_eviction_lookups bigint,
    loo_latency_count bigint,
    loo_avg_response_time_ms double precision,
    loo_p50_response_time_ms double precision,
    loo_p95_response_time_ms double precision,
    loo_p99_response_time_ms double precision,
    loo_p50_lower_ms double precision,
    loo_p95_lower_ms double precision,
    loo_p99_lower_ms double precision,
    last_bucket timestamptz
)
LANGUAGE plpgsql
STABLE
ROWS 8
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_cached boolean := false;
BEGIN
    /*
     * What the rules judge, per implementation over the whole minutes of [p_from, p_to)
     * (the statistics are described at cachemon._window_stats_compute):
     *
     * - Only fully rolled-up minutes: a minute with a mark still queued in _dirty_buckets is
     *   left out (its row may be half-built) and counted in pending_minutes.
     * - Exact sums and pooled rates; window p50/p95/p99 from the merge of the minutes'
     *   latency sketches (not from averaging minute percentiles).
     * - The same without the window's single worst minute for each metric (loo_*): rules
     *   judge these, so a breach needs at least two distinct bad minutes.
     *
     * run_auditor computes every window once per run into the temporary table _cachemon_ws
     * (dropped when the run ends) and every rule reads it from here; called on its own, or
     * for a window not in that table, it computes.
     */
    IF pg_catalog.to_regclass('pg_temp._cachemon_ws_keys') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_temp._cachemon_ws_keys WHERE p_from = $1 AND p_to = $2)'
           INTO v_cached USING p_from, p_to;
    END IF;
    IF v_cached THEN
        RETURN QUERY EXECUTE 'SELECT implementation_type, minutes, data_minutes, pending_minutes, hits, lookups, errors, operations, evictions, latency_count, hit_rate, error_rate, eviction_rate, requests_per_minute, avg_response_time_ms, p50_response_time_ms, p95_response_time_ms, p99_response_time_ms, avg_cache_size, loo_hits, loo_lookups, loo_errors, loo_operations, loo_evictions, loo_eviction_lookups, loo_latency_count, loo_avg_response_time_ms, loo_p50_response_time_ms, loo_p95_response_time_ms, loo_p99_response_time_ms, loo_p50_lower_ms, loo_p95_lower_ms, loo_p99_lower_ms, last_bucket FROM pg_temp._cachemon_ws WHERE p_from = $1 AND p_to = $2'
            USING p_from, p_to;
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM cachemon._window_stats_compute(p_from, p_to);
END
$function$;

COMMENT ON FUNCTION cachemon._window_stats(timestamptz, timestamptz) IS
    'Internal: per implementation over the fully rolled-up minutes of [p_from, p_to): sums, pooled rates, p50/p95/p99 from merged sketches, and the same without the worst minute of each metric (loo_*), which is what the rules judge (cached per run_auditor run).';

REVOKE ALL ON FUNCTION cachemon._window_stats(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._window_stats(timestamptz, timestamptz) TO cachemon_reader, cachemon_admin;

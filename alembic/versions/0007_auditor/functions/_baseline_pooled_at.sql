CREATE OR REPLACE FUNCTION cachemon._baseline_pooled_at(
    p_baseline cachemon.cache_baseline_metrics,
    p_metric text,
    p_at timestamptz
)
RETURNS double precision
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * The pooled expectation of a metric at a time (hit_rate, error_rate, eviction_rate,
     * requests_per_minute, p50/p95/p99_response_time_ms): that UTC hour of day's pooled
     * value when the baseline has one, else the whole window's (see _baseline_pooled).
     * NULL for a baseline computed before revision 0007 (recompute it).
     */
    SELECT coalesce(
        (p_baseline.hourly_profile -> 'pooled' -> p_metric
            ->> (extract(hour FROM p_at AT TIME ZONE 'UTC')::integer)::text)::double precision,
        (p_baseline.statistics -> 'pooled' ->> p_metric)::double precision);
$function$;

COMMENT ON FUNCTION cachemon._baseline_pooled_at(cachemon.cache_baseline_metrics, text, timestamptz) IS
    'Internal: pooled expected value of a metric at a time from a baseline (hour of day when profiled, else the window).';

REVOKE ALL ON FUNCTION cachemon._baseline_pooled_at(cachemon.cache_baseline_metrics, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._baseline_pooled_at(cachemon.cache_baseline_metrics, text, timestamptz)
    TO cachemon_reader, cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon._baseline_expected(
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
     * The baseline's expected value of a metric at a time: the median of that UTC hour of
     * day when the baseline has an hour-of-day profile entry for it (daily rhythm), else
     * the median over the whole window. Medians, not means, so a few bad minutes in the
     * baseline window do not move what "normal" is.
     */
    SELECT coalesce(
        (p_baseline.hourly_profile -> 'median' -> p_metric
            ->> (extract(hour FROM p_at AT TIME ZONE 'UTC')::integer)::text)::double precision,
        (p_baseline.statistics -> p_metric ->> 'median')::double precision);
$function$;

COMMENT ON FUNCTION cachemon._baseline_expected(cachemon.cache_baseline_metrics, text, timestamptz) IS
    'Internal: expected value of a metric at a time from a baseline (hour-of-day median when profiled, else the window median).';

REVOKE ALL ON FUNCTION cachemon._baseline_expected(cachemon.cache_baseline_metrics, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._baseline_expected(cachemon.cache_baseline_metrics, text, timestamptz)
    TO cachemon_reader, cachemon_admin;

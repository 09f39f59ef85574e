CREATE OR REPLACE FUNCTION cachemon._baseline_scale(
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
     * The robust spread of one minute's value of a metric around its baseline median:
     * 1.4826 * MAD (the standard deviation a normal distribution with that MAD has), from
     * the hour-of-day profile when there is one. When most minutes are equal (MAD 0, e.g.
     * an error rate that is usually 0) it falls back to 1.2533 * mean absolute deviation,
     * and never goes below a floor (0.5 points for rates, the Poisson spread sqrt(median)
     * for requests per minute, 1% of the median otherwise) so that a metric that never
     * moved does not turn every small change into an infinite z-score.
     */
    SELECT greatest(
        1.4826 * coalesce(
            (p_baseline.hourly_profile -> 'mad' -> p_metric
                ->> (extract(hour FROM p_at AT TIME ZONE 'UTC')::integer)::text)::double precision,
            (p_baseline.statistics -> p_metric ->> 'mad')::double precision, 0),
        1.2533 * coalesce((p_baseline.statistics -> p_metric ->> 'mean_abs_dev')::double precision, 0),
        CASE WHEN p_metric IN ('hit_rate', 'error_rate') THEN 0.5
             WHEN p_metric = 'requests_per_minute'
                 THEN sqrt(greatest(coalesce(cachemon._baseline_expected(p_baseline, p_metric, p_at), 1), 1))
             ELSE 0.01 * abs(coalesce(cachemon._baseline_expected(p_baseline, p_metric, p_at), 0))
        END,
        1e-9);
$function$;

COMMENT ON FUNCTION cachemon._baseline_scale(cachemon.cache_baseline_metrics, text, timestamptz) IS
    'Internal: robust per-minute spread of a metric in a baseline (1.4826 MAD, hour-of-day when profiled, with floors).';

REVOKE ALL ON FUNCTION cachemon._baseline_scale(cachemon.cache_baseline_metrics, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._baseline_scale(cachemon.cache_baseline_metrics, text, timestamptz)
    TO cachemon_reader, cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon.sketch_quantile(p_sketch cachemon.ddsketch, p_quantile double precision)
RETURNS double precision
LANGUAGE plpgsql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /* One quantile; see cachemon.sketch_quantiles for the rank rule and the bound. */
    RETURN (cachemon.sketch_quantiles(p_sketch, ARRAY[p_quantile]))[1];
END
$function$;

COMMENT ON FUNCTION cachemon.sketch_quantile(cachemon.ddsketch, double precision) IS
    'One quantile (0..1) of a cachemon.ddsketch, within 0.55% of percentile_disc over the same events (1.5% for a sketch flagged latency_sketch_converted). p95 of a range: SELECT cachemon.sketch_quantile(cachemon.sketch_merge(latency_sketch), 0.95) FROM cachemon.cache_metrics_1min WHERE bucket >= ... AND implementation_type = ...';

REVOKE ALL ON FUNCTION cachemon.sketch_quantile(cachemon.ddsketch, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.sketch_quantile(cachemon.ddsketch, double precision)
    TO cachemon_reader, cachemon_admin;

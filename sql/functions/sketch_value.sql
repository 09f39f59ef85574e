CREATE OR REPLACE FUNCTION cachemon.sketch_value(p_key integer)
RETURNS double precision
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * The value a key stands for: 2 b^(k+1) / (b + 1) with b = 2^(1/64), the point of the
     * bucket (b^k, b^(k+1)] whose relative distance to both ends is (b - 1) / (b + 1), about
     * 0.54%: the sketch's relative error.
     */
    SELECT 2 * pg_catalog.exp((p_key + 1) / 92.33248261689366::double precision)
             / (pg_catalog.power(2::double precision, 1 / 64::double precision) + 1);
$function$;

COMMENT ON FUNCTION cachemon.sketch_value(integer) IS
    'The latency a cachemon.ddsketch key (OpenTelemetry bucket index at scale 6) stands for: 2 b^(k+1) / (b + 1), b = 2^(1/64), within 0.55% of every value of the bucket.';

REVOKE ALL ON FUNCTION cachemon.sketch_value(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.sketch_value(integer) TO cachemon_reader, cachemon_admin;

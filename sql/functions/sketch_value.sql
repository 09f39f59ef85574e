CREATE OR REPLACE FUNCTION cachemon.sketch_value(p_key integer)
RETURNS double precision
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * The value a key stands for: 2 gamma^k / (gamma + 1), the point of (gamma^(k-1), gamma^k]
     * whose relative distance to both ends is the sketch's accuracy.
     */
    SELECT 2 * pg_catalog.exp(p_key * cachemon._sketch_ln_gamma())
             / (pg_catalog.exp(cachemon._sketch_ln_gamma()) + 1);
$function$;

COMMENT ON FUNCTION cachemon.sketch_value(integer) IS
    'The latency a cachemon.ddsketch key stands for: 2 gamma^k / (gamma + 1), within 0.9% of every value of the key.';

REVOKE ALL ON FUNCTION cachemon.sketch_value(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.sketch_value(integer) TO cachemon_reader, cachemon_admin;

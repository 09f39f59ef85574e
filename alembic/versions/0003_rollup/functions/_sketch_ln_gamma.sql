CREATE OR REPLACE FUNCTION cachemon._sketch_ln_gamma()
RETURNS double precision
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * ln(gamma) of every cachemon.ddsketch, gamma = (1 + a) / (1 - a) with relative accuracy
     * a = 0.009. A key k covers (gamma^(k-1), gamma^k] and stands for 2 gamma^k / (gamma + 1),
     * which is within a of every value of the key. The contract asks for merged quantiles within
     * 1% of percentile_disc; 0.9% keeps a margin for floating-point rounding of ln() at key
     * boundaries. Sketches made with another gamma cannot be merged: changing this constant
     * needs a migration that rebuilds or drops stored sketches.
     */
    SELECT pg_catalog.ln((1.009)::double precision / (0.991)::double precision);
$function$;

COMMENT ON FUNCTION cachemon._sketch_ln_gamma() IS
    'Internal: ln(gamma) of cachemon.ddsketch keys (relative accuracy 0.9%); a constant shared by every stored sketch.';

REVOKE ALL ON FUNCTION cachemon._sketch_ln_gamma() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._sketch_ln_gamma() TO cachemon_reader, cachemon_admin;

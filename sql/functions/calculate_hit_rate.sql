CREATE OR REPLACE FUNCTION cachemon.calculate_hit_rate(hits bigint, misses bigint)
RETURNS numeric
LANGUAGE plpgsql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * The seed's helper, with the contract's definition: 100 * hits / (hits + misses),
     * NULL when there were no lookups (or either count is unknown). Exact numeric, not rounded.
     */
    IF hits < 0 OR misses < 0 THEN
        RAISE EXCEPTION 'calculate_hit_rate: hits and misses must be >= 0 (hits=%, misses=%)',
            hits, misses
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF hits + misses = 0 THEN
        RETURN NULL;
    END IF;
    RETURN 100::numeric * hits / (hits + misses);
END
$function$;

COMMENT ON FUNCTION cachemon.calculate_hit_rate(bigint, bigint) IS
    'Hit rate in percent: 100 * hits / (hits + misses), exact numeric; NULL when there were no lookups. Negative counts are an error.';

REVOKE ALL ON FUNCTION cachemon.calculate_hit_rate(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.calculate_hit_rate(bigint, bigint)
    TO cachemon_reader, cachemon_writer, cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon.sketch_key(p_value double precision)
RETURNS integer
LANGUAGE plpgsql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * The key of a positive latency: ceil(ln(x) / ln(gamma)). Zero has no key (sketches count
     * zeros apart); a negative value is an error. tick() computes the same expression inline
     * (a function with SET search_path is never inlined, and it runs once per raw event); the
     * tests check that both agree.
     */
    IF p_value < 0 OR p_value = 'Infinity'::double precision OR p_value = 'NaN'::double precision THEN
        RAISE EXCEPTION 'sketch_key: value must be finite and >= 0 (value=%)', p_value
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_value = 0 THEN
        RETURN NULL;
    END IF;
    RETURN pg_catalog.ceil(pg_catalog.ln(p_value) / cachemon._sketch_ln_gamma())::integer;
END
$function$;

COMMENT ON FUNCTION cachemon.sketch_key(double precision) IS
    'The cachemon.ddsketch key of a latency: ceil(ln(x) / ln(gamma)); NULL for 0 (counted apart), error for a negative value.';

REVOKE ALL ON FUNCTION cachemon.sketch_key(double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.sketch_key(double precision) TO cachemon_reader, cachemon_admin;

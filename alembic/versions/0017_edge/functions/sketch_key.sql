CREATE OR REPLACE FUNCTION cachemon.sketch_key(p_value double precision)
RETURNS integer
LANGUAGE plpgsql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_key integer;
BEGIN
    /*
     * The key of a positive latency: its OpenTelemetry exponential histogram bucket index at
     * scale 6, i.e. ceil(log2(x) * 64) - 1, so that bucket k holds (2^(k/64), 2^((k+1)/64)]
     * (upper bound inclusive, as the OpenTelemetry data model says). Computed as the SDKs do
     * it: floor(ln(x) * 2^6 / ln 2) with the scale factor as one double constant
     * (ldexp(1 / ln 2, 6)), and exact powers of two, where the logarithm may round either
     * way, set to (exponent << 6) - 1. So the same latency gets the same key here, in the
     * Python collector and in an OpenTelemetry SDK, and their histograms merge exactly.
     * Zero has no key (sketches count zeros apart); a negative value is an error.
     * tick() computes the same expression inline (a function with SET search_path is never
     * inlined, and it runs once per raw event); the tests check that both agree.
     */
    IF p_value < 0 OR p_value = 'Infinity'::double precision OR p_value = 'NaN'::double precision THEN
        RAISE EXCEPTION 'sketch_key: value must be finite and >= 0 (value=%)', p_value
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_value = 0 THEN
        RETURN NULL;
    END IF;
    v_key := pg_catalog.floor(pg_catalog.ln(p_value) * 92.33248261689366::double precision)::integer;
    IF v_key & 63 = 0 AND p_value = pg_catalog.power(2::double precision, (v_key >> 6)::double precision) THEN
        v_key := v_key - 1;
    END IF;
    RETURN v_key;
END
$function$;

COMMENT ON FUNCTION cachemon.sketch_key(double precision) IS
    'The cachemon.ddsketch key of a latency: its OpenTelemetry exponential histogram bucket index at scale 6, ceil(log2(x) * 64) - 1 (bucket k holds (2^(k/64), 2^((k+1)/64)]); NULL for 0 (counted apart), error for a negative value.';

REVOKE ALL ON FUNCTION cachemon.sketch_key(double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.sketch_key(double precision) TO cachemon_reader, cachemon_admin;

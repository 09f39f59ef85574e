CREATE OR REPLACE FUNCTION cachemon._sketch_ln_gamma()
RETURNS double precision
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * ln(gamma) of the mapping sketches used before OpenTelemetry's: gamma = (1 + a) / (1 - a)
     * with relative accuracy a = 0.009; a key k covered (gamma^(k-1), gamma^k] and stood for
     * 2 gamma^k / (gamma + 1). Only cachemon._sketch_from_legacy uses it, to convert such
     * sketches; current sketches use cachemon.sketch_key.
     */
    SELECT pg_catalog.ln((1.009)::double precision / (0.991)::double precision);
$function$;

COMMENT ON FUNCTION cachemon._sketch_ln_gamma() IS
    'Internal: ln(gamma) of the sketch mapping used before OpenTelemetry''s (relative accuracy 0.9%); used by cachemon._sketch_from_legacy only.';

REVOKE ALL ON FUNCTION cachemon._sketch_ln_gamma() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._sketch_ln_gamma() TO cachemon_reader, cachemon_admin;

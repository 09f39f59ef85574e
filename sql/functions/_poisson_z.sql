CREATE OR REPLACE FUNCTION cachemon._poisson_z(p_observed double precision, p_expected double precision)
RETURNS double precision
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * How surprising p_observed events are when p_expected were expected, as the normal
     * z-score of the Poisson upper tail P(X >= observed): the Wilson-Hilferty cube-root
     * approximation z = 3 sqrt(k) (1 - 1/(9k) - (lambda/k)^(1/3)), within a few hundredths of
     * the exact tail from k = 1 on, with no loop and no factorial (safe for any count up to
     * bigint max). Counts (errors, evictions) in a quiet window are small, where the normal
     * approximation of a proportion test is badly wrong; this is the count-appropriate test.
     * 0 observed: 0 (no evidence of an excess). NULL for a NULL or negative input; an expected
     * count of 0 is taken as 1e-9 (any event is then very surprising).
     */
    SELECT CASE
        WHEN p_observed IS NULL OR p_expected IS NULL OR p_observed < 0 OR p_expected < 0 THEN NULL
        WHEN p_observed < 1 THEN 0::double precision
        ELSE 3.0 * sqrt(p_observed)
             * (1.0 - 1.0 / (9.0 * p_observed)
                - power(greatest(p_expected, 1e-9) / p_observed, 1.0 / 3.0))
    END;
$function$;

COMMENT ON FUNCTION cachemon._poisson_z(double precision, double precision) IS
    'Internal: z-score of observing at least p_observed events of a Poisson count with mean p_expected (Wilson-Hilferty); 0 when nothing was observed.';

REVOKE ALL ON FUNCTION cachemon._poisson_z(double precision, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._poisson_z(double precision, double precision)
    TO cachemon_reader, cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon._wilson_bound(
    p_successes double precision,
    p_trials double precision,
    p_z double precision,
    p_upper boolean
)
RETURNS double precision
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * The Wilson score bound of a proportion (0..1): the set of true proportions a one-sided
     * score test at p_z does not reject. "Rate significantly above X" is "lower bound > X".
     * Unlike the textbook normal interval it behaves for few events and rates near 0 or 1,
     * which is exactly where quiet minutes would otherwise raise false alarms.
     * NULL without trials.
     */
    SELECT CASE WHEN p_trials IS NULL OR p_trials <= 0 THEN NULL ELSE
        (v.p + p_z * p_z / (2 * p_trials)
         + CASE WHEN p_upper THEN 1 ELSE -1 END
           * p_z * sqrt(greatest(v.p * (1 - v.p) / p_trials + p_z * p_z / (4 * p_trials * p_trials), 0)))
        / (1 + p_z * p_z / p_trials)
    END
      FROM (SELECT least(greatest(p_successes / NULLIF(p_trials, 0), 0), 1) AS p) AS v;
$function$;

COMMENT ON FUNCTION cachemon._wilson_bound(double precision, double precision, double precision, boolean) IS
    'Internal: Wilson score bound (upper or lower, one-sided at z) of successes/trials as a proportion 0..1; NULL without trials.';

REVOKE ALL ON FUNCTION cachemon._wilson_bound(double precision, double precision, double precision, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._wilson_bound(double precision, double precision, double precision, boolean)
    TO cachemon_reader, cachemon_admin;

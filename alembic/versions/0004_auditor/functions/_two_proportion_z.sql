CREATE OR REPLACE FUNCTION cachemon._two_proportion_z(
    p_x1 double precision,
    p_n1 double precision,
    p_x2 double precision,
    p_n2 double precision
)
RETURNS double precision
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * Two-proportion z statistic (pooled): (x1/n1 - x2/n2) / sqrt(p (1 - p) (1/n1 + 1/n2)),
     * p = (x1 + x2) / (n1 + n2). Positive when the first proportion is larger. NULL without
     * trials on either side; 0 when both proportions are 0 or 1 (no variance, no evidence).
     */
    SELECT CASE WHEN p_n1 IS NULL OR p_n2 IS NULL OR p_n1 <= 0 OR p_n2 <= 0 THEN NULL
                WHEN v.p <= 0 OR v.p >= 1 THEN 0
                ELSE (p_x1 / p_n1 - p_x2 / p_n2) / sqrt(v.p * (1 - v.p) * (1 / p_n1 + 1 / p_n2))
           END
      FROM (SELECT (p_x1 + p_x2) / NULLIF(p_n1 + p_n2, 0) AS p) AS v;
$function$;

COMMENT ON FUNCTION cachemon._two_proportion_z(double precision, double precision, double precision, double precision) IS
    'Internal: pooled two-proportion z statistic of x1/n1 against x2/n2 (positive when the first is larger).';

REVOKE ALL ON FUNCTION cachemon._two_proportion_z(double precision, double precision, double precision, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._two_proportion_z(double precision, double precision, double precision, double precision)
    TO cachemon_reader, cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon.sketch_quantiles(
    p_sketch cachemon.ddsketch,
    p_quantiles double precision[]
)
RETURNS double precision[]
LANGUAGE plpgsql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_total bigint;
    v_q double precision;
BEGIN
    /*
     * Quantiles of a sketch, one per element of p_quantiles, in that order. The rank follows
     * percentile_disc exactly: the first value whose position (1-based) is at least
     * ceil(q * n), computed in double precision as PostgreSQL does; so the estimate is the key
     * value of the very event percentile_disc would return, within the sketch's 0.9%.
     * Zeros come first and are returned as 0. A NULL or empty sketch gives NULL elements.
     */
    IF p_quantiles IS NULL THEN
        RETURN NULL;
    END IF;
    FOREACH v_q IN ARRAY p_quantiles LOOP
        IF v_q IS NULL OR NOT (v_q BETWEEN 0 AND 1) THEN
            RAISE EXCEPTION 'sketch_quantiles: every quantile must be between 0 and 1 (quantile=%)',
                coalesce(v_q::text, 'NULL')
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    v_total := coalesce(p_sketch.zero_count, 0)
               + coalesce((SELECT pg_catalog.sum(c) FROM pg_catalog.unnest(p_sketch.counts) AS c), 0);
    IF p_sketch IS NULL OR v_total = 0 THEN
        RETURN (SELECT pg_catalog.array_agg(NULL::double precision) FROM pg_catalog.unnest(p_quantiles));
    END IF;
    RETURN (
        WITH b AS (
            SELECT u.k, pg_catalog.sum(u.n) AS n
              FROM ROWS FROM (pg_catalog.unnest(p_sketch.keys), pg_catalog.unnest(p_sketch.counts)) AS u(k, n)
             GROUP BY u.k
        ), cum AS (
            SELECT b.k, p_sketch.zero_count + pg_catalog.sum(b.n) OVER (ORDER BY b.k) AS upto
              FROM b
        ), r AS (
            SELECT q.ord,
                   GREATEST(1, pg_catalog.ceil(q.x * v_total::double precision)) AS rank
              FROM pg_catalog.unnest(p_quantiles) WITH ORDINALITY AS q(x, ord)
        )
        SELECT pg_catalog.array_agg(
                   CASE WHEN r.rank <= p_sketch.zero_count THEN 0::double precision
                        ELSE (SELECT cachemon.sketch_value(cum.k) FROM cum
                               WHERE cum.upto >= r.rank ORDER BY cum.k LIMIT 1)
                   END
                   ORDER BY r.ord)
          FROM r
    );
END
$function$;

COMMENT ON FUNCTION cachemon.sketch_quantiles(cachemon.ddsketch, double precision[]) IS
    'Quantiles (each between 0 and 1) of a cachemon.ddsketch, in the order asked, with percentile_disc''s rank rule; within 0.9% of percentile_disc over the same events. NULL elements for an empty sketch.';

REVOKE ALL ON FUNCTION cachemon.sketch_quantiles(cachemon.ddsketch, double precision[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.sketch_quantiles(cachemon.ddsketch, double precision[])
    TO cachemon_reader, cachemon_admin;

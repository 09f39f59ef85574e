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
    v_zero bigint := coalesce(p_sketch.zero_count, 0);
    v_keys integer[];
    v_upto bigint[];
    v_total bigint;
    v_q double precision;
BEGIN
    /*
     * Quantiles of a sketch, one per element of p_quantiles, in that order. The rank follows
     * percentile_disc exactly: the first value whose position (1-based) is at least
     * ceil(q * n), computed in double precision as PostgreSQL does; so the estimate is the key
     * value of the very event percentile_disc would return, within the sketch's 0.55%.
     * Zeros come first and are returned as 0. A NULL or empty sketch gives NULL elements.
     *
     * One pass over the keys: sorted distinct keys and their running counts as two arrays
     * (a sketch need not be compact: duplicate keys are summed), then each quantile's key is
     * found by binary search (width_bucket over the running counts, which strictly increase):
     * the first key whose running count reaches rank - zeros is the one after the
     * width_bucket(rank - zeros - 1) keys whose running count stays below it.
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
    SELECT pg_catalog.array_agg(g.k ORDER BY g.k), pg_catalog.array_agg(g.upto ORDER BY g.k)
      INTO v_keys, v_upto
      FROM (SELECT u.k, (pg_catalog.sum(pg_catalog.sum(u.n)) OVER (ORDER BY u.k))::bigint AS upto
              FROM ROWS FROM (pg_catalog.unnest(p_sketch.keys), pg_catalog.unnest(p_sketch.counts)) AS u(k, n)
             GROUP BY u.k) AS g;
    v_total := v_zero + coalesce(v_upto[pg_catalog.cardinality(v_upto)], 0);
    IF p_sketch IS NULL OR v_total = 0 THEN
        RETURN (SELECT pg_catalog.array_agg(NULL::double precision) FROM pg_catalog.unnest(p_quantiles));
    END IF;
    RETURN (
        SELECT pg_catalog.array_agg(
                   CASE WHEN r.rank <= v_zero THEN 0::double precision
                        ELSE cachemon.sketch_value(
                                 v_keys[pg_catalog.width_bucket((r.rank - v_zero)::bigint - 1, v_upto) + 1])
                   END
                   ORDER BY r.ord)
          FROM (SELECT q.ord, GREATEST(1, pg_catalog.ceil(q.x * v_total::double precision)) AS rank
                  FROM pg_catalog.unnest(p_quantiles) WITH ORDINALITY AS q(x, ord)) AS r
    );
END
$function$;

COMMENT ON FUNCTION cachemon.sketch_quantiles(cachemon.ddsketch, double precision[]) IS
    'Quantiles (each between 0 and 1) of a cachemon.ddsketch, in the order asked, with percentile_disc''s rank rule; within 0.55% of percentile_disc over the same events (1.5% for a sketch flagged latency_sketch_converted). NULL elements for an empty sketch.';

REVOKE ALL ON FUNCTION cachemon.sketch_quantiles(cachemon.ddsketch, double precision[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.sketch_quantiles(cachemon.ddsketch, double precision[])
    TO cachemon_reader, cachemon_admin;

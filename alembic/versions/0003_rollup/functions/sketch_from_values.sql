CREATE OR REPLACE FUNCTION cachemon.sketch_from_values(p_values double precision[])
RETURNS cachemon.ddsketch
LANGUAGE plpgsql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * The sketch of a list of latencies (NULL elements are skipped, as percentile_disc skips
     * them). NULL when no element is a latency, like the latency_sketch of a minute without
     * response times. Meant for DBAs and tests: tick() builds minute sketches from raw rows
     * with the same key expression in one pass.
     */
    RETURN (SELECT CASE WHEN pg_catalog.count(v.x) = 0 THEN NULL
                ELSE ROW(pg_catalog.count(v.x) FILTER (WHERE v.x = 0),
                         coalesce((SELECT pg_catalog.array_agg(g.k ORDER BY g.k)
                                     FROM (SELECT cachemon.sketch_key(w.x) AS k, pg_catalog.count(*) AS n
                                             FROM pg_catalog.unnest(p_values) AS w(x)
                                            WHERE w.x > 0 GROUP BY 1) AS g), '{}'),
                         coalesce((SELECT pg_catalog.array_agg(g.n ORDER BY g.k)
                                     FROM (SELECT cachemon.sketch_key(w.x) AS k, pg_catalog.count(*) AS n
                                             FROM pg_catalog.unnest(p_values) AS w(x)
                                            WHERE w.x > 0 GROUP BY 1) AS g), '{}')
                        )::cachemon.ddsketch
           END
      FROM pg_catalog.unnest(p_values) AS v(x));
END
$function$;

COMMENT ON FUNCTION cachemon.sketch_from_values(double precision[]) IS
    'The cachemon.ddsketch of an array of latencies (NULLs skipped; NULL when there is none). Example: SELECT cachemon.sketch_from_values(array_agg(response_time_ms)) FROM cachemon.cache_metrics WHERE ...';

REVOKE ALL ON FUNCTION cachemon.sketch_from_values(double precision[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.sketch_from_values(double precision[]) TO cachemon_reader, cachemon_admin;

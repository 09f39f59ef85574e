CREATE OR REPLACE FUNCTION cachemon._sketch_compact(p_sketch cachemon.ddsketch)
RETURNS cachemon.ddsketch
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * Sorted, distinct keys with summed counts: the form every stored sketch has, so that equal
     * sketches compare equal with =. Also the final function of cachemon.sketch_merge.
     */
    SELECT ROW(coalesce(p_sketch.zero_count, 0),
               coalesce(pg_catalog.array_agg(g.k ORDER BY g.k), '{}'),
               coalesce(pg_catalog.array_agg(g.n ORDER BY g.k), '{}'))::cachemon.ddsketch
      FROM (SELECT u.k, pg_catalog.sum(u.n)::bigint AS n
              FROM ROWS FROM (pg_catalog.unnest(p_sketch.keys), pg_catalog.unnest(p_sketch.counts)) AS u(k, n)
             GROUP BY u.k) AS g;
$function$;

COMMENT ON FUNCTION cachemon._sketch_compact(cachemon.ddsketch) IS
    'Internal: a cachemon.ddsketch with sorted distinct keys and summed counts (final function of sketch_merge).';

REVOKE ALL ON FUNCTION cachemon._sketch_compact(cachemon.ddsketch) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._sketch_compact(cachemon.ddsketch) TO cachemon_reader, cachemon_admin;

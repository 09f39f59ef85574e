CREATE OR REPLACE FUNCTION cachemon._sketch_from_legacy(p_sketch cachemon.ddsketch)
RETURNS cachemon.ddsketch
LANGUAGE plpgsql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * Converts a sketch stored before sketches used OpenTelemetry's mapping (keys
     * ceil(ln x / ln gamma), gamma = 1.009 / 0.991, key k standing for 2 gamma^k / (gamma + 1),
     * within 0.9% of its values) to the current mapping: each old key's value goes to its
     * OpenTelemetry bucket (cachemon.sketch_key), counts summed, zeros kept. The old value is
     * within 0.9% of every latency of its key and the new key's value within 0.55% of the old
     * value, so a quantile of a converted sketch is within (1.009 * 1.0055 - 1) < 1.5% of
     * exact. The migration that changed the mapping converted every stored sketch with it
     * and flagged their rows (latency_sketch_converted); tests check the bound.
     */
    RETURN (SELECT ROW(coalesce(p_sketch.zero_count, 0),
               coalesce(pg_catalog.array_agg(g.k ORDER BY g.k), '{}'),
               coalesce(pg_catalog.array_agg(g.n ORDER BY g.k), '{}'))::cachemon.ddsketch
      FROM (SELECT cachemon.sketch_key(2 * pg_catalog.exp(u.k * cachemon._sketch_ln_gamma())
                                         / (pg_catalog.exp(cachemon._sketch_ln_gamma()) + 1)) AS k,
                   pg_catalog.sum(u.n)::bigint AS n
              FROM ROWS FROM (pg_catalog.unnest(p_sketch.keys), pg_catalog.unnest(p_sketch.counts)) AS u(k, n)
             GROUP BY 1) AS g);
END
$function$;

COMMENT ON FUNCTION cachemon._sketch_from_legacy(cachemon.ddsketch) IS
    'Internal: converts a sketch of the mapping used before OpenTelemetry''s (relative accuracy 0.9%) to OpenTelemetry buckets at scale 6; quantiles of the result are within 1.5% of exact.';

REVOKE ALL ON FUNCTION cachemon._sketch_from_legacy(cachemon.ddsketch) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._sketch_from_legacy(cachemon.ddsketch) TO cachemon_admin;

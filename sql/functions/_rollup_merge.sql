CREATE OR REPLACE FUNCTION cachemon._rollup_merge(p_level text, p_buckets timestamptz[], p_impls text[])
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $function$
DECLARE
    v_source text;
    v_target text;
    v_width  interval;
    v_keys   timestamptz[];
    v_impls  text[];
    v_rows   cachemon._rollup_row[];
BEGIN
    /*
     * The one shape of the coarse levels: rebuilds the p_level ('hour' or 'day') buckets that
     * hold the given (bucket, implementation) pairs (parallel arrays; any timestamp inside
     * the hour or day will do, duplicates are fine) as the merge of their rows one level
     * down: hours from cache_metrics_1min into cache_metrics_1hour (percentiles from the
     * merged sketch), UTC days from cache_metrics_1hour into _cache_metrics_1day. Sums and
     * maxima, and the sketches merged by one flat unnest(keys, counts) ... GROUP BY bucket,
     * implementation, key (equal to cachemon.sketch_merge, without a PL/pgSQL call per row);
     * a coarse row is latency_sketch_converted when any of its finer rows is.
     * Stored with cachemon._rollup_store; a bucket without rows below loses its row. Returns
     * the rows written or deleted.
     *
     * tick() calls it for the hours, then the days, of the minutes it recomputed (same
     * transaction, so every coarse row equals the merge of its committed finer rows).
     * Dynamic SQL only for the two table names, from a fixed list (format %I).
     */
    CASE p_level
        WHEN 'hour' THEN
            v_source := 'cache_metrics_1min'; v_target := 'cache_metrics_1hour'; v_width := interval '1 hour';
        WHEN 'day' THEN
            v_source := 'cache_metrics_1hour'; v_target := '_cache_metrics_1day'; v_width := interval '1 day';
        ELSE
            RAISE EXCEPTION 'cachemon._rollup_merge: p_level must be hour or day, got %', p_level
                USING ERRCODE = 'invalid_parameter_value';
    END CASE;

    EXECUTE pg_catalog.format(
        $sql$
        WITH h AS (
            SELECT DISTINCT pg_catalog.date_bin($3, u.bucket, '2000-01-01 00:00:00+00') AS bucket,
                   u.implementation_type
              FROM ROWS FROM (pg_catalog.unnest($1::timestamptz[]), pg_catalog.unnest($2::text[]))
                   AS u(bucket, implementation_type)
             WHERE u.bucket IS NOT NULL AND u.implementation_type IS NOT NULL
        ), mins AS MATERIALIZED (
            -- The rows of those buckets one level down, read once (index range per bucket).
            SELECT h.bucket AS coarse, m.implementation_type, m.hits, m.misses, m.sets,
                   m.evictions, m.errors, m.total_events, m.latency_count, m.latency_sum,
                   m.max_response_time_ms, m.cache_size_count, m.cache_size_sum,
                   m.max_cache_size, m.latency_sketch, m.latency_sketch_converted
              FROM h
              JOIN cachemon.%1$I AS m
                ON m.implementation_type = h.implementation_type
               AND m.bucket >= h.bucket
               AND m.bucket < h.bucket + $3
        ), agg AS (
            SELECT m.coarse AS bucket, m.implementation_type,
                   pg_catalog.sum(m.hits)::bigint AS hits,
                   pg_catalog.sum(m.misses)::bigint AS misses,
                   pg_catalog.sum(m.sets)::bigint AS sets,
                   pg_catalog.sum(m.evictions)::bigint AS evictions,
                   pg_catalog.sum(m.errors)::bigint AS errors,
                   pg_catalog.sum(m.total_events)::bigint AS total_events,
                   pg_catalog.sum(m.latency_count)::bigint AS latency_count,
                   pg_catalog.sum(m.latency_sum) AS latency_sum,
                   pg_catalog.max(m.max_response_time_ms) AS max_rt,
                   pg_catalog.sum(m.cache_size_count)::bigint AS cache_size_count,
                   pg_catalog.sum(m.cache_size_sum) AS cache_size_sum,
                   pg_catalog.max(m.max_cache_size) AS max_cache_size,
                   pg_catalog.count(m.latency_sketch) AS sketches,
                   pg_catalog.sum((m.latency_sketch).zero_count)::bigint AS zero_count,
                   pg_catalog.bool_or(m.latency_sketch_converted) AS converted
              FROM mins AS m
             GROUP BY m.coarse, m.implementation_type
        ), merged AS (
            SELECT g.coarse, g.implementation_type,
                   pg_catalog.array_agg(g.key ORDER BY g.key) AS keys,
                   pg_catalog.array_agg(g.n ORDER BY g.key) AS counts
              FROM (SELECT m.coarse, m.implementation_type, u.key, pg_catalog.sum(u.n)::bigint AS n
                      FROM mins AS m
                     CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest((m.latency_sketch).keys),
                                                   pg_catalog.unnest((m.latency_sketch).counts)) AS u(key, n)
                     GROUP BY m.coarse, m.implementation_type, u.key) AS g
             GROUP BY g.coarse, g.implementation_type
        ), q AS (
            SELECT a.*, sk.sketch,
                   CASE WHEN $4 THEN cachemon.sketch_quantiles(sk.sketch, ARRAY[0.5, 0.95, 0.99]) END AS pct
              FROM agg AS a
              LEFT JOIN merged AS mg
                ON mg.coarse = a.bucket AND mg.implementation_type = a.implementation_type
             CROSS JOIN LATERAL (
                SELECT CASE WHEN a.sketches > 0 THEN
                           ROW(a.zero_count, coalesce(mg.keys, '{}'), coalesce(mg.counts, '{}'))::cachemon.ddsketch
                       END AS sketch
             ) AS sk
        )
        SELECT (SELECT pg_catalog.array_agg(h.bucket ORDER BY h.bucket, h.implementation_type) FROM h),
               (SELECT pg_catalog.array_agg(h.implementation_type ORDER BY h.bucket, h.implementation_type) FROM h),
               (SELECT pg_catalog.array_agg(ROW(
                           q.bucket, q.implementation_type, q.hits, q.misses, q.sets, q.evictions,
                           q.errors, q.total_events, q.latency_count, q.latency_sum, q.max_rt,
                           q.cache_size_count, q.cache_size_sum, q.max_cache_size, q.sketch,
                           q.pct[1], q.pct[2], q.pct[3], NULL, q.converted)::cachemon._rollup_row)
                  FROM q)
        $sql$, v_source)
      INTO v_keys, v_impls, v_rows
      USING p_buckets, p_impls, v_width, p_level = 'hour';

    IF v_keys IS NULL THEN
        RETURN 0;
    END IF;
    RETURN cachemon._rollup_store(v_target, v_keys, v_impls, coalesce(v_rows, '{}'));
END
$function$;

COMMENT ON FUNCTION cachemon._rollup_merge(text, timestamptz[], text[]) IS
    'Internal: rebuild the hour (from cache_metrics_1min into cache_metrics_1hour) or UTC day (from cache_metrics_1hour into _cache_metrics_1day) buckets holding the given (bucket, implementation) pairs as the merge of their finer rows (sums, maxima, merged sketches; hourly percentiles from the sketch). Returns rows written or deleted.';

REVOKE ALL ON FUNCTION cachemon._rollup_merge(text, timestamptz[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rollup_merge(text, timestamptz[], text[]) TO cachemon_admin;

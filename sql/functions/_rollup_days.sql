CREATE OR REPLACE FUNCTION cachemon._rollup_days(p_days timestamptz[], p_impls text[])
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_up integer;
    v_gone integer;
BEGIN
    /*
     * Rebuilds the rows of cachemon._cache_metrics_1day for the (day, implementation) pairs
     * given as two parallel arrays (any timestamp of the day will do; duplicates are fine)
     * from cache_metrics_1hour, the way tick() rebuilds hours from minutes: sums and maxima,
     * and the sketches merged by one flat unnest(keys, counts) ... GROUP BY day,
     * implementation, key (equal to cachemon.sketch_merge). A pair without hourly rows left
     * loses its day row. Returns the number of day rows written or deleted.
     *
     * The one code path of the day level: tick() calls it for the days of the hours it
     * recomputed (same transaction, so a day row always equals the merge of its committed
     * hours), run_maintenance() for the day cut by retention.1hour, and the benchmark after
     * writing hourly rows directly. Cost: up to 24 hourly rows per pair, read through the
     * hourly table's (bucket, implementation_type) index.
     */
    WITH d AS (
        SELECT DISTINCT pg_catalog.date_bin('1 day', u.day, '2000-01-01 00:00:00+00') AS bucket,
               u.implementation_type
          FROM ROWS FROM (pg_catalog.unnest(p_days), pg_catalog.unnest(p_impls)) AS u(day, implementation_type)
         WHERE u.day IS NOT NULL AND u.implementation_type IS NOT NULL
    ), hrs AS MATERIALIZED (
        SELECT d.bucket AS day, h.implementation_type, h.hits, h.misses, h.sets, h.evictions,
               h.errors, h.total_events, h.latency_count, h.latency_sum,
               h.max_response_time_ms, h.cache_size_count, h.cache_size_sum, h.max_cache_size,
               h.latency_sketch
          FROM d
          JOIN cachemon.cache_metrics_1hour AS h
            ON h.implementation_type = d.implementation_type
           AND h.bucket >= d.bucket
           AND h.bucket < d.bucket + interval '1 day'
    ), agg AS (
        SELECT h.day, h.implementation_type,
               pg_catalog.sum(h.hits)::bigint AS hits,
               pg_catalog.sum(h.misses)::bigint AS misses,
               pg_catalog.sum(h.sets)::bigint AS sets,
               pg_catalog.sum(h.evictions)::bigint AS evictions,
               pg_catalog.sum(h.errors)::bigint AS errors,
               pg_catalog.sum(h.total_events)::bigint AS total_events,
               pg_catalog.sum(h.latency_count)::bigint AS latency_count,
               pg_catalog.sum(h.latency_sum) AS latency_sum,
               pg_catalog.max(h.max_response_time_ms) AS max_rt,
               pg_catalog.sum(h.cache_size_count)::bigint AS cache_size_count,
               pg_catalog.sum(h.cache_size_sum) AS cache_size_sum,
               pg_catalog.max(h.max_cache_size) AS max_cache_size,
               pg_catalog.count(h.latency_sketch) AS sketches,
               pg_catalog.sum((h.latency_sketch).zero_count)::bigint AS zero_count
          FROM hrs AS h
         GROUP BY h.day, h.implementation_type
    ), merged AS (
        SELECT g.day, g.implementation_type,
               pg_catalog.array_agg(g.key ORDER BY g.key) AS keys,
               pg_catalog.array_agg(g.n ORDER BY g.key) AS counts
          FROM (SELECT h.day, h.implementation_type, u.key, pg_catalog.sum(u.n)::bigint AS n
                  FROM hrs AS h
                 CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest((h.latency_sketch).keys),
                                               pg_catalog.unnest((h.latency_sketch).counts)) AS u(key, n)
                 GROUP BY h.day, h.implementation_type, u.key) AS g
         GROUP BY g.day, g.implementation_type
    ), up AS (
        INSERT INTO cachemon._cache_metrics_1day AS t (
            bucket, implementation_type, hits, misses, sets, evictions, errors, total_events,
            latency_count, latency_sum, max_response_time_ms, cache_size_count, cache_size_sum,
            max_cache_size, latency_sketch, updated_at)
        SELECT a.day, a.implementation_type, a.hits, a.misses, a.sets, a.evictions, a.errors,
               a.total_events, a.latency_count, a.latency_sum, a.max_rt, a.cache_size_count,
               a.cache_size_sum, a.max_cache_size,
               CASE WHEN a.sketches > 0 THEN
                   ROW(a.zero_count, coalesce(mg.keys, '{}'), coalesce(mg.counts, '{}'))::cachemon.ddsketch
               END,
               pg_catalog.clock_timestamp()
          FROM agg AS a
          LEFT JOIN merged AS mg
            ON mg.day = a.day AND mg.implementation_type = a.implementation_type
        ON CONFLICT (bucket, implementation_type) DO UPDATE SET
            hits = EXCLUDED.hits, misses = EXCLUDED.misses, sets = EXCLUDED.sets,
            evictions = EXCLUDED.evictions, errors = EXCLUDED.errors,
            total_events = EXCLUDED.total_events, latency_count = EXCLUDED.latency_count,
            latency_sum = EXCLUDED.latency_sum,
            max_response_time_ms = EXCLUDED.max_response_time_ms,
            cache_size_count = EXCLUDED.cache_size_count,
            cache_size_sum = EXCLUDED.cache_size_sum, max_cache_size = EXCLUDED.max_cache_size,
            latency_sketch = EXCLUDED.latency_sketch, updated_at = EXCLUDED.updated_at
        RETURNING 1
    ), emptied AS (
        DELETE FROM cachemon._cache_metrics_1day AS t
         USING d
         WHERE t.bucket = d.bucket AND t.implementation_type = d.implementation_type
           AND NOT EXISTS (SELECT FROM agg AS a
                            WHERE a.day = d.bucket AND a.implementation_type = d.implementation_type)
        RETURNING 1
    )
    SELECT (SELECT pg_catalog.count(*) FROM up), (SELECT pg_catalog.count(*) FROM emptied)
      INTO v_up, v_gone;
    RETURN v_up + v_gone;
END
$function$;

COMMENT ON FUNCTION cachemon._rollup_days(timestamptz[], text[]) IS
    'Internal: rebuild cachemon._cache_metrics_1day for the given (day, implementation) pairs (parallel arrays) as the merge of their cache_metrics_1hour rows; a pair without hours loses its row. Called by tick() and run_maintenance(). Returns rows written or deleted.';

REVOKE ALL ON FUNCTION cachemon._rollup_days(timestamptz[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rollup_days(timestamptz[], text[]) TO cachemon_admin;

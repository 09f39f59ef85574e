CREATE OR REPLACE FUNCTION cachemon._rollup_minutes(p_buckets timestamptz[], p_impls text[])
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- Large, uncertain cost estimates (row counts of a LATERAL per run) would make PostgreSQL
-- JIT-compile this statement: 50-400 ms of compilation for tens of milliseconds of work.
SET jit = off
-- The raw rows are sorted by (minute, implementation) for the group aggregate: at the default
-- 4MB the sort of a day's backlog (1M events) spills to disk (EXPLAIN: external merge). tick runs
-- one at a time (its advisory lock) and claims at most tick.max_buckets buckets, so this
-- bounds the memory of one statement of one backend.
SET work_mem = '64MB'
AS $function$
DECLARE
    v_ln_gamma double precision := cachemon._sketch_ln_gamma();
    v_rows cachemon._rollup_row[];
BEGIN
    /*
     * tick()'s minute step: recomputes the given (minute, implementation) buckets (parallel
     * arrays) from raw rows and stores them with cachemon._rollup_store (a bucket without raw
     * rows left loses its row). Exact statistics: counts, sums, maxima, percentile_cont
     * p50/p95/p99 in one ordered-set call, and the latency sketch (the key is
     * cachemon.sketch_key() written inline). Returns the 1-minute rows written or deleted.
     *
     * Raw rows are read with one index range scan per run of nearby marked minutes (gaps and
     * islands: marked minutes of an implementation less than 10 minutes apart form one run;
     * LATERAL ... OFFSET 0 keeps the nested loop, so each run reads only its index range and
     * partitions it cannot touch are pruned at run time). A backlog of a whole day is then one
     * scan per implementation; a lone late minute is one small range.
     */
    WITH k AS (
        SELECT u.bucket, u.implementation_type
          FROM ROWS FROM (pg_catalog.unnest(p_buckets), pg_catalog.unnest(p_impls)) AS u(bucket, implementation_type)
    ), runs AS (
        SELECT r.implementation_type, pg_catalog.min(r.bucket) AS lo,
               pg_catalog.max(r.bucket) + interval '1 minute' AS hi
          FROM (SELECT g.implementation_type, g.bucket,
                       pg_catalog.sum(g.starts) OVER (PARTITION BY g.implementation_type
                                                      ORDER BY g.bucket) AS run
                  FROM (SELECT k.implementation_type, k.bucket,
                               CASE WHEN k.bucket - pg_catalog.lag(k.bucket) OVER (
                                        PARTITION BY k.implementation_type ORDER BY k.bucket)
                                        <= interval '10 minutes'
                                    THEN 0 ELSE 1 END AS starts
                          FROM k) AS g) AS r
         GROUP BY r.implementation_type, r.run
    ), raw AS (
        SELECT x.bucket, x.implementation_type, x.event_type, x.rt, x.cache_size
          FROM runs
         CROSS JOIN LATERAL (
            SELECT pg_catalog.date_bin('1 minute', m.recorded_at, '2000-01-01 00:00:00+00') AS bucket,
                   m.implementation_type, m.event_type, m.response_time_ms AS rt, m.cache_size
              FROM cachemon.cache_metrics AS m
             WHERE m.implementation_type = runs.implementation_type
               AND m.recorded_at >= runs.lo
               AND m.recorded_at < runs.hi
            OFFSET 0
         ) AS x
         WHERE (x.bucket, x.implementation_type) IN (SELECT k.bucket, k.implementation_type FROM k)
    ), stats AS (
        -- One sorted group aggregate over the raw rows: the exact statistics, the three
        -- percentiles in one ordered-set call, and the keys of the positive latencies (one
        -- array per minute, unsorted); the sketch is compacted per minute below (a small hash
        -- aggregate over that minute's keys, not a second sort over all raw rows).
        SELECT r.bucket, r.implementation_type,
               pg_catalog.count(*) FILTER (WHERE r.event_type = 'hit') AS hits,
               pg_catalog.count(*) FILTER (WHERE r.event_type = 'miss') AS misses,
               pg_catalog.count(*) FILTER (WHERE r.event_type = 'set') AS sets,
               pg_catalog.count(*) FILTER (WHERE r.event_type = 'evict') AS evictions,
               pg_catalog.count(*) FILTER (WHERE r.event_type = 'error') AS errors,
               pg_catalog.count(*) AS total_events,
               pg_catalog.count(r.rt) AS latency_count,
               coalesce(pg_catalog.sum(r.rt), 0) AS latency_sum,
               pg_catalog.max(r.rt) AS max_rt,
               pg_catalog.percentile_cont(ARRAY[0.5, 0.95, 0.99]::double precision[])
                   WITHIN GROUP (ORDER BY r.rt) AS pct,
               pg_catalog.count(*) FILTER (WHERE r.rt = 0) AS zero_count,
               pg_catalog.array_agg(pg_catalog.ceil(pg_catalog.ln(r.rt) / v_ln_gamma)::integer)
                   FILTER (WHERE r.rt > 0) AS all_keys,
               pg_catalog.count(r.cache_size) AS cache_size_count,
               coalesce(pg_catalog.sum(r.cache_size), 0) AS cache_size_sum,
               pg_catalog.max(r.cache_size) AS max_cache_size
          FROM raw AS r
         GROUP BY r.bucket, r.implementation_type
    )
    SELECT pg_catalog.array_agg(ROW(
               s.bucket, s.implementation_type, s.hits, s.misses, s.sets, s.evictions, s.errors,
               s.total_events, s.latency_count, s.latency_sum, s.max_rt, s.cache_size_count,
               s.cache_size_sum, s.max_cache_size,
               CASE WHEN s.latency_count > 0 THEN
                   ROW(s.zero_count, coalesce(sk.keys, '{}'), coalesce(sk.counts, '{}'))::cachemon.ddsketch
               END,
               s.pct[1], s.pct[2], s.pct[3])::cachemon._rollup_row)
      INTO v_rows
      FROM stats AS s
     CROSS JOIN LATERAL (
        -- The minute's sketch: its keys counted and sorted (sketch_from_values' form).
        SELECT pg_catalog.array_agg(g.key ORDER BY g.key) AS keys,
               pg_catalog.array_agg(g.n ORDER BY g.key) AS counts
          FROM (SELECT u.key, pg_catalog.count(*) AS n
                  FROM pg_catalog.unnest(s.all_keys) AS u(key)
                 GROUP BY u.key) AS g
     ) AS sk;

    RETURN cachemon._rollup_store('cache_metrics_1min', p_buckets, p_impls, coalesce(v_rows, '{}'));
END
$function$;

COMMENT ON FUNCTION cachemon._rollup_minutes(timestamptz[], text[]) IS
    'Internal (tick): recompute the given (minute, implementation) buckets from raw events (exact percentiles, latency sketch) into cache_metrics_1min; a bucket without events loses its row. Returns rows written or deleted.';

REVOKE ALL ON FUNCTION cachemon._rollup_minutes(timestamptz[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rollup_minutes(timestamptz[], text[]) TO cachemon_admin;

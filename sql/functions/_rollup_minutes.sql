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
     *
     * Edge rows (cachemon.cache_metrics_edge: pre-aggregated minutes from collectors in
     * aggregate mode and OpenTelemetry data points) of the same buckets are added in: their
     * counts and sums to the raw ones, their histograms (downscaled to scale 6 by shifting
     * indexes, which is exact) to the raw events' keys. A minute with edge latencies takes its
     * p50/p95/p99 from the merged sketch (percentiles_exact = false, within the sketch's
     * 0.55%); a minute of raw events only keeps percentile_cont (percentiles_exact = true).
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
               -- cachemon.sketch_key inline: the OpenTelemetry index at scale 6, exact powers
               -- of two one lower (the second branch runs for 1 event in 64 at most).
               pg_catalog.array_agg(
                   CASE WHEN r.k & 63 = 0
                             AND r.rt = pg_catalog.power(2::double precision, (r.k >> 6)::double precision)
                        THEN r.k - 1 ELSE r.k END) FILTER (WHERE r.rt > 0) AS all_keys,
               pg_catalog.count(r.cache_size) AS cache_size_count,
               coalesce(pg_catalog.sum(r.cache_size), 0) AS cache_size_sum,
               pg_catalog.max(r.cache_size) AS max_cache_size
          FROM (SELECT w.*,
                       CASE WHEN w.rt > 0 THEN
                           pg_catalog.floor(pg_catalog.ln(w.rt) * 92.33248261689366::double precision)::integer
                       END AS k
                  FROM raw AS w) AS r
         GROUP BY r.bucket, r.implementation_type
    ), edge AS MATERIALIZED (
        -- The edge rows of the marked buckets (index (implementation_type, bucket)).
        SELECT e.*
          FROM k
          JOIN cachemon.cache_metrics_edge AS e
            ON e.implementation_type = k.implementation_type AND e.bucket = k.bucket
    ), edge_stats AS (
        SELECT e.bucket, e.implementation_type,
               pg_catalog.sum(e.event_count) FILTER (WHERE e.event_type = 'hit') AS hits,
               pg_catalog.sum(e.event_count) FILTER (WHERE e.event_type = 'miss') AS misses,
               pg_catalog.sum(e.event_count) FILTER (WHERE e.event_type = 'set') AS sets,
               pg_catalog.sum(e.event_count) FILTER (WHERE e.event_type = 'evict') AS evictions,
               pg_catalog.sum(e.event_count) FILTER (WHERE e.event_type = 'error') AS errors,
               pg_catalog.sum(e.event_count) AS total_events,
               pg_catalog.sum(e.latency_count) AS latency_count,
               pg_catalog.sum(e.latency_sum) AS latency_sum,
               pg_catalog.max(e.latency_max) AS max_rt,
               pg_catalog.sum(e.zero_count) AS zero_count,
               pg_catalog.sum(e.cache_size_count) AS cache_size_count,
               pg_catalog.sum(e.cache_size_sum) AS cache_size_sum,
               pg_catalog.max(e.cache_size_max) AS max_cache_size
          FROM edge AS e
         GROUP BY e.bucket, e.implementation_type
    ), edge_keys AS (
        -- Histograms downscaled to scale 6: index >> (scale - 6) is floor division by
        -- 2^(scale - 6), exactly the scale-6 bucket holding the finer one.
        SELECT g.bucket, g.implementation_type,
               pg_catalog.array_agg(g.key) AS keys, pg_catalog.array_agg(g.n) AS counts
          FROM (SELECT e.bucket, e.implementation_type,
                       (e.bucket_offset + (u.i - 1)::integer) >> (e.scale - 6) AS key,
                       pg_catalog.sum(u.n)::bigint AS n
                  FROM edge AS e
                 CROSS JOIN LATERAL pg_catalog.unnest(e.bucket_counts) WITH ORDINALITY AS u(n, i)
                 WHERE u.n > 0
                 GROUP BY 1, 2, 3) AS g
         GROUP BY g.bucket, g.implementation_type
    ), merged AS (
        SELECT coalesce(s.bucket, es.bucket) AS bucket,
               coalesce(s.implementation_type, es.implementation_type) AS implementation_type,
               coalesce(s.hits, 0) + coalesce(es.hits, 0) AS hits,
               coalesce(s.misses, 0) + coalesce(es.misses, 0) AS misses,
               coalesce(s.sets, 0) + coalesce(es.sets, 0) AS sets,
               coalesce(s.evictions, 0) + coalesce(es.evictions, 0) AS evictions,
               coalesce(s.errors, 0) + coalesce(es.errors, 0) AS errors,
               coalesce(s.total_events, 0) + coalesce(es.total_events, 0) AS total_events,
               coalesce(s.latency_count, 0) + coalesce(es.latency_count, 0) AS latency_count,
               coalesce(s.latency_sum, 0) + coalesce(es.latency_sum, 0) AS latency_sum,
               GREATEST(s.max_rt, es.max_rt) AS max_rt,
               coalesce(s.zero_count, 0) + coalesce(es.zero_count, 0) AS zero_count,
               coalesce(s.cache_size_count, 0) + coalesce(es.cache_size_count, 0) AS cache_size_count,
               coalesce(s.cache_size_sum, 0) + coalesce(es.cache_size_sum, 0) AS cache_size_sum,
               GREATEST(s.max_cache_size, es.max_cache_size) AS max_cache_size,
               s.pct, s.all_keys, ek.keys AS edge_keys, ek.counts AS edge_counts,
               coalesce(es.latency_count, 0) = 0 AS exact
          FROM stats AS s
          FULL JOIN edge_stats AS es
            ON es.bucket = s.bucket AND es.implementation_type = s.implementation_type
          LEFT JOIN edge_keys AS ek
            ON ek.bucket = es.bucket AND ek.implementation_type = es.implementation_type
    )
    SELECT pg_catalog.array_agg(ROW(
               s.bucket, s.implementation_type, s.hits, s.misses, s.sets, s.evictions, s.errors,
               s.total_events, s.latency_count, s.latency_sum, s.max_rt, s.cache_size_count,
               s.cache_size_sum, s.max_cache_size, sk.sketch,
               pc.pct[1], pc.pct[2], pc.pct[3],
               CASE WHEN s.latency_count > 0 THEN s.exact END, false)::cachemon._rollup_row)
      INTO v_rows
      FROM merged AS s
     CROSS JOIN LATERAL (
        -- The minute's sketch in sketch_from_values' form (sorted keys with their counts):
        -- its raw keys counted, plus the edge histograms when it has some (a CASE, so a
        -- minute of raw events only pays for the small hash aggregate over its own keys).
        SELECT CASE WHEN s.latency_count = 0 THEN NULL
                    WHEN s.edge_keys IS NULL THEN
                        (SELECT ROW(s.zero_count, coalesce(pg_catalog.array_agg(g.key ORDER BY g.key), '{}'),
                                    coalesce(pg_catalog.array_agg(g.n ORDER BY g.key), '{}'))::cachemon.ddsketch
                           FROM (SELECT u.key, pg_catalog.count(*) AS n
                                   FROM pg_catalog.unnest(s.all_keys) AS u(key)
                                  GROUP BY u.key) AS g)
                    ELSE
                        (SELECT ROW(s.zero_count, coalesce(pg_catalog.array_agg(g.key ORDER BY g.key), '{}'),
                                    coalesce(pg_catalog.array_agg(g.n ORDER BY g.key), '{}'))::cachemon.ddsketch
                           FROM (SELECT u.key, pg_catalog.sum(u.n)::bigint AS n
                                   FROM (SELECT r.key, 1::bigint AS n FROM pg_catalog.unnest(s.all_keys) AS r(key)
                                         UNION ALL
                                         SELECT x.key, x.n
                                           FROM ROWS FROM (pg_catalog.unnest(s.edge_keys),
                                                           pg_catalog.unnest(s.edge_counts)) AS x(key, n)
                                        ) AS u
                                  GROUP BY u.key) AS g)
               END AS sketch
     ) AS sk
     CROSS JOIN LATERAL (
        SELECT CASE WHEN s.exact THEN s.pct
                    ELSE cachemon.sketch_quantiles(sk.sketch, ARRAY[0.5, 0.95, 0.99])
               END AS pct
     ) AS pc;

    RETURN cachemon._rollup_store('cache_metrics_1min', p_buckets, p_impls, coalesce(v_rows, '{}'));
END
$function$;

COMMENT ON FUNCTION cachemon._rollup_minutes(timestamptz[], text[]) IS
    'Internal (tick): recompute the given (minute, implementation) buckets from raw events and edge rows (exact percentiles when raw only, else from the merged sketch; latency sketch) into cache_metrics_1min; a bucket without events loses its row. Returns rows written or deleted.';

REVOKE ALL ON FUNCTION cachemon._rollup_minutes(timestamptz[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rollup_minutes(timestamptz[], text[]) TO cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon.get_timeseries(
    time_window interval,
    resolution interval DEFAULT NULL,
    implementation_type text DEFAULT NULL,
    p_now timestamptz DEFAULT pg_catalog.now()
)
RETURNS SETOF cachemon.timeseries_bucket
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
SET work_mem = '64MB'
AS $function$
#variable_conflict use_column
DECLARE
    c_max_buckets constant integer := 10000;
    c_max_rows constant integer := 100000;
    c_max_merged_rows constant integer := 20000;
    c_origin constant timestamptz := '2000-01-01 00:00:00+00';
    v_impl text := get_timeseries.implementation_type;
    v_window interval;
    v_res interval := get_timeseries.resolution;
    v_window_s numeric;
    v_res_s numeric;
    v_buckets numeric;
    v_end timestamptz;
    v_start timestamptz;
    v_level text;
    v_cap integer;
    v_rows bigint;
BEGIN
    /*
     * The time series a dashboard draws: one row per bucket of width `resolution` and per
     * implementation (or only the one named) that has data, over the buckets that cover
     * [p_now - time_window, p_now]. Buckets are aligned to multiples of the resolution since
     * 2000-01-01 00:00 UTC (date_bin), the last one is the bucket holding p_now (so the minute
     * being filled shows up as soon as a tick has rolled it up), and there are
     * ceil(time_window / resolution) of them, at most 10,000 (more is an error: pass a
     * coarser resolution).
     *
     * The level read follows the resolution: a multiple of a day reads the internal daily
     * merge _cache_metrics_1day, a multiple of an hour cache_metrics_1hour, anything else
     * cache_metrics_1min. At exactly one minute or one hour the stored row is returned as is
     * (minute percentiles are exact percentile_cont; hourly ones come from the hour's merged
     * sketch); coarser buckets sum the counts and merge the latency sketches of their rows, so
     * p50/p95/p99 are those of the bucket's events within the sketch's relative error
     * (0.9%), never an average of percentiles. Rates, averages and events_per_minute derive
     * from the summed counts. A NULL resolution picks the finest of 1 minute, 1 hour, 1 day
     * that gives at most 1,500 buckets.
     *
     * time_window: 1 minute .. 400 days; resolution: whole minutes, 1 minute .. 400 days; no
     * months or years in either (a month has no fixed width). Reflects what tick() has rolled
     * up; buckets without data are absent (the client draws gaps).
     *
     * work_mem is raised for this function only: merging a day of minute sketches groups
     * ~200k (bucket, key) elements, which spill to disk at the default 4MB and take 2-3x as
     * long; the bucket limit bounds what a call can ask for.
     *
     * The work of one call is bounded, whoever calls it and however many implementations
     * the writer created: p_now must lie within [now() - retention.1hour, now() + 1 day]
     * (cachemon._check_now; 'infinity' and '-infinity' are refused), and the stored rows
     * the call reads (buckets of the level read times implementations) are counted first,
     * along the level's unique index and stopping one past the cap: more than 100,000
     * (returned as stored, at one minute or one hour) or 20,000 (merged into coarser buckets)
     * is an error naming the count, before anything is aggregated.
     */
    v_window := cachemon._check_interval('get_timeseries', 'time_window', time_window,
                                         interval '1 minute', interval '400 days');
    PERFORM cachemon._check_now(p_now,
        pg_catalog.now() - cachemon._setting('retention.1hour')::interval);
    v_window_s := pg_catalog.date_part('epoch', v_window)::numeric;
    IF v_res IS NULL THEN
        v_res := CASE WHEN v_window_s <= 1500 * 60 THEN interval '1 minute'
                      WHEN v_window_s <= 1500 * 3600 THEN interval '1 hour'
                      ELSE interval '1 day' END;
    END IF;
    PERFORM cachemon._check_interval('get_timeseries', 'resolution', v_res,
                                     interval '1 minute', interval '400 days');
    v_res_s := pg_catalog.date_part('epoch', v_res)::numeric;
    IF v_res_s % 60 <> 0 THEN
        RAISE EXCEPTION 'get_timeseries: resolution must be a whole number of minutes (got %)', v_res
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Normalize ('1 day' and '24 hours' give the same buckets).
    v_res := pg_catalog.make_interval(secs => v_res_s::double precision);
    v_buckets := pg_catalog.ceil(v_window_s / v_res_s);
    IF v_buckets > c_max_buckets THEN
        RAISE EXCEPTION 'get_timeseries: time_window % at resolution % gives % buckets, more than %; pass a coarser resolution',
            v_window, get_timeseries.resolution, v_buckets, c_max_buckets
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_end := pg_catalog.date_bin(v_res, p_now, c_origin) + v_res;
    v_start := v_end - v_res * v_buckets::integer;
    v_level := CASE WHEN v_res_s % 86400 = 0 THEN '1day'
                    WHEN v_res_s % 3600 = 0 THEN '1hour'
                    ELSE '1min' END;

    -- The bound on the work of this call: count the rows it would read, at most cap + 1.
    v_cap := CASE WHEN v_res_s IN (60, 3600) THEN c_max_rows ELSE c_max_merged_rows END;
    SELECT pg_catalog.count(*) INTO v_rows
      FROM (SELECT 1 FROM cachemon.cache_metrics_1min AS m
             WHERE v_level = '1min' AND m.bucket >= v_start AND m.bucket < v_end
               AND (v_impl IS NULL OR m.implementation_type = v_impl)
            UNION ALL
            SELECT 1 FROM cachemon.cache_metrics_1hour AS h
             WHERE v_level = '1hour' AND h.bucket >= v_start AND h.bucket < v_end
               AND (v_impl IS NULL OR h.implementation_type = v_impl)
            UNION ALL
            SELECT 1 FROM cachemon._cache_metrics_1day AS d
             WHERE v_level = '1day' AND d.bucket >= v_start AND d.bucket < v_end
               AND (v_impl IS NULL OR d.implementation_type = v_impl)
            LIMIT v_cap + 1) AS r;
    IF v_rows > v_cap THEN
        RAISE EXCEPTION 'get_timeseries: time_window % at resolution % reads more than % stored rows (buckets times implementations)',
            v_window, v_res, v_cap
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass a shorter time_window, a resolution of 1 minute or 1 hour, or one implementation_type.';
    END IF;

    IF v_res_s = 60 THEN
        RETURN QUERY
        SELECT m.bucket, m.bucket + v_res, m.implementation_type, m.total_events, m.hits,
               m.misses, m.sets, m.evictions, m.errors, m.hit_rate, m.error_rate,
               m.total_events::double precision, m.avg_response_time_ms,
               m.p50_response_time_ms, m.p95_response_time_ms, m.p99_response_time_ms,
               m.max_response_time_ms, m.avg_cache_size, m.max_cache_size, v_level
          FROM cachemon.cache_metrics_1min AS m
         WHERE m.bucket >= v_start AND m.bucket < v_end
           AND (v_impl IS NULL OR m.implementation_type = v_impl)
         ORDER BY m.bucket, m.implementation_type;
        RETURN;
    ELSIF v_res_s = 3600 THEN
        RETURN QUERY
        SELECT h.bucket, h.bucket + v_res, h.implementation_type, h.total_events, h.hits,
               h.misses, h.sets, h.evictions, h.errors, h.hit_rate, h.error_rate,
               h.total_events / 60::double precision, h.avg_response_time_ms,
               h.p50_response_time_ms, h.p95_response_time_ms, h.p99_response_time_ms,
               h.max_response_time_ms, h.avg_cache_size, h.max_cache_size, v_level
          FROM cachemon.cache_metrics_1hour AS h
         WHERE h.bucket >= v_start AND h.bucket < v_end
           AND (v_impl IS NULL OR h.implementation_type = v_impl)
         ORDER BY h.bucket, h.implementation_type;
        RETURN;
    END IF;

    RETURN QUERY
    WITH parts AS MATERIALIZED (
        SELECT pg_catalog.date_bin(v_res, m.bucket, c_origin) AS b, m.implementation_type AS impl,
               m.hits, m.misses, m.sets, m.evictions, m.errors, m.total_events,
               m.latency_count, m.latency_sum, m.max_response_time_ms, m.cache_size_count,
               m.cache_size_sum, m.max_cache_size, m.latency_sketch
          FROM cachemon.cache_metrics_1min AS m
         WHERE v_level = '1min' AND m.bucket >= v_start AND m.bucket < v_end
           AND (v_impl IS NULL OR m.implementation_type = v_impl)
        UNION ALL
        SELECT pg_catalog.date_bin(v_res, h.bucket, c_origin), h.implementation_type,
               h.hits, h.misses, h.sets, h.evictions, h.errors, h.total_events,
               h.latency_count, h.latency_sum, h.max_response_time_ms, h.cache_size_count,
               h.cache_size_sum, h.max_cache_size, h.latency_sketch
          FROM cachemon.cache_metrics_1hour AS h
         WHERE v_level = '1hour' AND h.bucket >= v_start AND h.bucket < v_end
           AND (v_impl IS NULL OR h.implementation_type = v_impl)
        UNION ALL
        SELECT pg_catalog.date_bin(v_res, d.bucket, c_origin), d.implementation_type,
               d.hits, d.misses, d.sets, d.evictions, d.errors, d.total_events,
               d.latency_count, d.latency_sum, d.max_response_time_ms, d.cache_size_count,
               d.cache_size_sum, d.max_cache_size, d.latency_sketch
          FROM cachemon._cache_metrics_1day AS d
         WHERE v_level = '1day' AND d.bucket >= v_start AND d.bucket < v_end
           AND (v_impl IS NULL OR d.implementation_type = v_impl)
    ), agg AS (
        SELECT p.b, p.impl,
               pg_catalog.sum(p.total_events)::bigint AS total_events,
               pg_catalog.sum(p.hits)::bigint AS hits,
               pg_catalog.sum(p.misses)::bigint AS misses,
               pg_catalog.sum(p.sets)::bigint AS sets,
               pg_catalog.sum(p.evictions)::bigint AS evictions,
               pg_catalog.sum(p.errors)::bigint AS errors,
               pg_catalog.sum(p.latency_sum) / NULLIF(pg_catalog.sum(p.latency_count), 0) AS avg_rt,
               pg_catalog.max(p.max_response_time_ms) AS max_rt,
               (pg_catalog.sum(p.cache_size_sum) / NULLIF(pg_catalog.sum(p.cache_size_count), 0))::double precision AS avg_cs,
               pg_catalog.max(p.max_cache_size) AS max_cs,
               pg_catalog.count(p.latency_sketch) AS sketches,
               pg_catalog.sum((p.latency_sketch).zero_count)::bigint AS zero_count
          FROM parts AS p
         GROUP BY p.b, p.impl
    ), keyed AS (
        -- The merge of each bucket's sketches as one flat aggregate (counts summed by key).
        SELECT e.b, e.impl, e.k, pg_catalog.sum(e.n)::bigint AS n
          FROM (SELECT p.b, p.impl,
                       pg_catalog.unnest((p.latency_sketch).keys) AS k,
                       pg_catalog.unnest((p.latency_sketch).counts) AS n
                  FROM parts AS p) AS e
         GROUP BY e.b, e.impl, e.k
    ), running AS (
        -- Running counts by key within a bucket, and the bucket's count of non-zero values.
        SELECT r.b, r.impl, r.k,
               (pg_catalog.sum(r.n) OVER (PARTITION BY r.b, r.impl ORDER BY r.k))::bigint AS upto,
               (pg_catalog.sum(r.n) OVER (PARTITION BY r.b, r.impl))::bigint AS nonzero
          FROM keyed AS r
    ), ranked AS (
        -- The ranks of cachemon.sketch_quantiles (percentile_disc's: ceil(q * n) in double
        -- precision, at least 1) and, for each quantile, the first key whose running count
        -- reaches rank - zeros: the same answer as sketch_quantiles over the merged sketch,
        -- in one pass over all buckets instead of one PL/pgSQL call per bucket.
        SELECT x.b, x.impl, pg_catalog.max(x.total) AS total,
               pg_catalog.min(x.k) FILTER (WHERE x.upto >= x.r50 - x.z) AS k50,
               pg_catalog.min(x.k) FILTER (WHERE x.upto >= x.r95 - x.z) AS k95,
               pg_catalog.min(x.k) FILTER (WHERE x.upto >= x.r99 - x.z) AS k99
          FROM (SELECT r.b, r.impl, r.k, r.upto, a.zero_count AS z,
                       a.zero_count + r.nonzero AS total,
                       GREATEST(1, pg_catalog.ceil(0.5::double precision * (a.zero_count + r.nonzero)::double precision)) AS r50,
                       GREATEST(1, pg_catalog.ceil(0.95::double precision * (a.zero_count + r.nonzero)::double precision)) AS r95,
                       GREATEST(1, pg_catalog.ceil(0.99::double precision * (a.zero_count + r.nonzero)::double precision)) AS r99
                  FROM running AS r
                  JOIN agg AS a ON a.b = r.b AND a.impl = r.impl) AS x
         GROUP BY x.b, x.impl
    )
    SELECT a.b, a.b + v_res, a.impl, a.total_events, a.hits, a.misses, a.sets, a.evictions,
           a.errors,
           cachemon.calculate_hit_rate(a.hits, a.misses),
           100::numeric * a.errors / NULLIF(a.hits + a.misses + a.sets + a.errors, 0),
           a.total_events / (v_res_s / 60)::double precision,
           a.avg_rt,
           CASE WHEN a.sketches = 0 OR coalesce(q.total, a.zero_count) = 0 THEN NULL
                WHEN GREATEST(1, pg_catalog.ceil(0.5::double precision * coalesce(q.total, a.zero_count)::double precision)) <= a.zero_count THEN 0
                ELSE cachemon.sketch_value(q.k50) END,
           CASE WHEN a.sketches = 0 OR coalesce(q.total, a.zero_count) = 0 THEN NULL
                WHEN GREATEST(1, pg_catalog.ceil(0.95::double precision * coalesce(q.total, a.zero_count)::double precision)) <= a.zero_count THEN 0
                ELSE cachemon.sketch_value(q.k95) END,
           CASE WHEN a.sketches = 0 OR coalesce(q.total, a.zero_count) = 0 THEN NULL
                WHEN GREATEST(1, pg_catalog.ceil(0.99::double precision * coalesce(q.total, a.zero_count)::double precision)) <= a.zero_count THEN 0
                ELSE cachemon.sketch_value(q.k99) END,
           a.max_rt, a.avg_cs, a.max_cs, v_level
      FROM agg AS a
      LEFT JOIN ranked AS q ON q.b = a.b AND q.impl = a.impl
     ORDER BY a.b, a.impl;
END
$function$;

COMMENT ON FUNCTION cachemon.get_timeseries(interval, interval, text, timestamptz) IS
    'Time series per bucket and implementation (or the one named) over the ceil(time_window / resolution) buckets ending with the one holding p_now (at most 10,000; buckets aligned on 2000-01-01 UTC): counts, hit and error rate, events per minute, average and p50/p95/p99/max response time, cache size. Reads cache_metrics_1min, cache_metrics_1hour or _cache_metrics_1day by resolution; coarser buckets merge latency sketches (true percentiles within 0.55%). resolution NULL: finest of 1 minute/1 hour/1 day with at most 1,500 buckets. Only buckets with data are returned. Bounded work: p_now within [now() - retention.1hour, now() + 1 day] (no infinity); a call that would read more than 100,000 stored rows (20,000 when merging into coarser buckets), whatever the number of implementations, is refused before any aggregation.';

REVOKE ALL ON FUNCTION cachemon.get_timeseries(interval, interval, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.get_timeseries(interval, interval, text, timestamptz)
    TO cachemon_reader, cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon._performance_summary(
    p_implementation_type text,
    p_time_window interval,
    p_now timestamptz
)
RETURNS TABLE (
    implementation_type text,
    window_start timestamptz,
    window_end timestamptz,
    total_events bigint,
    hits bigint,
    misses bigint,
    sets bigint,
    evictions bigint,
    errors bigint,
    hit_rate numeric,
    error_rate numeric,
    avg_response_time_ms double precision,
    p50_response_time_ms double precision,
    p95_response_time_ms double precision,
    p99_response_time_ms double precision,
    max_response_time_ms double precision,
    avg_cache_size double precision,
    max_cache_size bigint
)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    v_end timestamptz := pg_catalog.date_bin('1 minute', p_now, '2000-01-01 00:00:00+00');
    v_start timestamptz := v_end - p_time_window;
    v_hour_start timestamptz;
    v_hour_end timestamptz;
    v_day_start timestamptz;
    v_day_end timestamptz;
    c_max_rows constant integer := 100000;
    v_rows bigint;
BEGIN
    /*
     * The body of cachemon.get_cache_performance_summary (a LANGUAGE sql wrapper, because its
     * parameter implementation_type is also an output column, which PL/pgSQL refuses).
     * The seed's summary over the whole minutes of [p_now - p_time_window, p_now), one row per
     * implementation (or only the one named). Whole UTC days of the window are read from the
     * internal cachemon._cache_metrics_1day (each row the merge of its hours, kept by tick),
     * the whole hours at the ragged ends from cache_metrics_1hour and the ragged minutes from
     * cache_metrics_1min, so a 30-day window reads about 29 daily rows, at most 46 hourly rows
     * and 118 minutes per implementation (~45k sketch keys instead of ~490k). Counts, rates,
     * averages and maxima are exact sums; p50/p95/p99 come from the merged latency sketches
     * (within 0.55% of percentile_disc over the window's events). Reflects what tick() has
     * rolled up. A non-positive window returns no rows.
     *
     * The work of one call is bounded, whoever calls it and however many implementations
     * the writer created: p_now must lie within [now() - retention.1hour, now() + 1 day]
     * (cachemon._check_now; 'infinity' and '-infinity' are refused), and the stored rows it
     * would read are counted first along the levels' unique indexes, stopping one past
     * 100,000 (about 177 implementations over 400 days): more is an error naming the cap,
     * before any sketch is merged.
     */
    PERFORM cachemon._check_now(p_now,
        pg_catalog.now() - cachemon._setting('retention.1hour')::interval);
    IF p_time_window IS NULL OR p_time_window <= interval '0' THEN
        RETURN;
    END IF;
    v_hour_start := pg_catalog.date_bin('1 hour', v_start, '2000-01-01 00:00:00+00');
    IF v_hour_start < v_start THEN
        v_hour_start := v_hour_start + interval '1 hour';
    END IF;
    v_hour_end := pg_catalog.date_bin('1 hour', v_end, '2000-01-01 00:00:00+00');
    IF v_hour_start >= v_hour_end THEN
        -- No whole hour inside: minutes only.
        v_hour_start := v_end;
        v_hour_end := v_end;
    END IF;
    -- Whole UTC days inside the whole hours (the day table's buckets are UTC midnights).
    v_day_start := pg_catalog.date_bin('1 day', v_hour_start, '2000-01-01 00:00:00+00');
    IF v_day_start < v_hour_start THEN
        v_day_start := v_day_start + interval '1 day';
    END IF;
    v_day_end := pg_catalog.date_bin('1 day', v_hour_end, '2000-01-01 00:00:00+00');
    IF v_day_start >= v_day_end THEN
        -- No whole day inside: hours (and minutes) only.
        v_day_start := v_hour_end;
        v_day_end := v_hour_end;
    END IF;

    SELECT pg_catalog.count(*) INTO v_rows
      FROM (SELECT 1 FROM cachemon.cache_metrics_1min AS m
             WHERE ((m.bucket >= v_start AND m.bucket < v_hour_start)
                    OR (m.bucket >= v_hour_end AND m.bucket < v_end))
               AND (p_implementation_type IS NULL OR m.implementation_type = p_implementation_type)
            UNION ALL
            SELECT 1 FROM cachemon.cache_metrics_1hour AS h
             WHERE ((h.bucket >= v_hour_start AND h.bucket < v_day_start)
                    OR (h.bucket >= v_day_end AND h.bucket < v_hour_end))
               AND (p_implementation_type IS NULL OR h.implementation_type = p_implementation_type)
            UNION ALL
            SELECT 1 FROM cachemon._cache_metrics_1day AS d
             WHERE d.bucket >= v_day_start AND d.bucket < v_day_end
               AND (p_implementation_type IS NULL OR d.implementation_type = p_implementation_type)
            LIMIT c_max_rows + 1) AS r;
    IF v_rows > c_max_rows THEN
        RAISE EXCEPTION 'get_cache_performance_summary: time_window % reads more than % stored rows (implementations times days, hours and minutes)',
            p_time_window, c_max_rows
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass a shorter time_window or one implementation_type.';
    END IF;

    RETURN QUERY
    WITH parts AS MATERIALIZED (
        SELECT m.implementation_type AS impl, m.hits, m.misses, m.sets, m.evictions, m.errors,
               m.total_events, m.latency_count, m.latency_sum, m.max_response_time_ms,
               m.cache_size_count, m.cache_size_sum, m.max_cache_size, m.latency_sketch
          FROM cachemon.cache_metrics_1min AS m
         WHERE ((m.bucket >= v_start AND m.bucket < v_hour_start)
                OR (m.bucket >= v_hour_end AND m.bucket < v_end))
           AND (p_implementation_type IS NULL
                OR m.implementation_type = p_implementation_type)
        UNION ALL
        SELECT h.implementation_type, h.hits, h.misses, h.sets, h.evictions, h.errors,
               h.total_events, h.latency_count, h.latency_sum, h.max_response_time_ms,
               h.cache_size_count, h.cache_size_sum, h.max_cache_size, h.latency_sketch
          FROM cachemon.cache_metrics_1hour AS h
         WHERE ((h.bucket >= v_hour_start AND h.bucket < v_day_start)
                OR (h.bucket >= v_day_end AND h.bucket < v_hour_end))
           AND (p_implementation_type IS NULL
                OR h.implementation_type = p_implementation_type)
        UNION ALL
        SELECT d.implementation_type, d.hits, d.misses, d.sets, d.evictions, d.errors,
               d.total_events, d.latency_count, d.latency_sum, d.max_response_time_ms,
               d.cache_size_count, d.cache_size_sum, d.max_cache_size, d.latency_sketch
          FROM cachemon._cache_metrics_1day AS d
         WHERE d.bucket >= v_day_start AND d.bucket < v_day_end
           AND (p_implementation_type IS NULL
                OR d.implementation_type = p_implementation_type)
    ), agg AS (
        SELECT p.impl,
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
         GROUP BY p.impl
    ), merged AS (
        -- The merge of all the sketches of an implementation as one flat aggregate (every
        -- key and count, summed by key): what cachemon.sketch_merge returns, without a
        -- PL/pgSQL call and array copy per row. unnest in the select list (ProjectSet) is
        -- cheaper per element than a LATERAL function scan.
        SELECT g.impl,
               pg_catalog.array_agg(g.k ORDER BY g.k) AS keys,
               pg_catalog.array_agg(g.n ORDER BY g.k) AS counts
          FROM (SELECT e.impl, e.k, pg_catalog.sum(e.n)::bigint AS n
                  FROM (SELECT p.impl,
                               pg_catalog.unnest((p.latency_sketch).keys) AS k,
                               pg_catalog.unnest((p.latency_sketch).counts) AS n
                          FROM parts AS p) AS e
                 GROUP BY e.impl, e.k) AS g
         GROUP BY g.impl
    )
    SELECT a.impl, v_start, v_end, a.total_events, a.hits, a.misses, a.sets, a.evictions,
           a.errors,
           cachemon.calculate_hit_rate(a.hits, a.misses),
           100::numeric * a.errors / NULLIF(a.hits + a.misses + a.sets + a.errors, 0),
           a.avg_rt, q.pct[1], q.pct[2], q.pct[3], a.max_rt, a.avg_cs, a.max_cs
      FROM agg AS a
      LEFT JOIN merged AS mg ON mg.impl = a.impl
     CROSS JOIN LATERAL (
        SELECT cachemon.sketch_quantiles(
                   CASE WHEN a.sketches > 0 THEN
                       ROW(a.zero_count, coalesce(mg.keys, '{}'), coalesce(mg.counts, '{}'))::cachemon.ddsketch
                   END,
                   ARRAY[0.5, 0.95, 0.99]) AS pct
     ) AS q
     ORDER BY a.impl;
END
$function$;

COMMENT ON FUNCTION cachemon._performance_summary(text, interval, timestamptz) IS
    'Internal: the rows of cachemon.get_cache_performance_summary (daily rows of _cache_metrics_1day for whole UTC days, hourly rows for the remaining whole hours, minutes for the ends, merged sketches). Bounded work: p_now within [now() - retention.1hour, now() + 1 day] (no infinity); more than 100,000 stored rows to read is refused before any merge.';

REVOKE ALL ON FUNCTION cachemon._performance_summary(text, interval, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._performance_summary(text, interval, timestamptz)
    TO cachemon_reader, cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon._rollup_store(
    p_table   text,
    p_buckets timestamptz[],
    p_impls   text[],
    p_rows    cachemon._rollup_row[]
)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $function$
DECLARE
    v_derived boolean;
    v_cols    text[] := ARRAY['bucket', 'implementation_type', 'hits', 'misses', 'sets',
        'evictions', 'errors', 'total_events', 'latency_count', 'latency_sum',
        'max_response_time_ms', 'cache_size_count', 'cache_size_sum', 'max_cache_size',
        'latency_sketch', 'latency_sketch_converted', 'updated_at'];
    v_exprs   text[] := ARRAY['r.bucket', 'r.implementation_type', 'r.hits', 'r.misses',
        'r.sets', 'r.evictions', 'r.errors', 'r.total_events', 'r.latency_count',
        'r.latency_sum', 'r.max_response_time_ms', 'r.cache_size_count', 'r.cache_size_sum',
        'r.max_cache_size', 'r.latency_sketch', 'coalesce(r.latency_sketch_converted, false)',
        'pg_catalog.clock_timestamp()'];
    v_rows    integer;
BEGIN
    /*
     * The one upsert of every rollup level: writes p_rows into p_table (cache_metrics_1min,
     * cache_metrics_1hour or _cache_metrics_1day) and deletes the rows of the given
     * (bucket, implementation) pairs (parallel arrays) that p_rows does not hold (a bucket
     * without events left loses its row). The 1-minute and 1-hour tables also get the
     * columns derived from the sums (the contract's definitions): hit_rate = 100 * hits /
     * (hits + misses), error_rate = 100 * errors / (hits + misses + sets + errors),
     * avg_response_time_ms, the three percentiles as given, avg_cache_size; the 1-minute
     * table also percentiles_exact (raw events only, or from the sketch with edge rows), and
     * every level latency_sketch_converted. Returns the rows written or deleted.
     *
     * Dynamic SQL only for the table name, from a fixed list (format %I); every value is a
     * parameter. Arithmetic is safe for every value the domains of cache_metrics admit
     * (latency sums stay far below double precision's range; cache size sums are numeric).
     */
    IF p_table NOT IN ('cache_metrics_1min', 'cache_metrics_1hour', '_cache_metrics_1day') THEN
        RAISE EXCEPTION 'cachemon._rollup_store: unknown rollup table %', p_table
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_derived := p_table <> '_cache_metrics_1day';
    IF v_derived THEN
        v_cols := v_cols || ARRAY['hit_rate', 'error_rate', 'avg_response_time_ms',
            'p50_response_time_ms', 'p95_response_time_ms', 'p99_response_time_ms',
            'avg_cache_size'];
        v_exprs := v_exprs || ARRAY['cachemon.calculate_hit_rate(r.hits, r.misses)',
            '100::numeric * r.errors / NULLIF(r.hits + r.misses + r.sets + r.errors, 0)',
            'r.latency_sum / NULLIF(r.latency_count, 0)',
            'r.p50_response_time_ms', 'r.p95_response_time_ms', 'r.p99_response_time_ms',
            '(r.cache_size_sum / NULLIF(r.cache_size_count, 0))::double precision'];
    END IF;
    IF p_table = 'cache_metrics_1min' THEN
        v_cols := v_cols || ARRAY['percentiles_exact'];
        v_exprs := v_exprs || ARRAY['r.percentiles_exact'];
    END IF;

    EXECUTE pg_catalog.format(
        $sql$
        WITH k AS (
            SELECT u.bucket, u.implementation_type
              FROM ROWS FROM (pg_catalog.unnest($1::timestamptz[]), pg_catalog.unnest($2::text[]))
                   AS u(bucket, implementation_type)
        ), r AS (
            SELECT * FROM pg_catalog.unnest($3::cachemon._rollup_row[])
        ), up AS (
            INSERT INTO cachemon.%1$I AS t (%2$s)
            SELECT %3$s FROM r
            ON CONFLICT (bucket, implementation_type) DO UPDATE SET %4$s
            RETURNING 1
        ), emptied AS (
            DELETE FROM cachemon.%1$I AS t
             USING k
             WHERE t.bucket = k.bucket AND t.implementation_type = k.implementation_type
               AND NOT EXISTS (SELECT FROM r
                                WHERE r.bucket = k.bucket
                                  AND r.implementation_type = k.implementation_type)
            RETURNING 1
        )
        SELECT ((SELECT pg_catalog.count(*) FROM up) + (SELECT pg_catalog.count(*) FROM emptied))::integer
        $sql$,
        p_table,
        pg_catalog.array_to_string(v_cols, ', '),
        pg_catalog.array_to_string(v_exprs, ', '),
        (SELECT pg_catalog.string_agg(pg_catalog.format('%1$I = EXCLUDED.%1$I', c), ', ')
           FROM pg_catalog.unnest(v_cols[3:]) AS c))
      INTO v_rows
      USING p_buckets, p_impls, p_rows;
    RETURN v_rows;
END
$function$;

COMMENT ON FUNCTION cachemon._rollup_store(text, timestamptz[], text[], cachemon._rollup_row[]) IS
    'Internal: the one upsert of all rollup levels: writes the given rows into cache_metrics_1min, cache_metrics_1hour or _cache_metrics_1day (with the derived rates, averages and percentiles where the table has them) and deletes the rows of the given (bucket, implementation) pairs that have no row left. Returns rows written or deleted.';

REVOKE ALL ON FUNCTION cachemon._rollup_store(text, timestamptz[], text[], cachemon._rollup_row[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rollup_store(text, timestamptz[], text[], cachemon._rollup_row[]) TO cachemon_admin;

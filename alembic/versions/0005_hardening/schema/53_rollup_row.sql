-- One rolled-up (bucket, implementation) row as the rollup steps hand it to
-- cachemon._rollup_store(), the one upsert of the 1-minute, 1-hour and 1-day levels: sums,
-- maxima, the latency sketch and (1-minute: exact; 1-hour: from the sketch) percentiles.
CREATE TYPE cachemon._rollup_row AS (
    bucket               timestamptz,
    implementation_type  text,
    hits                 bigint,
    misses               bigint,
    sets                 bigint,
    evictions            bigint,
    errors               bigint,
    total_events         bigint,
    latency_count        bigint,
    latency_sum          double precision,
    max_response_time_ms double precision,
    cache_size_count     bigint,
    cache_size_sum       numeric,
    max_cache_size       bigint,
    latency_sketch       cachemon.ddsketch,
    p50_response_time_ms double precision,
    p95_response_time_ms double precision,
    p99_response_time_ms double precision
);
COMMENT ON TYPE cachemon._rollup_row IS
    'Internal: one rolled-up (bucket, implementation) row handed to cachemon._rollup_store() by the minute, hour and day steps';

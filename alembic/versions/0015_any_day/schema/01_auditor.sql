-- The rules take their statistics as arguments now: the two-argument rule functions and
-- the statistics functions whose result type changes go first (the functions step
-- creates them again).
DROP FUNCTION cachemon._rule_anomaly(timestamptz, interval);
DROP FUNCTION cachemon._rule_capacity(timestamptz, interval);
DROP FUNCTION cachemon._rule_error_rate(timestamptz, interval);
DROP FUNCTION cachemon._rule_hit_rate_drop(timestamptz, interval);
DROP FUNCTION cachemon._rule_migration(timestamptz, interval);
DROP FUNCTION cachemon._rule_no_data(timestamptz, interval);
DROP FUNCTION cachemon._rule_response_time(timestamptz, interval);
DROP FUNCTION cachemon._window_stats(timestamptz, timestamptz);
DROP FUNCTION cachemon._window_stats_compute(timestamptz, timestamptz);

-- What the auditor's rules judge, passed to them explicitly as arrays of these row types
-- (cachemon._audit_judgement computes them once per run; no temporary table).

-- One row per implementation and window (all windows end at the evaluated minute; minutes
-- is the window's length). The one definition of the window statistics: cachemon._window_stats
-- returns it, and the rules take cachemon._window_stat[].
CREATE TYPE cachemon._window_stat AS (
    implementation_type text,
    minutes integer,
    data_minutes integer,
    pending_minutes integer,
    hits bigint,
    lookups bigint,
    errors bigint,
    operations bigint,
    evictions bigint,
    latency_count bigint,
    hit_rate double precision,
    error_rate double precision,
    eviction_rate double precision,
    requests_per_minute double precision,
    avg_response_time_ms double precision,
    p50_response_time_ms double precision,
    p95_response_time_ms double precision,
    p99_response_time_ms double precision,
    avg_cache_size double precision,
    loo_hits bigint,
    loo_lookups bigint,
    loo_errors bigint,
    loo_operations bigint,
    loo_evictions bigint,
    loo_eviction_lookups bigint,
    loo_latency_count bigint,
    loo_avg_response_time_ms double precision,
    loo_p50_response_time_ms double precision,
    loo_p95_response_time_ms double precision,
    loo_p99_response_time_ms double precision,
    loo_p50_lower_ms double precision,
    loo_p95_lower_ms double precision,
    loo_p99_lower_ms double precision,
    last_bucket timestamptz
);
COMMENT ON TYPE cachemon._window_stat IS
    'Statistics of one implementation over one window that ends at the evaluated minute (cachemon._window_stats); the rules take an array of them';

-- One row per implementation and metric of the sequential test (cachemon._cusum_compute).
CREATE TYPE cachemon._cusum_stat AS (
    implementation_type text,
    metric text,
    design text,
    statistic double precision,
    threshold double precision,
    segment_start timestamptz,
    segment_minutes integer,
    events double precision,
    exceedances double precision,
    expected_exceedances double precision,
    observed double precision,
    base double precision,
    recent double precision,
    recovery double precision
);
COMMENT ON TYPE cachemon._cusum_stat IS
    'The sequential test of one implementation and metric as of the evaluated instant (cachemon._cusum_compute); the rules take an array of them';

COMMENT ON TYPE cachemon._finding IS
    'Row shape of every auditor rule function cachemon._rule_<rule>(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[])';

-- Per-hour rollup per implementation, merged from cache_metrics_1min; written only by tick().
CREATE TABLE cachemon.cache_metrics_1hour (
    bucket                timestamptz      NOT NULL,
    implementation_type   text             NOT NULL,
    hits                  bigint           NOT NULL DEFAULT 0,
    misses                bigint           NOT NULL DEFAULT 0,
    sets                  bigint           NOT NULL DEFAULT 0,
    evictions             bigint           NOT NULL DEFAULT 0,
    errors                bigint           NOT NULL DEFAULT 0,
    total_events          bigint           NOT NULL DEFAULT 0,
    hit_rate              numeric,
    error_rate            numeric,
    avg_response_time_ms  double precision,
    p50_response_time_ms  double precision,
    p95_response_time_ms  double precision,
    p99_response_time_ms  double precision,
    max_response_time_ms  double precision,
    avg_cache_size        double precision,
    max_cache_size        bigint,
    latency_count         bigint           NOT NULL DEFAULT 0,
    latency_sum           double precision NOT NULL DEFAULT 0,
    cache_size_count      bigint           NOT NULL DEFAULT 0,
    cache_size_sum        numeric          NOT NULL DEFAULT 0,
    updated_at            timestamptz      NOT NULL DEFAULT pg_catalog.now(),
    latency_sketch        cachemon.ddsketch,
    CONSTRAINT cache_metrics_1hour_bucket_implementation_type_key
        UNIQUE (bucket, implementation_type),
    CONSTRAINT cache_metrics_1hour_bucket_aligned
        CHECK (bucket = pg_catalog.date_trunc('hour', bucket, 'UTC')),
    CONSTRAINT cache_metrics_1hour_counts_check
        CHECK (hits >= 0 AND misses >= 0 AND sets >= 0 AND evictions >= 0 AND errors >= 0
               AND total_events = hits + misses + sets + evictions + errors),
    CONSTRAINT cache_metrics_1hour_hit_rate_check CHECK (hit_rate BETWEEN 0 AND 100),
    CONSTRAINT cache_metrics_1hour_error_rate_check CHECK (error_rate BETWEEN 0 AND 100),
    CONSTRAINT cache_metrics_1hour_latency_check
        CHECK (latency_count >= 0 AND latency_sum >= 0 AND max_response_time_ms >= 0),
    CONSTRAINT cache_metrics_1hour_cache_size_check
        CHECK (cache_size_count >= 0 AND max_cache_size >= 0)
);

COMMENT ON TABLE cachemon.cache_metrics_1hour IS
    'Per-hour rollup per implementation (counts, hit and error rates, latency percentiles, cache size); kept 1 year by default';
COMMENT ON COLUMN cachemon.cache_metrics_1hour.bucket IS 'Start of the hour (UTC)';
COMMENT ON COLUMN cachemon.cache_metrics_1hour.hit_rate IS '100 * hits / (hits + misses); NULL without lookups';
COMMENT ON COLUMN cachemon.cache_metrics_1hour.error_rate IS
    '100 * errors / (hits + misses + sets + errors); NULL when that is 0';
COMMENT ON COLUMN cachemon.cache_metrics_1hour.latency_count IS 'Events that carried a response_time_ms';
COMMENT ON COLUMN cachemon.cache_metrics_1hour.cache_size_count IS 'Events that carried a cache_size';
COMMENT ON COLUMN cachemon.cache_metrics_1hour.latency_sketch IS
    'Latency sketch of the hour: the merge of its minutes'' sketches';

ALTER TABLE cachemon.cache_metrics_1hour ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon.cache_metrics_1hour FROM PUBLIC;
GRANT SELECT ON cachemon.cache_metrics_1hour TO cachemon_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON cachemon.cache_metrics_1hour TO cachemon_admin;
CREATE POLICY cache_metrics_1hour_reader_select ON cachemon.cache_metrics_1hour
    FOR SELECT TO cachemon_reader USING (true);
CREATE POLICY cache_metrics_1hour_admin_all ON cachemon.cache_metrics_1hour
    FOR ALL TO cachemon_admin USING (true) WITH CHECK (true);

-- Per-minute rollup of cache_metrics per implementation; written only by tick().
CREATE TABLE cachemon.cache_metrics_1min (
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
    CONSTRAINT cache_metrics_1min_bucket_implementation_type_key
        UNIQUE (bucket, implementation_type),
    CONSTRAINT cache_metrics_1min_bucket_aligned
        CHECK (bucket = pg_catalog.date_trunc('minute', bucket, 'UTC')),
    CONSTRAINT cache_metrics_1min_counts_check
        CHECK (hits >= 0 AND misses >= 0 AND sets >= 0 AND evictions >= 0 AND errors >= 0
               AND total_events = hits + misses + sets + evictions + errors),
    CONSTRAINT cache_metrics_1min_hit_rate_check CHECK (hit_rate BETWEEN 0 AND 100),
    CONSTRAINT cache_metrics_1min_error_rate_check CHECK (error_rate BETWEEN 0 AND 100),
    CONSTRAINT cache_metrics_1min_latency_check
        CHECK (latency_count >= 0 AND latency_sum >= 0 AND max_response_time_ms >= 0),
    CONSTRAINT cache_metrics_1min_cache_size_check
        CHECK (cache_size_count >= 0 AND max_cache_size >= 0)
);

COMMENT ON TABLE cachemon.cache_metrics_1min IS
    'Per-minute rollup per implementation (counts, hit and error rates, latency percentiles, cache size); kept 30 days by default';
COMMENT ON COLUMN cachemon.cache_metrics_1min.bucket IS 'Start of the minute (UTC)';
COMMENT ON COLUMN cachemon.cache_metrics_1min.hit_rate IS '100 * hits / (hits + misses); NULL without lookups';
COMMENT ON COLUMN cachemon.cache_metrics_1min.error_rate IS
    '100 * errors / (hits + misses + sets + errors); NULL when that is 0';
COMMENT ON COLUMN cachemon.cache_metrics_1min.latency_count IS 'Events that carried a response_time_ms';
COMMENT ON COLUMN cachemon.cache_metrics_1min.cache_size_count IS 'Events that carried a cache_size';
COMMENT ON COLUMN cachemon.cache_metrics_1min.latency_sketch IS
    'Latency sketch of the minute''s response times (merge across rows with cachemon.sketch_merge)';

ALTER TABLE cachemon.cache_metrics_1min ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon.cache_metrics_1min FROM PUBLIC;
GRANT SELECT ON cachemon.cache_metrics_1min TO cachemon_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON cachemon.cache_metrics_1min TO cachemon_admin;
CREATE POLICY cache_metrics_1min_reader_select ON cachemon.cache_metrics_1min
    FOR SELECT TO cachemon_reader USING (true);
CREATE POLICY cache_metrics_1min_admin_all ON cachemon.cache_metrics_1min
    FOR ALL TO cachemon_admin USING (true) WITH CHECK (true);

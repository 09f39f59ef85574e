-- Per-UTC-day pre-merged rollup per implementation, internal: the merge of that day's rows of
-- cache_metrics_1hour (sums, maxima, merged latency sketch). It exists only so that a long
-- summary window (30 days) merges ~30 daily sketches instead of ~720 hourly ones per
-- implementation (docs/rollups.md, "The summary"). Written only by cachemon._rollup_days(),
-- which tick() calls for the days of the hours it recomputes (same transaction, so every row
-- equals the merge of its hours whenever the hours are committed), and which run_maintenance()
-- calls for the day cut by retention.1hour. Rates, averages and percentiles are not stored:
-- the summary derives them from the sums and the merged sketch of its whole window.
CREATE TABLE cachemon._cache_metrics_1day (
    bucket                timestamptz      NOT NULL,
    implementation_type   text             NOT NULL,
    hits                  bigint           NOT NULL DEFAULT 0,
    misses                bigint           NOT NULL DEFAULT 0,
    sets                  bigint           NOT NULL DEFAULT 0,
    evictions             bigint           NOT NULL DEFAULT 0,
    errors                bigint           NOT NULL DEFAULT 0,
    total_events          bigint           NOT NULL DEFAULT 0,
    latency_count         bigint           NOT NULL DEFAULT 0,
    latency_sum           double precision NOT NULL DEFAULT 0,
    max_response_time_ms  double precision,
    cache_size_count      bigint           NOT NULL DEFAULT 0,
    cache_size_sum        numeric          NOT NULL DEFAULT 0,
    max_cache_size        bigint,
    latency_sketch        cachemon.ddsketch,
    updated_at            timestamptz      NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT _cache_metrics_1day_pkey PRIMARY KEY (bucket, implementation_type),
    CONSTRAINT _cache_metrics_1day_bucket_aligned
        CHECK (bucket = pg_catalog.date_trunc('day', bucket, 'UTC')),
    CONSTRAINT _cache_metrics_1day_counts_check
        CHECK (hits >= 0 AND misses >= 0 AND sets >= 0 AND evictions >= 0 AND errors >= 0
               AND total_events = hits + misses + sets + evictions + errors)
);

COMMENT ON TABLE cachemon._cache_metrics_1day IS
    'Internal: per-UTC-day merge of cache_metrics_1hour per implementation (sums, maxima, merged latency sketch), kept by tick() via cachemon._rollup_days(); read by the summary for the whole days of long windows. Trimmed with retention.1hour.';
COMMENT ON COLUMN cachemon._cache_metrics_1day.bucket IS 'Start of the day (00:00 UTC)';
COMMENT ON COLUMN cachemon._cache_metrics_1day.latency_sketch IS
    'Merge of the day''s hourly latency sketches (NULL when no hour had a latency)';

ALTER TABLE cachemon._cache_metrics_1day ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon._cache_metrics_1day FROM PUBLIC;
GRANT SELECT ON cachemon._cache_metrics_1day TO cachemon_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON cachemon._cache_metrics_1day TO cachemon_admin;
CREATE POLICY _cache_metrics_1day_reader_select ON cachemon._cache_metrics_1day
    FOR SELECT TO cachemon_reader USING (true);
CREATE POLICY _cache_metrics_1day_admin_all ON cachemon._cache_metrics_1day
    FOR ALL TO cachemon_admin USING (true) WITH CHECK (true);

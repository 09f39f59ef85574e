-- Baseline statistics per implementation, computed by compute_baseline(); one active row
-- per implementation.
CREATE TABLE cachemon.cache_baseline_metrics (
    id                            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    implementation_type           text             NOT NULL,
    window_start                  timestamptz      NOT NULL,
    window_end                    timestamptz      NOT NULL,
    sample_minutes                integer          NOT NULL,
    is_active                     boolean          NOT NULL DEFAULT true,
    created_at                    timestamptz      NOT NULL DEFAULT pg_catalog.now(),
    hit_rate_mean                 double precision,
    hit_rate_stddev               double precision,
    error_rate_mean               double precision,
    error_rate_stddev             double precision,
    avg_response_time_ms_mean     double precision,
    avg_response_time_ms_stddev   double precision,
    p95_response_time_ms_mean     double precision,
    p95_response_time_ms_stddev   double precision,
    requests_per_minute_mean      double precision,
    requests_per_minute_stddev    double precision,
    excluded_minutes              integer          NOT NULL DEFAULT 0,
    statistics                    jsonb            NOT NULL DEFAULT '{}'::jsonb,
    hourly_profile                jsonb,
    CONSTRAINT cache_baseline_metrics_implementation_type_check
        CHECK (pg_catalog.length(implementation_type) BETWEEN 1 AND 64),
    CONSTRAINT cache_baseline_metrics_window_check CHECK (window_start < window_end),
    CONSTRAINT cache_baseline_metrics_sample_minutes_check CHECK (sample_minutes >= 0),
    CONSTRAINT cache_baseline_metrics_stddev_check
        CHECK (hit_rate_stddev >= 0 AND error_rate_stddev >= 0
               AND avg_response_time_ms_stddev >= 0 AND p95_response_time_ms_stddev >= 0)
);

CREATE UNIQUE INDEX cache_baseline_metrics_one_active_idx
    ON cachemon.cache_baseline_metrics (implementation_type) WHERE is_active;

COMMENT ON TABLE cachemon.cache_baseline_metrics IS
    'Baseline statistics per implementation from cache_metrics_1min; at most one active row per implementation';
COMMENT ON COLUMN cachemon.cache_baseline_metrics.requests_per_minute_mean IS
    'Mean operations (hits + misses + sets + errors) per usable minute';
COMMENT ON COLUMN cachemon.cache_baseline_metrics.excluded_minutes IS
    'Minutes of the window with data but fewer operations than baseline.min_requests_per_minute';
COMMENT ON COLUMN cachemon.cache_baseline_metrics.statistics IS
    'Per metric: n, mean, stddev, median, mad (raw), mean_abs_dev, min, max; plus the settings used';
COMMENT ON COLUMN cachemon.cache_baseline_metrics.hourly_profile IS
    'Per metric, the median per UTC hour of day ("0".."23"); NULL when the window covers too few days';

ALTER TABLE cachemon.cache_baseline_metrics ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon.cache_baseline_metrics FROM PUBLIC;
GRANT SELECT ON cachemon.cache_baseline_metrics TO cachemon_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON cachemon.cache_baseline_metrics TO cachemon_admin;
CREATE POLICY cache_baseline_metrics_reader_select ON cachemon.cache_baseline_metrics
    FOR SELECT TO cachemon_reader USING (true);
CREATE POLICY cache_baseline_metrics_admin_all ON cachemon.cache_baseline_metrics
    FOR ALL TO cachemon_admin USING (true) WITH CHECK (true);

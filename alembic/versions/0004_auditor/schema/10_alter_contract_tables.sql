-- Columns the auditor adds to two contract tables (mirrored in sql/schema/13_ and 14_).
ALTER TABLE cachemon.cache_baseline_metrics
    ADD COLUMN requests_per_minute_mean   double precision,
    ADD COLUMN requests_per_minute_stddev double precision,
    ADD COLUMN excluded_minutes           integer NOT NULL DEFAULT 0,
    ADD COLUMN statistics                 jsonb   NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN hourly_profile             jsonb;
COMMENT ON COLUMN cachemon.cache_baseline_metrics.requests_per_minute_mean IS
    'Mean operations (hits + misses + sets + errors) per usable minute';
COMMENT ON COLUMN cachemon.cache_baseline_metrics.excluded_minutes IS
    'Minutes of the window with data but fewer operations than baseline.min_requests_per_minute';
COMMENT ON COLUMN cachemon.cache_baseline_metrics.statistics IS
    'Per metric: n, mean, stddev, median, mad (raw), mean_abs_dev, min, max; plus the settings used';
COMMENT ON COLUMN cachemon.cache_baseline_metrics.hourly_profile IS
    'Per metric, the median per UTC hour of day ("0".."23"); NULL when the window covers too few days';

ALTER TABLE cachemon.cache_auditor_observations
    ADD COLUMN resolved_by text,
    ADD CONSTRAINT cache_auditor_observations_resolved_by_length
        CHECK (pg_catalog.length(resolved_by) BETWEEN 1 AND 200);
COMMENT ON COLUMN cachemon.cache_auditor_observations.resolved_by IS
    'Who resolved the finding: a person (resolve_observation) or ''auditor'' (condition cleared)';

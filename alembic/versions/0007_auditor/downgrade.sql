-- Undo 0007_auditor: functions it added and its settings (changed functions are put back
-- from their 0004 copies automatically).
DROP FUNCTION IF EXISTS cachemon.migration_verdict(text, text, interval, timestamptz);
DROP FUNCTION IF EXISTS cachemon._window_stats(timestamptz, timestamptz);
DROP FUNCTION IF EXISTS cachemon._baseline_pooled(text, timestamptz, timestamptz, integer, boolean);
DROP FUNCTION IF EXISTS cachemon._baseline_pooled_at(cachemon.cache_baseline_metrics, text, timestamptz);
DROP FUNCTION IF EXISTS cachemon._auditor_windows(interval);
DROP FUNCTION IF EXISTS cachemon._poisson_z(double precision, double precision);
DROP FUNCTION IF EXISTS cachemon._related_suffix(jsonb);
DELETE FROM cachemon._settings
 WHERE name IN ('auditor.windows', 'auditor.open_after_critical', 'verdict.min_requests', 'verdict.confidence',
                'verdict.pass_score', 'verdict.marginal_score');
DROP FUNCTION IF EXISTS cachemon._queued_buckets(timestamptz, timestamptz);
DROP FUNCTION IF EXISTS cachemon._migration_verdict(text, text, interval, timestamptz);
DROP FUNCTION IF EXISTS cachemon._window_stats_compute(timestamptz, timestamptz);
UPDATE cachemon._auditor_rules
   SET params = pg_catalog.jsonb_set(params, '{metrics}',
           (params -> 'metrics') || '["avg_response_time_ms"]'::jsonb)
 WHERE rule = 'anomaly' AND params ? 'metrics';
UPDATE cachemon._auditor_rules
   SET description = 'Average or p95 response time above the baseline (hour-of-day median) by more than the threshold'
 WHERE rule = 'response_time';
UPDATE cachemon._auditor_rules SET min_requests = 200 WHERE rule = 'error_rate' AND min_requests = 50;
DELETE FROM cachemon._setting_rules
 WHERE name IN ('auditor.windows', 'auditor.open_after_critical', 'verdict.min_requests', 'verdict.confidence',
                'verdict.pass_score', 'verdict.marginal_score');
ALTER TABLE cachemon._setting_rules
    DROP CONSTRAINT _setting_rules_kind_check,
    ADD CONSTRAINT _setting_rules_kind_check
        CHECK (kind IN ('interval', 'integer', 'number', 'boolean', 'text'));

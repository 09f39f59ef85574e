-- Undo 0004_auditor: triggers, functions, type, tables, settings, publication, columns.
DROP TRIGGER IF EXISTS cache_metrics_1min_push ON cachemon.cache_metrics_1min;
DROP TRIGGER IF EXISTS cache_auditor_observations_push ON cachemon.cache_auditor_observations;
DROP FUNCTION IF EXISTS cachemon._push_metrics_1min();
DROP FUNCTION IF EXISTS cachemon._push_observation();
DROP FUNCTION IF EXISTS cachemon._push(text, text, jsonb);
DROP FUNCTION IF EXISTS cachemon.run_auditor(timestamptz);
DROP FUNCTION IF EXISTS cachemon.acknowledge_observation(bigint, text, timestamptz);
DROP FUNCTION IF EXISTS cachemon.resolve_observation(bigint, text, text, timestamptz);
DROP FUNCTION IF EXISTS cachemon.compute_baseline(text, interval, timestamptz);
DROP FUNCTION IF EXISTS cachemon._rule_hit_rate_drop(timestamptz, interval);
DROP FUNCTION IF EXISTS cachemon._rule_response_time(timestamptz, interval);
DROP FUNCTION IF EXISTS cachemon._rule_error_rate(timestamptz, interval);
DROP FUNCTION IF EXISTS cachemon._rule_anomaly(timestamptz, interval);
DROP FUNCTION IF EXISTS cachemon._rule_capacity(timestamptz, interval);
DROP FUNCTION IF EXISTS cachemon._rule_no_data(timestamptz, interval);
DROP FUNCTION IF EXISTS cachemon._rule_migration(timestamptz, interval);
DROP FUNCTION IF EXISTS cachemon._judge(double precision, boolean, boolean, cachemon._auditor_rules);
DROP FUNCTION IF EXISTS cachemon._auditor_rule(text);
DROP FUNCTION IF EXISTS cachemon._baseline_scale(cachemon.cache_baseline_metrics, text, timestamptz);
DROP FUNCTION IF EXISTS cachemon._baseline_expected(cachemon.cache_baseline_metrics, text, timestamptz);
DROP FUNCTION IF EXISTS cachemon._window_totals(timestamptz, timestamptz);
DROP FUNCTION IF EXISTS cachemon._wilson_bound(double precision, double precision, double precision, boolean);
DROP FUNCTION IF EXISTS cachemon._two_proportion_z(double precision, double precision, double precision, double precision);
DROP FUNCTION IF EXISTS cachemon._fmt(double precision, integer);
DROP TYPE IF EXISTS cachemon._finding;
DROP TABLE IF EXISTS cachemon._audit_state;
DROP TABLE IF EXISTS cachemon._auditor_rules;
DELETE FROM cachemon._settings
 WHERE name IN ('auditor.window', 'auditor.open_after', 'auditor.clear_after',
                'baseline.min_requests_per_minute', 'baseline.min_sample_minutes',
                'baseline.profile_min_days', 'baseline.profile_min_minutes',
                'push.realtime_private');
DROP PUBLICATION IF EXISTS cachemon_realtime;
ALTER TABLE cachemon.cache_metrics_1min REPLICA IDENTITY DEFAULT;
DO $publication$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_publication_tables AS t
                WHERE t.pubname = 'supabase_realtime' AND t.schemaname = 'cachemon'
                  AND t.tablename = 'cache_metrics_1min') THEN
        ALTER PUBLICATION supabase_realtime DROP TABLE cachemon.cache_metrics_1min;
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_publication_tables AS t
                WHERE t.pubname = 'supabase_realtime' AND t.schemaname = 'cachemon'
                  AND t.tablename = 'cache_auditor_observations') THEN
        ALTER PUBLICATION supabase_realtime DROP TABLE cachemon.cache_auditor_observations;
    END IF;
END
$publication$;
ALTER TABLE cachemon.cache_auditor_observations
    DROP CONSTRAINT IF EXISTS cache_auditor_observations_resolved_by_length,
    DROP COLUMN IF EXISTS resolved_by;
ALTER TABLE cachemon.cache_baseline_metrics
    DROP COLUMN IF EXISTS requests_per_minute_mean,
    DROP COLUMN IF EXISTS requests_per_minute_stddev,
    DROP COLUMN IF EXISTS excluded_minutes,
    DROP COLUMN IF EXISTS statistics,
    DROP COLUMN IF EXISTS hourly_profile;

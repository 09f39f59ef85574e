-- Settings of the auditor's statistics (revision 0007_auditor).
INSERT INTO cachemon._settings (name, value, description) VALUES
    ('auditor.windows', '{2,5,15,60}',
     'Window lengths in minutes (integer array, each 2..1440) every rule judges besides auditor.window; short ones find clear incidents fast, long ones small or low-traffic ones'),
    ('auditor.open_after_critical', '1',
     'Consecutive breached evaluations before a critical finding opens (when fewer than auditor.open_after)'),
    ('verdict.min_requests', '500',
     'migration_verdict: requests each side needs in the window before a metric is judged (fewer: no_data)'),
    ('verdict.confidence', '0.95',
     'migration_verdict: two-sided confidence level of the effect intervals (0.5..0.999)'),
    ('verdict.pass_score', '95',
     'migration_verdict: score (share of judged metrics that pass, 0..100) at or above which the verdict is ready'),
    ('verdict.marginal_score', '75',
     'migration_verdict: score at or above which (and below pass_score) the verdict is marginal');

-- The anomaly rule no longer judges the average response time (a few very slow requests move
-- it at will; response_time judges quantiles).
UPDATE cachemon._auditor_rules
   SET params = pg_catalog.jsonb_set(params, '{metrics}',
           (SELECT coalesce(pg_catalog.jsonb_agg(m), '[]'::jsonb)
              FROM pg_catalog.jsonb_array_elements(params -> 'metrics') AS m
             WHERE m <> '"avg_response_time_ms"'::jsonb))
 WHERE rule = 'anomaly' AND params ? 'metrics';
UPDATE cachemon._auditor_rules
   SET description = 'p50, p95 or p99 response time (merged sketches) above the baseline (pooled hour-of-day quantiles) by more than the threshold'
 WHERE rule = 'response_time';

-- Errors are tested as counts (Poisson, at least 3 errors), so quieter windows can be judged.
UPDATE cachemon._auditor_rules SET min_requests = 50 WHERE rule = 'error_rate' AND min_requests = 200;

-- The auditor's rules and their thresholds, one row per rule function cachemon._rule_<rule>.
-- An admin tunes the auditor with UPDATE (thresholds, enabled, per-rule persistence); the
-- rule functions read their row through cachemon._auditor_rule(rule). What each threshold
-- means depends on the rule (column `unit`); docs/auditor.md has the table.
CREATE TABLE cachemon._auditor_rules (
    rule                 text             PRIMARY KEY,
    enabled              boolean          NOT NULL DEFAULT true,
    category             text             NOT NULL,
    unit                 text             NOT NULL,
    warning_threshold    double precision NOT NULL,
    critical_threshold   double precision NOT NULL,
    clear_threshold      double precision NOT NULL,
    min_requests         bigint           NOT NULL DEFAULT 200,
    significance_z       double precision NOT NULL DEFAULT 3.09,
    open_after           integer,
    clear_after          integer,
    params               jsonb            NOT NULL DEFAULT '{}'::jsonb,
    description          text             NOT NULL,
    updated_at           timestamptz      NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT _auditor_rules_rule_check CHECK (rule ~ '^[a-z][a-z0-9_]{0,50}$'),
    CONSTRAINT _auditor_rules_category_check
        CHECK (category IN ('performance', 'reliability', 'capacity', 'anomaly')),
    CONSTRAINT _auditor_rules_thresholds_check
        CHECK (clear_threshold >= 0 AND clear_threshold < warning_threshold
               AND warning_threshold <= critical_threshold),
    CONSTRAINT _auditor_rules_min_requests_check CHECK (min_requests >= 0),
    CONSTRAINT _auditor_rules_significance_z_check CHECK (significance_z >= 0),
    CONSTRAINT _auditor_rules_open_after_check CHECK (open_after BETWEEN 1 AND 1000),
    CONSTRAINT _auditor_rules_clear_after_check CHECK (clear_after BETWEEN 1 AND 1000),
    CONSTRAINT _auditor_rules_params_check CHECK (pg_catalog.jsonb_typeof(params) = 'object')
);

COMMENT ON TABLE cachemon._auditor_rules IS
    'Auditor rules (one per function cachemon._rule_<rule>) and their thresholds; tune them with UPDATE as cachemon_admin';
COMMENT ON COLUMN cachemon._auditor_rules.unit IS
    'What warning/critical/clear thresholds measure for this rule';
COMMENT ON COLUMN cachemon._auditor_rules.clear_threshold IS
    'A live finding resolves after the condition stayed below this for clear_after evaluations (hysteresis)';
COMMENT ON COLUMN cachemon._auditor_rules.min_requests IS
    'Fewer requests than this in the window: the rule does not judge (neither breach nor clear)';
COMMENT ON COLUMN cachemon._auditor_rules.significance_z IS
    'One-sided z (score test / Wilson bound) a deviation must reach; 3.09 = alpha 0.001';
COMMENT ON COLUMN cachemon._auditor_rules.open_after IS
    'Consecutive breached evaluations before a finding opens; NULL: setting auditor.open_after';
COMMENT ON COLUMN cachemon._auditor_rules.clear_after IS
    'Consecutive clear evaluations before a finding resolves; NULL: setting auditor.clear_after';

INSERT INTO cachemon._auditor_rules
    (rule, category, unit, warning_threshold, critical_threshold, clear_threshold,
     min_requests, open_after, params, description)
VALUES
    ('hit_rate_drop', 'performance', 'percent below baseline (relative)', 10, 20, 5, 200, NULL, '{}',
     'Hit rate below the baseline (hour-of-day median) by more than the threshold, significant by a score test'),
    ('response_time', 'performance', 'percent above baseline (relative)', 25, 50, 12.5, 200, NULL, '{}',
     'p50, p95 or p99 response time (merged sketches) above the baseline (pooled hour-of-day quantiles) by more than the threshold'),
    -- Errors are tested as counts (Poisson, at least 3 errors), so quieter windows are judged.
    ('error_rate', 'reliability', 'percent of operations (absolute)', 1, 5, 0.5, 50, NULL, '{}',
     'Error rate above the threshold, with the Wilson lower bound above it too'),
    -- Not the average response time: a few very slow requests move it at will (response_time
    -- judges quantiles).
    ('anomaly', 'anomaly', 'robust z-score (|value - median| / (1.4826 MAD))', 6, 12, 3, 200, NULL,
     '{"metrics": ["hit_rate", "error_rate", "p95_response_time_ms", "requests_per_minute"]}',
     'Any baselined metric far from its baseline median in units of its robust spread'),
    ('capacity', 'capacity', 'percent above baseline (relative)', 50, 150, 25, 200, NULL, '{}',
     'Eviction rate (evictions per 100 lookups) or average cache size far above the baseline'),
    -- Silence is measured in whole minutes already (3 silent minutes are 3 minutes of
    -- evidence, longer than a collector's default 60 s flush lag), so it opens at once.
    ('no_data', 'reliability', 'minutes without events', 3, 10, 1, 50, 1, '{}',
     'An implementation with an active baseline sent no events although its baseline expects traffic'),
    ('migration', 'performance', 'multiple of the per-metric margin in params', 1, 2, 0.5, 200, NULL,
     '{"candidate": "new", "reference": "legacy", "hit_rate_drop_pct": 10, "response_time_increase_pct": 25, "error_rate_increase_points": 1}',
     'The candidate implementation worse than the reference over the same window (hit rate, response time, error rate)');

ALTER TABLE cachemon._auditor_rules ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon._auditor_rules FROM PUBLIC;
GRANT SELECT ON cachemon._auditor_rules TO cachemon_reader;
GRANT SELECT, UPDATE ON cachemon._auditor_rules TO cachemon_admin;
CREATE POLICY _auditor_rules_read ON cachemon._auditor_rules
    FOR SELECT TO cachemon_reader, cachemon_admin USING (true);
CREATE POLICY _auditor_rules_admin_update ON cachemon._auditor_rules
    FOR UPDATE TO cachemon_admin USING (true) WITH CHECK (true);

-- The one shape every rule function returns (splinter's fixed columns), so run_auditor can
-- combine all rules. A rule returns a row per implementation (and metric) it judged:
-- state 'breach' (with severity), 'clear' (below the clear threshold) or 'hold' (between
-- the thresholds, too little traffic, or not significant: counts neither way).
CREATE TYPE cachemon._finding AS (
    implementation_type text,
    rule                text,
    category            text,
    state               text,
    severity            text,
    metric              text,
    observed_value      double precision,
    baseline_value      double precision,
    deviation_pct       double precision,
    sample_size         bigint,
    score               double precision,
    message             text,
    recommendation      text,
    details             jsonb
);
COMMENT ON TYPE cachemon._finding IS
    'Row shape of every auditor rule function cachemon._rule_<rule>(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[])';

INSERT INTO cachemon._settings (name, value, description) VALUES
    ('auditor.window', '5 minutes', 'Window of whole minutes before now that run_auditor judges'),
    ('auditor.open_after', '2', 'Consecutive breached evaluations before a finding opens'),
    ('auditor.clear_after', '3', 'Consecutive clear evaluations before a finding resolves'),
    ('baseline.min_requests_per_minute', '10',
     'Minutes with fewer operations (hits+misses+sets+errors) are left out of baselines'),
    ('baseline.min_sample_minutes', '60', 'compute_baseline refuses with fewer usable minutes'),
    ('baseline.profile_min_days', '3',
     'Days the usable minutes must span before a baseline gets an hour-of-day profile'),
    ('baseline.profile_min_minutes', '20',
     'Usable minutes an hour of day needs to get its own entry in the profile'),
    ('push.realtime_private', 'true',
     'Whether realtime.send broadcasts (Supabase) are private (need RLS on realtime.messages)');

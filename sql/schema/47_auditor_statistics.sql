-- Settings of the auditor's window statistics and of the migration verdict.
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

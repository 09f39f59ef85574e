-- Settings of the auditor's sequential test, cachemon._cusum.
-- Rules first (cachemon._settings_validate checks every setting against its rule).
INSERT INTO cachemon._setting_rules (name, kind, min_value, max_value, not_above) VALUES
    ('auditor.sequential', 'boolean', NULL, NULL, NULL),
    ('auditor.cusum_h', 'number', '3', '50', NULL),
    ('auditor.cusum_minutes', 'integer', '10', '1440', NULL);

INSERT INTO cachemon._settings (name, value, description) VALUES
    ('auditor.sequential', 'true',
     'Whether error_rate, hit_rate_drop and response_time also judge the sequential test (cachemon._cusum); false leaves only the windows'),
    ('auditor.cusum_h', '10',
     'Alarm threshold of the sequential test (CUSUM of per-minute log-likelihood ratios): higher is slower and quieter; one false alarm per statistic in at most e^h minutes (10: 22,000 minutes)'),
    ('auditor.cusum_minutes', '120',
     'Minutes of history the sequential test looks back over (its evidence is recomputed from the minute rows at every run)');

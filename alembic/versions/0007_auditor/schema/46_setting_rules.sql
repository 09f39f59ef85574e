-- Rules for the settings this revision adds (cachemon._settings_validate checks every write
-- against them), and the kind 'integers' that auditor.windows needs: an array of 1 to 20
-- integers, each within min_value..max_value. Rules first: the settings follow in 47_.
ALTER TABLE cachemon._setting_rules
    DROP CONSTRAINT _setting_rules_kind_check,
    ADD CONSTRAINT _setting_rules_kind_check
        CHECK (kind IN ('interval', 'integer', 'integers', 'number', 'boolean', 'text'));

INSERT INTO cachemon._setting_rules (name, kind, min_value, max_value, not_above) VALUES
    ('auditor.windows', 'integers', '2', '1440', NULL),
    ('auditor.open_after_critical', 'integer', '1', '1000', NULL),
    ('verdict.min_requests', 'integer', '1', '1000000000', NULL),
    ('verdict.confidence', 'number', '0.5', '0.999', NULL),
    ('verdict.pass_score', 'number', '0', '100', NULL),
    ('verdict.marginal_score', 'number', '0', '100', 'verdict.pass_score');

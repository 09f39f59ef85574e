-- What a setting may hold: one row per setting of cachemon._settings, read by the trigger
-- function cachemon._settings_validate() whenever a setting is inserted or updated (by UPDATE,
-- a migration or any other way). Table-driven, so a revision that adds a setting adds its
-- rule with one INSERT here (before the setting's own row).
--   kind       how the text value is read: interval, integer, integers (an array such as
--              {2,5,15}, 1 to 20 elements, each within min_value..max_value), number,
--              boolean or text
--   min_value  smallest accepted value (inclusive, in the kind's type), or NULL
--   max_value  largest accepted value (inclusive), or NULL
--   not_above  another setting of the same kind this one may never exceed (an invariant
--              across keys, e.g. raw <= 1-minute <= 1-hour retention), or NULL
-- A setting without a rule is only held to the table's own checks; the test suite lists
-- such settings as errors, so every key gets a rule.
CREATE TABLE cachemon._setting_rules (
    name        text PRIMARY KEY,
    kind        text NOT NULL,
    min_value   text,
    max_value   text,
    not_above   text,
    CONSTRAINT _setting_rules_name_check CHECK (name ~ '^[a-z][a-z0-9_.]{0,62}$'),
    CONSTRAINT _setting_rules_kind_check
        CHECK (kind IN ('interval', 'integer', 'integers', 'number', 'boolean', 'text')),
    CONSTRAINT _setting_rules_not_above_check CHECK (not_above <> name)
);

COMMENT ON TABLE cachemon._setting_rules IS
    'Internal: type, range and cross-key invariant (not_above) of each setting; enforced on every write of cachemon._settings by cachemon._settings_validate()';

INSERT INTO cachemon._setting_rules (name, kind, min_value, max_value, not_above) VALUES
    ('retention.raw', 'interval', '1 day', '3650 days', 'retention.1min'),
    ('retention.1min', 'interval', '1 hour', '3650 days', 'retention.1hour'),
    ('retention.1hour', 'interval', '1 hour', '36500 days', NULL),
    ('retention.cron_history', 'interval', '1 hour', '3650 days', NULL),
    ('tick.max_buckets', 'integer', '1', '10000000', NULL),
    ('ingest.max_future', 'interval', '0', '7 days', NULL),
    ('ingest.max_response_time_ms', 'number', '0', '86400000', NULL),
    ('partitions.premake', 'interval', '0', '90 days', NULL),
    ('auditor.window', 'interval', '1 minute', '1 day', NULL),
    ('auditor.open_after', 'integer', '1', '1000', NULL),
    ('auditor.clear_after', 'integer', '1', '1000', NULL),
    ('baseline.min_requests_per_minute', 'integer', '0', '1000000000', NULL),
    ('baseline.min_sample_minutes', 'integer', '1', '10000000', NULL),
    ('baseline.profile_min_days', 'integer', '1', '3660', NULL),
    ('baseline.profile_min_minutes', 'integer', '1', '10000000', NULL),
    ('push.realtime_private', 'boolean', NULL, NULL, NULL),
    ('auditor.windows', 'integers', '2', '1440', NULL),
    ('auditor.open_after_critical', 'integer', '1', '1000', NULL),
    ('verdict.min_requests', 'integer', '1', '1000000000', NULL),
    ('verdict.confidence', 'number', '0.5', '0.999', NULL),
    ('verdict.pass_score', 'number', '0', '100', NULL),
    ('verdict.marginal_score', 'number', '0', '100', 'verdict.pass_score');

ALTER TABLE cachemon._setting_rules ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon._setting_rules FROM PUBLIC;
GRANT SELECT ON cachemon._setting_rules TO cachemon_admin, cachemon_reader;
CREATE POLICY _setting_rules_read ON cachemon._setting_rules
    FOR SELECT TO cachemon_admin, cachemon_reader USING (true);

INSERT INTO cachemon._settings (name, value, description) VALUES
    ('ingest.max_response_time_ms', '86400000',
     'Largest response_time_ms ingest accepts (at most 86400000, one day, the column''s own limit)');

-- Settings an admin may change with UPDATE (retention periods, caps, windows). Values are
-- text and cast by the functions that read them through cachemon._setting(name).
CREATE TABLE cachemon._settings (
    name         text        PRIMARY KEY,
    value        text        NOT NULL,
    description  text        NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT _settings_name_check CHECK (name ~ '^[a-z][a-z0-9_.]{0,62}$'),
    CONSTRAINT _settings_value_length CHECK (pg_catalog.length(value) <= 1000)
);

COMMENT ON TABLE cachemon._settings IS
    'cachemon settings (retention periods and other knobs); change them with UPDATE as cachemon_admin';

INSERT INTO cachemon._settings (name, value, description) VALUES
    ('retention.raw', '7 days', 'How long raw events in cache_metrics are kept'),
    ('retention.1min', '30 days', 'How long rows of cache_metrics_1min are kept'),
    ('retention.1hour', '365 days', 'How long rows of cache_metrics_1hour are kept');

ALTER TABLE cachemon._settings ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon._settings FROM PUBLIC;
GRANT SELECT ON cachemon._settings TO cachemon_reader, cachemon_writer;
GRANT SELECT, UPDATE ON cachemon._settings TO cachemon_admin;
CREATE POLICY _settings_read ON cachemon._settings
    FOR SELECT TO cachemon_reader, cachemon_writer, cachemon_admin USING (true);
CREATE POLICY _settings_admin_update ON cachemon._settings
    FOR UPDATE TO cachemon_admin USING (true) WITH CHECK (true);

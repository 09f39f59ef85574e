-- The cap on one ingest_events payload (its jsonb size): a call costs about ten times its
-- payload in backend memory. Rule first (cachemon._settings_validate checks every setting).
INSERT INTO cachemon._setting_rules (name, kind, min_value, max_value, not_above) VALUES
    ('ingest.max_payload_bytes', 'integer', '1024', '268435455', NULL);
INSERT INTO cachemon._settings (name, value, description) VALUES
    ('ingest.max_payload_bytes', '16777216',
     'Largest ingest_events payload accepted, in bytes of its jsonb (16 MiB); larger batches are refused before any event is read');

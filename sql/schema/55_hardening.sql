-- The cap on one ingest_events payload (its jsonb size): a call costs about ten times its
-- payload in backend memory. Rule first (cachemon._settings_validate checks every setting).
INSERT INTO cachemon._setting_rules (name, kind, min_value, max_value, not_above) VALUES
    ('ingest.max_payload_bytes', 'integer', '1024', '268435455', NULL);
INSERT INTO cachemon._settings (name, value, description) VALUES
    ('ingest.max_payload_bytes', '16777216',
     'Largest ingest_events payload accepted, in bytes of its jsonb (16 MiB); larger batches are refused before any event is read');

-- Settings keep their names: an admin may update only the value, every setting has a rule
-- and every rule its setting (deferred to commit, so a revision adds a rule and its setting
-- in one transaction); cachemon._settings_validate refuses a rename whoever writes it.
-- ALTER TABLE refuses a table with deferred trigger events still pending (the settings
-- inserted above, in this transaction): check them all now, then defer the new keys (the
-- validation trigger is created, initially deferred, with its function).
SET CONSTRAINTS ALL IMMEDIATE;
ALTER TABLE cachemon._setting_rules
    ADD CONSTRAINT _setting_rules_name_fkey FOREIGN KEY (name)
    REFERENCES cachemon._settings (name) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE cachemon._settings
    ADD CONSTRAINT _settings_name_fkey FOREIGN KEY (name)
    REFERENCES cachemon._setting_rules (name) DEFERRABLE INITIALLY DEFERRED;
SET CONSTRAINTS cachemon._settings_name_fkey, cachemon._setting_rules_name_fkey DEFERRED;
REVOKE UPDATE ON cachemon._settings FROM cachemon_admin;
GRANT UPDATE (value) ON cachemon._settings TO cachemon_admin;

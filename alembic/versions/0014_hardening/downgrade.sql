-- Undo 0014_hardening: constraints first (ALTER TABLE refuses pending deferred events), then
-- the setting it added, the partial index on error events and the column privilege; every
-- changed function is put back as 0013 (and earlier) froze it, with its grants. Values it
-- turned from months or years into days stay in days (valid before 0014 too).
ALTER TABLE cachemon._settings DROP CONSTRAINT _settings_name_fkey;
ALTER TABLE cachemon._setting_rules DROP CONSTRAINT _setting_rules_name_fkey;
REVOKE UPDATE (value) ON cachemon._settings FROM cachemon_admin;
GRANT UPDATE ON cachemon._settings TO cachemon_admin;
DELETE FROM cachemon._settings WHERE name = 'ingest.max_payload_bytes';
DELETE FROM cachemon._setting_rules WHERE name = 'ingest.max_payload_bytes';
DROP INDEX cachemon.cache_metrics_errors_recorded_at_idx;

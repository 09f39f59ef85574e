-- Undo 0014_hardening: the partial index on error events goes; every changed function is put
-- back as 0013 (and earlier) froze it, with its grants.
DROP INDEX cachemon.cache_metrics_errors_recorded_at_idx;
DELETE FROM cachemon._settings WHERE name = 'ingest.max_payload_bytes';
DELETE FROM cachemon._setting_rules WHERE name = 'ingest.max_payload_bytes';

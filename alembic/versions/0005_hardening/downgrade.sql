-- Undo 0005_hardening: settings rules, new functions and types, queue privileges, domains.
-- Functions this revision changed are put back from 0004/0003 automatically afterwards.
SET LOCAL lock_timeout = '5s';
DROP TRIGGER IF EXISTS _settings_validate ON cachemon._settings;
DROP FUNCTION IF EXISTS cachemon._settings_validate();
DROP FUNCTION IF EXISTS cachemon._check_now(timestamptz, timestamptz);
DROP FUNCTION IF EXISTS cachemon._ingest_refuse(bigint, text, jsonb, numeric);
DROP FUNCTION IF EXISTS cachemon._batch_seen(uuid, bytea);
DROP FUNCTION IF EXISTS cachemon._rollup_minutes(timestamptz[], text[]);
DROP FUNCTION IF EXISTS cachemon._rollup_merge(text, timestamptz[], text[]);
DROP FUNCTION IF EXISTS cachemon._rollup_store(text, timestamptz[], text[], cachemon._rollup_row[]);
DROP TYPE IF EXISTS cachemon._rollup_row;
DELETE FROM cachemon._settings WHERE name = 'ingest.max_response_time_ms';
DROP TABLE IF EXISTS cachemon._setting_rules;

ALTER TYPE cachemon.tick_result DROP ATTRIBUTE IF EXISTS failure, DROP ATTRIBUTE IF EXISTS buckets_failed;
COMMENT ON TYPE cachemon.tick_result IS
    'What one cachemon.tick() did: status (done, busy, standby), minutes and hours recomputed, queue rows claimed, distinct buckets still queued and the oldest of them, auditor outcome, duration';

-- (revoke and grant again in the original order, so the ACL reads as 0003 left it)
REVOKE ALL ON cachemon._dirty_buckets FROM cachemon_admin;
GRANT INSERT ON cachemon._dirty_buckets TO cachemon_writer;
GRANT SELECT, INSERT, DELETE ON cachemon._dirty_buckets TO cachemon_admin;
CREATE POLICY _dirty_buckets_writer_insert ON cachemon._dirty_buckets
    FOR INSERT TO cachemon_writer WITH CHECK (true);

ALTER TABLE cachemon._ingested_batches DROP COLUMN IF EXISTS content_hash;

ALTER TABLE cachemon.cache_metrics
    DROP CONSTRAINT IF EXISTS cache_metrics_implementation_type_no_control,
    DROP CONSTRAINT IF EXISTS cache_metrics_cache_key_no_control,
    DROP CONSTRAINT IF EXISTS cache_metrics_error_type_no_control,
    DROP CONSTRAINT IF EXISTS cache_metrics_error_message_no_control,
    DROP CONSTRAINT cache_metrics_response_time_ms_check,
    ADD CONSTRAINT cache_metrics_response_time_ms_check
        CHECK (response_time_ms >= 0 AND response_time_ms < 'Infinity'::double precision);

-- 0005_hardening, part 1: value domains on raw events (mirrored in sql/schema/10_cache_metrics.sql).
-- Rows admitted before these domains existed are repaired first, so the checks can be added
-- (a latency above one day, or not finite, becomes NULL; one above 0 and below 1 ns
-- (0.000001 ms, where float arithmetic underflows) becomes 0; control and bidi characters in text
-- become U+FFFD), and their minutes are queued for tick() (before and after the repair).
SET LOCAL lock_timeout = '5s';

CREATE TEMP TABLE _cachemon_repair ON COMMIT DROP AS
SELECT m.ctid AS row_id, m.tableoid AS part, m.recorded_at, m.implementation_type
  FROM cachemon.cache_metrics AS m
 WHERE m.response_time_ms > 86400000
    OR (m.response_time_ms > 0 AND m.response_time_ms < 0.000001)
    OR m.implementation_type ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'
    OR m.cache_key ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'
    OR m.error_type ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'
    OR m.error_message ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]';

INSERT INTO cachemon._dirty_buckets (bucket, implementation_type)
SELECT DISTINCT pg_catalog.date_bin('1 minute', r.recorded_at, '2000-01-01 00:00:00+00'), r.implementation_type
  FROM _cachemon_repair AS r;

UPDATE cachemon.cache_metrics AS m
   SET response_time_ms = CASE WHEN m.response_time_ms < 0.000001 THEN 0
                               WHEN m.response_time_ms <= 86400000 THEN m.response_time_ms END,
       implementation_type = pg_catalog.regexp_replace(m.implementation_type, '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]', U&'\FFFD', 'g'),
       cache_key = pg_catalog.regexp_replace(m.cache_key, '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]', U&'\FFFD', 'g'),
       error_type = pg_catalog.regexp_replace(m.error_type, '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]', U&'\FFFD', 'g'),
       error_message = pg_catalog.regexp_replace(m.error_message, '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]', U&'\FFFD', 'g')
  FROM _cachemon_repair AS r
 WHERE m.tableoid = r.part AND m.ctid = r.row_id;

INSERT INTO cachemon._dirty_buckets (bucket, implementation_type)
SELECT DISTINCT pg_catalog.date_bin('1 minute', r.recorded_at, '2000-01-01 00:00:00+00'),
       pg_catalog.regexp_replace(r.implementation_type, '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]', U&'\FFFD', 'g')
  FROM _cachemon_repair AS r;

ALTER TABLE cachemon.cache_metrics
    DROP CONSTRAINT cache_metrics_response_time_ms_check,
    ADD CONSTRAINT cache_metrics_response_time_ms_check
        CHECK (response_time_ms = 0 OR response_time_ms BETWEEN 0.000001 AND 86400000),
    ADD CONSTRAINT cache_metrics_implementation_type_no_control
        CHECK (implementation_type !~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'),
    ADD CONSTRAINT cache_metrics_cache_key_no_control
        CHECK (cache_key !~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'),
    ADD CONSTRAINT cache_metrics_error_type_no_control
        CHECK (error_type !~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'),
    ADD CONSTRAINT cache_metrics_error_message_no_control
        CHECK (error_message !~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]');

-- Batch content hashes (mirrored in sql/schema/21_ingested_batches.sql).
ALTER TABLE cachemon._ingested_batches ADD COLUMN content_hash bytea;
COMMENT ON COLUMN cachemon._ingested_batches.content_hash IS
    '64-bit hash of the batch''s events as jsonb (jsonb_hash_extended; ingest_events only): a replay of the id with other content is refused';

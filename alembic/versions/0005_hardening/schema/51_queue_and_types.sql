-- 0005_hardening, part 2 (mirrored in sql/schema/30_rollup.sql): marks of the queue come only
-- from the ingest trigger (SECURITY DEFINER from this revision on), so the writer loses its
-- INSERT on _dirty_buckets; tick() reports buckets that failed to roll up.
SET LOCAL lock_timeout = '5s';
REVOKE INSERT ON cachemon._dirty_buckets FROM cachemon_writer;
DROP POLICY _dirty_buckets_writer_insert ON cachemon._dirty_buckets;
COMMENT ON TABLE cachemon._dirty_buckets IS
    'Internal queue: (minute, implementation) buckets whose raw events changed and that tick() must recompute';

ALTER TYPE cachemon.tick_result
    ADD ATTRIBUTE buckets_failed integer,
    ADD ATTRIBUTE failure text;
COMMENT ON TYPE cachemon.tick_result IS
    'What one cachemon.tick() did: status (done, busy, standby), minutes and hours recomputed, queue rows claimed, distinct buckets still queued and the oldest of them, auditor outcome, duration; buckets that failed to roll up (left queued, reported with a WARNING) and the first failure''s message';

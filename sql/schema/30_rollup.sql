-- Rollup machinery: the queue of (minute, implementation) buckets to
-- recompute, result types of tick() and run_maintenance(), and their settings.

-- Index for the hourly recomputation and for reading a range of one implementation.
CREATE INDEX cache_metrics_1min_implementation_type_bucket_idx
    ON cachemon.cache_metrics_1min (implementation_type, bucket);

-- The queue. Every statement that inserts (or deletes) raw events appends the distinct
-- (minute, implementation) pairs it touched, in its own transaction (trigger
-- cachemon._mark_dirty_buckets, SECURITY DEFINER: the only writer of marks besides admins).
-- Append-only on the ingest side (no unique key, so concurrent ingests never wait for each
-- other); tick() deletes the marks it claims. cachemon_writer has no privilege on it: a
-- forged mark could make tick() delete a minute's row or hold real minutes back.
CREATE TABLE cachemon._dirty_buckets (
    bucket               timestamptz NOT NULL,
    implementation_type  text        NOT NULL,
    marked_at            timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX _dirty_buckets_bucket_implementation_type_idx
    ON cachemon._dirty_buckets (bucket, implementation_type);
COMMENT ON TABLE cachemon._dirty_buckets IS
    'Internal queue: (minute, implementation) buckets whose raw events changed and that tick() must recompute';

ALTER TABLE cachemon._dirty_buckets ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon._dirty_buckets FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON cachemon._dirty_buckets TO cachemon_admin;
CREATE POLICY _dirty_buckets_admin_all ON cachemon._dirty_buckets
    FOR ALL TO cachemon_admin USING (true) WITH CHECK (true);

CREATE TYPE cachemon.tick_result AS (
    status          text,
    minutes_done    integer,
    hours_done      integer,
    marks_claimed   bigint,
    buckets_left    bigint,
    oldest_pending  timestamptz,
    auditor         text,
    duration_ms     double precision,
    buckets_failed  integer,
    failure         text
);
COMMENT ON TYPE cachemon.tick_result IS
    'What one cachemon.tick() did: status (done, busy, standby, or auditor_failed: the rollups committed but the auditor failed), minutes and hours recomputed, queue rows claimed, distinct buckets still queued and the oldest of them, auditor outcome (ran, failed: <error>, ran; recovered after failing since ...), duration; buckets that failed to roll up (left queued, reported with a WARNING) and the first failure''s message';

CREATE TYPE cachemon.maintenance_result AS (
    status                text,
    partitions_created    text[],
    partitions_dropped    text[],
    rows_moved            bigint,
    default_rows_left     bigint,
    minute_rows_deleted   bigint,
    hour_rows_deleted     bigint,
    batch_ids_deleted     bigint,
    cron_runs_deleted     bigint
);
COMMENT ON TYPE cachemon.maintenance_result IS
    'What one cachemon.run_maintenance() did: partitions created and dropped, rows moved out of the default partition (and left there), rows trimmed by retention';

INSERT INTO cachemon._settings (name, value, description) VALUES
    ('tick.max_buckets', '5000',
     'Most distinct (minute, implementation) buckets one tick() recomputes; the rest waits for the next tick'),
    ('ingest.max_future', '1 day',
     'Events recorded further than this ahead of the database clock are refused'),
    ('partitions.premake', '4 days',
     'How far ahead run_maintenance() keeps daily partitions of cache_metrics (never less than 4 days)'),
    ('retention.cron_history', '7 days',
     'How long rows of cron.job_run_details are kept (where pg_cron exists)');

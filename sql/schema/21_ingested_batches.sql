-- Batch ids already stored: the exactly-once guard of ingest. A batch (the collector's COPY,
-- cachemon.ingest_events, `cachemon ingest`) inserts its id here and its rows into
-- cache_metrics in one transaction; a batch whose id is already here is skipped, so a batch
-- retried after a lost commit acknowledgement is stored once. A concurrent duplicate waits on
-- the primary key until the first commits, then skips. Rows older than raw retention are
-- removed by cachemon._forget_ingested_batches (events that old are refused anyway).
CREATE TABLE cachemon._ingested_batches (
    batch_id     uuid        PRIMARY KEY,
    event_count  integer     NOT NULL,
    source       text        NOT NULL DEFAULT 'collector',
    received_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    content_hash bytea,
    CONSTRAINT _ingested_batches_event_count_check CHECK (event_count >= 0),
    CONSTRAINT _ingested_batches_source_check CHECK (pg_catalog.length(source) BETWEEN 1 AND 64)
);

CREATE INDEX _ingested_batches_received_at_idx ON cachemon._ingested_batches (received_at);

COMMENT ON TABLE cachemon._ingested_batches IS
    'Internal: ids of stored ingest batches, so a retried batch is stored once; pruned after raw retention';
COMMENT ON COLUMN cachemon._ingested_batches.content_hash IS
    '64-bit hash of the batch''s events as jsonb (jsonb_hash_extended; ingest_events only): a replay of the id with other content is refused';
COMMENT ON COLUMN cachemon._ingested_batches.source IS
    'Which path stored the batch: collector, ingest_events or cli';

ALTER TABLE cachemon._ingested_batches ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON cachemon._ingested_batches FROM PUBLIC;
-- INSERT ... ON CONFLICT DO NOTHING needs only INSERT; the writer never reads other batches.
GRANT INSERT ON cachemon._ingested_batches TO cachemon_writer;
GRANT SELECT, INSERT, DELETE ON cachemon._ingested_batches TO cachemon_admin;
CREATE POLICY _ingested_batches_writer_insert ON cachemon._ingested_batches
    FOR INSERT TO cachemon_writer WITH CHECK (true);
CREATE POLICY _ingested_batches_admin_all ON cachemon._ingested_batches
    FOR ALL TO cachemon_admin USING (true) WITH CHECK (true);

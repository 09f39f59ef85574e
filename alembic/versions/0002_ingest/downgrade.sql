-- Undo 0002_ingest: the functions it added, then the batch-id table.
DROP FUNCTION IF EXISTS cachemon.ingest_events(jsonb, uuid);
DROP FUNCTION IF EXISTS cachemon._forget_ingested_batches(timestamptz);
DROP TABLE IF EXISTS cachemon._ingested_batches;

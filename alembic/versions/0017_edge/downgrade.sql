-- Undo 0017_edge. Edge rows are dropped with their table (their minutes keep the rows tick()
-- built). Sketches written since the upgrade use OpenTelemetry's mapping, which the earlier
-- functions do not read: they are set to NULL (percentiles already stored stay), never
-- reinterpreted with the wrong mapping.
SET LOCAL lock_timeout = '5s';
DROP TRIGGER IF EXISTS cache_metrics_edge_check ON cachemon.cache_metrics_edge;
DROP TRIGGER IF EXISTS cache_metrics_edge_mark_inserted ON cachemon.cache_metrics_edge;
DROP TRIGGER IF EXISTS cache_metrics_edge_mark_deleted ON cachemon.cache_metrics_edge;
DROP FUNCTION IF EXISTS cachemon.ingest_otlp(jsonb, uuid);
DROP FUNCTION IF EXISTS cachemon.ingest_edge(jsonb, uuid);
DROP FUNCTION IF EXISTS cachemon._otlp_attributes(jsonb);
DROP FUNCTION IF EXISTS cachemon._otlp_number(text, text, jsonb);
DROP FUNCTION IF EXISTS cachemon._edge_check();
DROP FUNCTION IF EXISTS cachemon._mark_edge_buckets();
DROP FUNCTION IF EXISTS cachemon._sketch_from_legacy(cachemon.ddsketch);
DROP TABLE IF EXISTS cachemon.cache_metrics_edge;
UPDATE cachemon.cache_metrics_1min SET latency_sketch = NULL WHERE latency_sketch IS NOT NULL;
UPDATE cachemon.cache_metrics_1hour SET latency_sketch = NULL WHERE latency_sketch IS NOT NULL;
UPDATE cachemon._cache_metrics_1day SET latency_sketch = NULL WHERE latency_sketch IS NOT NULL;
ALTER TYPE cachemon._rollup_row DROP ATTRIBUTE latency_sketch_converted, DROP ATTRIBUTE percentiles_exact;
ALTER TABLE cachemon._cache_metrics_1day DROP COLUMN latency_sketch_converted;
ALTER TABLE cachemon.cache_metrics_1hour DROP COLUMN latency_sketch_converted;
ALTER TABLE cachemon.cache_metrics_1min DROP COLUMN latency_sketch_converted, DROP COLUMN percentiles_exact;
COMMENT ON TYPE cachemon.ddsketch IS
    'Mergeable latency sketch (DDSketch-style, relative accuracy 0.9%): zero_count, sorted keys, counts. Merge with cachemon.sketch_merge(), read with cachemon.sketch_quantile().';

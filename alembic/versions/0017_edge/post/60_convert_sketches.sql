-- Sketches stored before this revision used another key mapping (relative accuracy 0.9%);
-- they would not merge with the OpenTelemetry buckets every sketch uses from now on. Convert
-- each one (cachemon._sketch_from_legacy: quantiles within 1.5% of exact) and flag its row, so
-- that no merge mixes mappings and no converted figure passes for a 0.55% one. Minutes whose raw
-- events are still kept become exact again the next time tick() recomputes them.
SET LOCAL lock_timeout = '5s';
UPDATE cachemon.cache_metrics_1min
   SET latency_sketch = cachemon._sketch_from_legacy(latency_sketch), latency_sketch_converted = true,
       percentiles_exact = CASE WHEN latency_count > 0 THEN true END
 WHERE latency_sketch IS NOT NULL;
UPDATE cachemon.cache_metrics_1hour
   SET latency_sketch = cachemon._sketch_from_legacy(latency_sketch), latency_sketch_converted = true
 WHERE latency_sketch IS NOT NULL;
UPDATE cachemon._cache_metrics_1day
   SET latency_sketch = cachemon._sketch_from_legacy(latency_sketch), latency_sketch_converted = true
 WHERE latency_sketch IS NOT NULL;

-- Undo 0018_capacity: the 0006 copy of _push_metrics_1min comes back and recreates the
-- row-level trigger cache_metrics_1min_push; the statement-level UPDATE trigger goes first.
DROP TRIGGER IF EXISTS cache_metrics_1min_push_update ON cachemon.cache_metrics_1min;

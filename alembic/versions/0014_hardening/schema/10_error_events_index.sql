-- get_error_breakdown reads only error events and bounds its work by counting them first:
-- a partial index on the error events of cache_metrics (partitioned: every daily partition
-- gets its own, and maintenance's new partitions get it when they are attached). Building it
-- scans the kept raw events and holds inserts (SHARE lock) while it does: on a large
-- database, upgrade at a quiet time.
SET LOCAL lock_timeout = '5s';
CREATE INDEX cache_metrics_errors_recorded_at_idx
    ON cachemon.cache_metrics (recorded_at, implementation_type)
    WHERE event_type = 'error';

-- Undo 0003_rollup. The pg_cron jobs go first (they call functions dropped below). Daily
-- partitions made by run_maintenance stay attached to cache_metrics with their rows: they are
-- data, and the foundation's schema accepts them. get_cache_performance_summary is restored
-- from 0001 automatically.
DO $unschedule$
BEGIN
    IF pg_catalog.to_regprocedure('cachemon.unschedule_jobs()') IS NOT NULL THEN
        PERFORM cachemon.unschedule_jobs();
    END IF;
END
$unschedule$;

DROP TRIGGER IF EXISTS cache_metrics_mark_inserted ON cachemon.cache_metrics;
DROP TRIGGER IF EXISTS cache_metrics_mark_deleted ON cachemon.cache_metrics;
DROP FUNCTION IF EXISTS cachemon._mark_dirty_buckets();
DROP FUNCTION IF EXISTS cachemon.tick(timestamptz);
DROP FUNCTION IF EXISTS cachemon.run_maintenance(timestamptz);
DROP FUNCTION IF EXISTS cachemon._purge_cron_history(timestamptz);
DROP FUNCTION IF EXISTS cachemon.schedule_jobs();
DROP FUNCTION IF EXISTS cachemon.unschedule_jobs();
DROP FUNCTION IF EXISTS cachemon._performance_summary(text, interval, timestamptz);
DROP FUNCTION IF EXISTS cachemon._rollup_days(timestamptz[], text[]);
DROP AGGREGATE IF EXISTS cachemon.sketch_merge(cachemon.ddsketch);
DROP FUNCTION IF EXISTS cachemon._sketch_merge_step(cachemon.ddsketch, cachemon.ddsketch);
DROP FUNCTION IF EXISTS cachemon._sketch_compact(cachemon.ddsketch);
DROP FUNCTION IF EXISTS cachemon.sketch_quantile(cachemon.ddsketch, double precision);
DROP FUNCTION IF EXISTS cachemon.sketch_quantiles(cachemon.ddsketch, double precision[]);
DROP FUNCTION IF EXISTS cachemon.sketch_from_values(double precision[]);
DROP FUNCTION IF EXISTS cachemon.sketch_key(double precision);
DROP FUNCTION IF EXISTS cachemon.sketch_value(integer);
DROP FUNCTION IF EXISTS cachemon._sketch_ln_gamma();

DELETE FROM cachemon._settings
 WHERE name IN ('tick.max_buckets', 'ingest.max_future', 'partitions.premake', 'retention.cron_history');
DROP TYPE IF EXISTS cachemon.maintenance_result;
DROP TYPE IF EXISTS cachemon.tick_result;
DROP TABLE IF EXISTS cachemon._cache_metrics_1day;
DROP TABLE IF EXISTS cachemon._dirty_buckets;
DROP INDEX IF EXISTS cachemon.cache_metrics_1min_implementation_type_bucket_idx;
ALTER TABLE cachemon.cache_metrics_1hour DROP COLUMN IF EXISTS latency_sketch;
ALTER TABLE cachemon.cache_metrics_1min DROP COLUMN IF EXISTS latency_sketch;
DROP TYPE IF EXISTS cachemon.ddsketch;

-- Aggregate: the merge of sketches (NULLs skipped). Its support functions are in
-- _sketch_merge_step.sql and _sketch_compact.sql.
CREATE OR REPLACE AGGREGATE cachemon.sketch_merge(cachemon.ddsketch) (
    SFUNC = cachemon._sketch_merge_step,
    STYPE = cachemon.ddsketch,
    FINALFUNC = cachemon._sketch_compact,
    COMBINEFUNC = cachemon._sketch_merge_step,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE cachemon.sketch_merge(cachemon.ddsketch) IS
    'Merge latency sketches (NULLs skipped): the sketch of all their events. p95 over any range: SELECT cachemon.sketch_quantile(cachemon.sketch_merge(latency_sketch), 0.95) FROM cachemon.cache_metrics_1hour WHERE bucket >= ...';

REVOKE ALL ON FUNCTION cachemon.sketch_merge(cachemon.ddsketch) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.sketch_merge(cachemon.ddsketch) TO cachemon_reader, cachemon_admin;

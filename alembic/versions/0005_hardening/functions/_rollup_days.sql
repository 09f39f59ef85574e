CREATE OR REPLACE FUNCTION cachemon._rollup_days(p_days timestamptz[], p_impls text[])
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * Rebuilds the rows of cachemon._cache_metrics_1day for the (day, implementation) pairs
     * given as two parallel arrays (any timestamp of the day will do; duplicates are fine)
     * from cache_metrics_1hour: cachemon._rollup_merge('day', ...), the same shape that builds
     * hours from minutes. Kept under this name for run_maintenance() (the day cut by
     * retention.1hour) and the benchmark, which write hourly rows directly.
     */
    RETURN cachemon._rollup_merge('day', p_days, p_impls);
END
$function$;

COMMENT ON FUNCTION cachemon._rollup_days(timestamptz[], text[]) IS
    'Internal: rebuild cachemon._cache_metrics_1day for the given (day, implementation) pairs (parallel arrays) as the merge of their cache_metrics_1hour rows; a pair without hours loses its row. Called by run_maintenance() and benchmarks (tick() calls _rollup_merge(''day'', ...)). Returns rows written or deleted.';

REVOKE ALL ON FUNCTION cachemon._rollup_days(timestamptz[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._rollup_days(timestamptz[], text[]) TO cachemon_admin;

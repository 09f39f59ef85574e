CREATE OR REPLACE FUNCTION cachemon.migration_verdict(
    candidate text DEFAULT 'new',
    reference text DEFAULT 'legacy',
    time_window interval DEFAULT '1 hour',
    p_now timestamptz DEFAULT pg_catalog.now()
)
RETURNS TABLE (
    candidate text,
    reference text,
    window_start timestamptz,
    window_end timestamptz,
    verdict text,
    score numeric,
    evidence text,
    metrics jsonb
)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * Is the candidate ready to take all traffic? In the manner of automated canary analysis
     * (Kayenta): both implementations over the same window, per metric (hit_rate,
     * error_rate, p50/p95/p99 and average response time) an effect with its confidence
     * interval, a classification (better / equal / worse / no_data) against a tolerance, a
     * score (share of judged metrics that pass) and a verdict (ready / marginal / not_ready /
     * not_enough_data) with one sentence of evidence. LANGUAGE sql because the contract names
     * parameters and result columns alike; the work is in cachemon._migration_verdict.
     */
    SELECT v.o_candidate, v.o_reference, v.o_window_start, v.o_window_end, v.o_verdict,
           v.o_score, v.o_evidence, v.o_metrics
      FROM cachemon._migration_verdict($1, $2, $3, $4) AS v;
$function$;

COMMENT ON FUNCTION cachemon.migration_verdict(text, text, interval, timestamptz) IS
    'Migration verdict (one row): candidate vs reference over the whole minutes of the last time_window, per metric effect, confidence interval and classification (better/equal/worse/no_data), score 0..100 (share of judged metrics that pass) and verdict ready/marginal/not_ready/not_enough_data with a sentence of evidence. Settings verdict.*. Bounded work: reads at most 31 days of 1-minute rows of the two implementations named (89,280 rows), whatever other implementations exist; p_now within [now() - retention.1min, now() + 1 day] (no infinity). Example: SELECT verdict, score, evidence FROM cachemon.migration_verdict();';

REVOKE ALL ON FUNCTION cachemon.migration_verdict(text, text, interval, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.migration_verdict(text, text, interval, timestamptz)
    TO cachemon_reader, cachemon_admin;

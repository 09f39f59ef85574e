CREATE OR REPLACE FUNCTION cachemon.get_live_findings(
    p_limit integer DEFAULT 200
)
RETURNS SETOF cachemon.cache_auditor_observations
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * The auditor's findings that are not resolved (status open or acknowledged), newest
     * first (first_seen_at, then id), at most p_limit (1 .. 10,000): what the dashboard lists
     * and what a person on call acts on with acknowledge_observation / resolve_observation.
     * Its work is bounded by the live findings, at most one per implementation and rule
     * (the partial unique index cache_auditor_observations_live_idx), of which it keeps the
     * p_limit newest in one top-N sort; it takes no time range.
     */
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 10000 THEN
        RAISE EXCEPTION 'get_live_findings: p_limit must be between 1 and 10000 (got %)',
            coalesce(p_limit::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    SELECT o.* FROM cachemon.cache_auditor_observations AS o
     WHERE o.status IN ('open', 'acknowledged')
     ORDER BY o.first_seen_at DESC, o.id DESC
     LIMIT p_limit;
END
$function$;

COMMENT ON FUNCTION cachemon.get_live_findings(integer) IS
    'Unresolved auditor findings (open or acknowledged), newest first (first_seen_at, id), at most p_limit (1..10000). Bounded work: reads only live findings (at most one per implementation and rule) and keeps the p_limit newest.';

REVOKE ALL ON FUNCTION cachemon.get_live_findings(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.get_live_findings(integer) TO cachemon_reader, cachemon_admin;

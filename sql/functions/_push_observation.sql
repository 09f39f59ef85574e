CREATE OR REPLACE FUNCTION cachemon._push_observation()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * Runs only as the trigger it was written for: AFTER INSERT OR UPDATE, FOR EACH ROW, on
     * cachemon.cache_auditor_observations. Attached to any other table (a caller's table
     * whose columns have types of the caller's, with implicit casts into what the body
     * computes), it would run the caller's functions with this function's rights: it refuses before reading NEW.
     * No role has EXECUTE on it (firing a trigger checks no EXECUTE; only the owner creates
     * the triggers).
     */
    IF TG_RELID <> 'cachemon.cache_auditor_observations'::pg_catalog.regclass::pg_catalog.oid
       OR TG_LEVEL <> 'ROW' OR TG_WHEN <> 'AFTER' OR NOT (TG_OP = 'INSERT' OR TG_OP = 'UPDATE') THEN
        RAISE EXCEPTION 'cachemon._push_observation: refuses to run as % % % trigger on %',
            TG_WHEN, TG_OP, TG_LEVEL, TG_RELID::pg_catalog.regclass
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'It is the AFTER INSERT OR UPDATE row trigger of cachemon.cache_auditor_observations and of nothing else.';
    END IF;
    /*
     * SECURITY DEFINER: the broadcast through Supabase's realtime.send needs USAGE on schema
     * realtime, which the owner has and a login role granted cachemon_admin does not (it got
     * "permission denied for schema realtime" from tick, acknowledge and resolve). The only
     * input is the NEW row the trigger fires for; nothing from the caller reaches SQL text.
     *
     * AFTER INSERT OR UPDATE on cache_auditor_observations: a finding opened, was seen again,
     * escalated, acknowledged or resolved. Topic 'cachemon:observations'. pg_notify gets
     * the identifiers only (topic, table, op, id: see _push); the private realtime.send
     * broadcast gets the finding, its message cut to 300 characters.
     */
    PERFORM cachemon._push('cachemon:observations', TG_OP, pg_catalog.jsonb_build_object(
        'topic', 'cachemon:observations',
        'table', 'cache_auditor_observations',
        'op', TG_OP,
        'id', NEW.id,
        'implementation_type', NEW.implementation_type,
        'rule', NEW.rule,
        'severity', NEW.severity,
        'category', NEW.category,
        'status', NEW.status,
        'metric', NEW.metric,
        'observed_value', NEW.observed_value,
        'baseline_value', NEW.baseline_value,
        'occurrences', NEW.occurrences,
        'last_seen_at', NEW.last_seen_at,
        'message', left(NEW.message, 300)));
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION cachemon._push_observation() IS
    'Trigger (SECURITY DEFINER, to reach Supabase''s realtime.send whoever changes the row): push each inserted or updated auditor finding (pg_notify channel cachemon_events, identifiers only; realtime.send topic cachemon:observations on Supabase).';

-- Nobody but the owner may attach it (CREATE TRIGGER needs EXECUTE; firing does not).
REVOKE ALL ON FUNCTION cachemon._push_observation() FROM PUBLIC, cachemon_writer, cachemon_reader, cachemon_admin;

DROP TRIGGER IF EXISTS cache_auditor_observations_push ON cachemon.cache_auditor_observations;
CREATE TRIGGER cache_auditor_observations_push
    AFTER INSERT OR UPDATE ON cachemon.cache_auditor_observations
    FOR EACH ROW EXECUTE FUNCTION cachemon._push_observation();

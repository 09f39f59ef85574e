CREATE OR REPLACE FUNCTION cachemon._push_observation()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * AFTER INSERT OR UPDATE on cache_auditor_observations: a finding opened, was seen again,
     * escalated, acknowledged or resolved. Topic 'cachemon:observations'. The message is
     * cut to 300 characters so the payload stays far below pg_notify's 8000 bytes.
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
    'Trigger: push each inserted or updated auditor finding (pg_notify channel cachemon_events; realtime.send topic cachemon:observations on Supabase).';

REVOKE ALL ON FUNCTION cachemon._push_observation() FROM PUBLIC;

DROP TRIGGER IF EXISTS cache_auditor_observations_push ON cachemon.cache_auditor_observations;
CREATE TRIGGER cache_auditor_observations_push
    AFTER INSERT OR UPDATE ON cachemon.cache_auditor_observations
    FOR EACH ROW EXECUTE FUNCTION cachemon._push_observation();

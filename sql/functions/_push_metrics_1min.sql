CREATE OR REPLACE FUNCTION cachemon._push_metrics_1min()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * AFTER INSERT OR UPDATE on cache_metrics_1min: one small message per changed minute
     * (about 2 per minute per implementation), topic 'cachemon:metrics_1min'. The payload
     * names the row and carries the headline numbers; read the row for the rest.
     */
    PERFORM cachemon._push('cachemon:metrics_1min', TG_OP, pg_catalog.jsonb_build_object(
        'topic', 'cachemon:metrics_1min',
        'table', 'cache_metrics_1min',
        'op', TG_OP,
        'bucket', NEW.bucket,
        'implementation_type', NEW.implementation_type,
        'total_events', NEW.total_events,
        'hit_rate', round(NEW.hit_rate, 2),
        'error_rate', round(NEW.error_rate, 3),
        'avg_response_time_ms', round(NEW.avg_response_time_ms::numeric, 2),
        'p95_response_time_ms', round(NEW.p95_response_time_ms::numeric, 2)));
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION cachemon._push_metrics_1min() IS
    'Trigger: push each inserted or updated row of cache_metrics_1min (pg_notify channel cachemon_events; realtime.send topic cachemon:metrics_1min on Supabase).';

REVOKE ALL ON FUNCTION cachemon._push_metrics_1min() FROM PUBLIC;

DROP TRIGGER IF EXISTS cache_metrics_1min_push ON cachemon.cache_metrics_1min;
CREATE TRIGGER cache_metrics_1min_push
    AFTER INSERT OR UPDATE ON cachemon.cache_metrics_1min
    FOR EACH ROW EXECUTE FUNCTION cachemon._push_metrics_1min();

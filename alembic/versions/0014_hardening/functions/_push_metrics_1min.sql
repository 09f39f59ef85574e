CREATE OR REPLACE FUNCTION cachemon._push_metrics_1min()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * Runs only as the trigger it was written for: AFTER INSERT OR UPDATE, FOR EACH ROW, on
     * cachemon.cache_metrics_1min. Attached to any other table (a caller's table whose columns
     * have types of the caller's, with implicit casts into what the body computes), it would
     * run the caller's functions with this function's rights: it refuses before reading NEW.
     * No role has EXECUTE on it (firing a trigger checks no EXECUTE; only the owner creates
     * the triggers).
     */
    IF TG_RELID <> 'cachemon.cache_metrics_1min'::pg_catalog.regclass::pg_catalog.oid
       OR TG_LEVEL <> 'ROW' OR TG_WHEN <> 'AFTER' OR NOT (TG_OP = 'INSERT' OR TG_OP = 'UPDATE') THEN
        RAISE EXCEPTION 'cachemon._push_metrics_1min: refuses to run as % % % trigger on %',
            TG_WHEN, TG_OP, TG_LEVEL, TG_RELID::pg_catalog.regclass
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'It is the AFTER INSERT OR UPDATE row trigger of cachemon.cache_metrics_1min and of nothing else.';
    END IF;
    /*
     * SECURITY DEFINER: the broadcast through Supabase's realtime.send needs USAGE on schema
     * realtime, which the owner has and a login role granted cachemon_admin does not (it got
     * "permission denied for schema realtime" from tick, acknowledge and resolve). The only
     * input is the NEW row the trigger fires for; nothing from the caller reaches SQL text.
     *
     * AFTER INSERT OR UPDATE on cache_metrics_1min: one small message per changed minute
     * (about 2 per minute per implementation), topic 'cachemon:metrics_1min'. pg_notify gets
     * the identifiers only (topic, table, op, bucket, implementation_type: see _push); the
     * private realtime.send broadcast gets the headline numbers too.
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
    'Trigger (SECURITY DEFINER, to reach Supabase''s realtime.send whoever changes the row): push each inserted or updated row of cache_metrics_1min (pg_notify channel cachemon_events, identifiers only; realtime.send topic cachemon:metrics_1min on Supabase).';

-- Nobody but the owner may attach it (CREATE TRIGGER needs EXECUTE; firing does not).
REVOKE ALL ON FUNCTION cachemon._push_metrics_1min() FROM PUBLIC, cachemon_writer, cachemon_reader, cachemon_admin;

DROP TRIGGER IF EXISTS cache_metrics_1min_push ON cachemon.cache_metrics_1min;
CREATE TRIGGER cache_metrics_1min_push
    AFTER INSERT OR UPDATE ON cachemon.cache_metrics_1min
    FOR EACH ROW EXECUTE FUNCTION cachemon._push_metrics_1min();

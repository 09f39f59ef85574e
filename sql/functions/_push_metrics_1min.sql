CREATE OR REPLACE FUNCTION cachemon._push_metrics_1min()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_send    oid;
    v_private boolean;
    v_payload jsonb;
BEGIN
    /*
     * SECURITY DEFINER: the broadcast through Supabase's realtime.send needs USAGE on schema
     * realtime, which the owner has and a login role granted cachemon_admin does not (it got
     * "permission denied for schema realtime" from tick, acknowledge and resolve). The only
     * input is the transition table of the statement the trigger fires for; nothing from
     * the caller reaches SQL text.
     *
     * Runs only as the trigger it was written for: AFTER INSERT or UPDATE, FOR EACH STATEMENT,
     * on cachemon.cache_metrics_1min. Attached to any other table (a caller's table whose
     * columns have types of the caller's, with implicit casts into what the body computes),
     * it would run the caller's functions with this function's rights: it refuses before
     * reading the transition table. No role has EXECUTE on it (firing a trigger checks no
     * EXECUTE; only the owner creates the triggers).
     *
     * AFTER INSERT and AFTER UPDATE ... FOR EACH STATEMENT on cache_metrics_1min (two
     * triggers, since a trigger with a transition table has one event): one small message
     * per changed minute row (about 2 per minute per implementation), topic
     * 'cachemon:metrics_1min', in (bucket, implementation_type) order. pg_notify gets the
     * identifiers only (topic, table, op, bucket, implementation_type: the same text as
     * cachemon._push); the private realtime.send broadcast gets the headline numbers too.
     *
     * Statement level so that the genuineness check of realtime.send (catalog reads, about
     * 1 ms) runs once per statement: per row it was half of a bulk rollup's time (a tick
     * rolling up a day writes 2,880 minute rows). A failing broadcast is a WARNING, never an
     * error: live push must not break rollups.
     */
    IF TG_RELID <> 'cachemon.cache_metrics_1min'::pg_catalog.regclass::pg_catalog.oid
       OR TG_LEVEL <> 'STATEMENT' OR TG_WHEN <> 'AFTER' OR TG_OP NOT IN ('INSERT', 'UPDATE') THEN
        RAISE EXCEPTION 'cachemon._push_metrics_1min: refuses to run as % % % trigger on %',
            TG_WHEN, TG_OP, TG_LEVEL, TG_RELID::pg_catalog.regclass
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'It is the AFTER INSERT and AFTER UPDATE statement trigger of cachemon.cache_metrics_1min and of nothing else.';
    END IF;

    PERFORM pg_catalog.pg_notify('cachemon_events', n.notice::text)
       FROM (SELECT CASE WHEN pg_catalog.octet_length(x.notice::text) > 7900
                         THEN pg_catalog.jsonb_build_object(
                                  'topic', 'cachemon:metrics_1min', 'table', 'cache_metrics_1min',
                                  'op', TG_OP, 'truncated', true)
                         ELSE x.notice END AS notice
               FROM (SELECT pg_catalog.jsonb_build_object(
                                'topic', 'cachemon:metrics_1min',
                                'table', 'cache_metrics_1min',
                                'op', TG_OP,
                                'bucket', r.bucket,
                                'implementation_type', r.implementation_type) AS notice,
                            r.bucket, r.implementation_type
                       FROM new_rows AS r) AS x
              ORDER BY x.bucket, x.implementation_type) AS n;

    BEGIN
        v_send := cachemon._genuine_realtime_send();
        IF v_send IS NOT NULL THEN
            v_private := coalesce(cachemon._setting('push.realtime_private')::boolean, true);
        END IF;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'cachemon: realtime.send on topic % failed: % (%)',
            'cachemon:metrics_1min', SQLERRM, SQLSTATE;
        v_send := NULL;
    END;
    IF v_send IS NULL THEN
        RETURN NULL;
    END IF;
    FOR v_payload IN
        SELECT pg_catalog.jsonb_build_object(
                   'topic', 'cachemon:metrics_1min',
                   'table', 'cache_metrics_1min',
                   'op', TG_OP,
                   'bucket', r.bucket,
                   'implementation_type', r.implementation_type,
                   'total_events', r.total_events,
                   'hit_rate', round(r.hit_rate, 2),
                   'error_rate', round(r.error_rate, 3),
                   'avg_response_time_ms', round(r.avg_response_time_ms::numeric, 2),
                   'p95_response_time_ms', round(r.p95_response_time_ms::numeric, 2))
          FROM new_rows AS r
         ORDER BY r.bucket, r.implementation_type
    LOOP
        BEGIN
            EXECUTE 'SELECT realtime.send($1::jsonb, $2::text, $3::text, $4::boolean)'
              USING v_payload, TG_OP, 'cachemon:metrics_1min', v_private;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'cachemon: realtime.send on topic % failed: % (%)',
                'cachemon:metrics_1min', SQLERRM, SQLSTATE;
        END;
    END LOOP;
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION cachemon._push_metrics_1min() IS
    'Trigger (SECURITY DEFINER, to reach Supabase''s realtime.send whoever changes the rows; refuses any table but cache_metrics_1min): after each INSERT or UPDATE statement on cache_metrics_1min, push each inserted or updated row (pg_notify channel cachemon_events, identifiers only; realtime.send topic cachemon:metrics_1min on Supabase, checked as genuine once per statement).';

-- Nobody but the owner may attach it (CREATE TRIGGER needs EXECUTE; firing does not).
REVOKE ALL ON FUNCTION cachemon._push_metrics_1min() FROM PUBLIC, cachemon_writer, cachemon_reader, cachemon_admin;

DROP TRIGGER IF EXISTS cache_metrics_1min_push ON cachemon.cache_metrics_1min;
CREATE TRIGGER cache_metrics_1min_push
    AFTER INSERT ON cachemon.cache_metrics_1min
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cachemon._push_metrics_1min();
DROP TRIGGER IF EXISTS cache_metrics_1min_push_update ON cachemon.cache_metrics_1min;
CREATE TRIGGER cache_metrics_1min_push_update
    AFTER UPDATE ON cachemon.cache_metrics_1min
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cachemon._push_metrics_1min();

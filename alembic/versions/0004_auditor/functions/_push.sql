CREATE OR REPLACE FUNCTION cachemon._push(p_topic text, p_event text, p_payload jsonb)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_text text := p_payload::text;
BEGIN
    /*
     * Send one change to live listeners: pg_notify on channel 'cachemon_events' (the payload
     * plus "topic"; delivered at commit; pg_notify's limit is 8000 bytes, the triggers send
     * a few hundred), and, where Supabase's realtime.send(jsonb, text, text, boolean) exists,
     * a broadcast on p_topic with event p_event, private unless setting
     * push.realtime_private is false. A failing broadcast (e.g. missing privilege on
     * realtime) is a WARNING, never an error: live push must not break rollups or the
     * auditor.
     */
    IF pg_catalog.octet_length(v_text) > 7900 THEN
        v_text := pg_catalog.jsonb_build_object('topic', p_topic, 'event', p_event,
                                                'truncated', true)::text;
    END IF;
    PERFORM pg_catalog.pg_notify('cachemon_events', v_text);
    IF pg_catalog.to_regprocedure('realtime.send(jsonb, text, text, boolean)') IS NOT NULL THEN
        BEGIN
            EXECUTE 'SELECT realtime.send($1, $2, $3, $4)'
              USING p_payload, p_event, p_topic,
                    coalesce(cachemon._setting('push.realtime_private')::boolean, true);
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'cachemon: realtime.send on topic % failed: % (%)', p_topic, SQLERRM, SQLSTATE;
        END;
    END IF;
END
$function$;

COMMENT ON FUNCTION cachemon._push(text, text, jsonb) IS
    'Internal: pg_notify(''cachemon_events'', payload) and, where Supabase''s realtime.send exists, a broadcast on the topic (private by default); broadcast failures are warnings.';

REVOKE ALL ON FUNCTION cachemon._push(text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._push(text, text, jsonb) TO cachemon_admin;

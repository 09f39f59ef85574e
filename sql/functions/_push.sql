CREATE OR REPLACE FUNCTION cachemon._push(p_topic text, p_event text, p_payload jsonb)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_send oid;
    v_notice jsonb;
BEGIN
    /*
     * Send one change to live listeners.
     *
     * pg_notify on channel 'cachemon_events' carries identifiers only, because PostgreSQL lets
     * every role that can connect LISTEN on any channel: {"topic","table","op"} plus
     * "bucket" and "implementation_type" for cache_metrics_1min, or "id" for
     * cache_auditor_observations. A listener re-reads the row through RLS.
     *
     * The full p_payload goes only to Supabase's realtime.send(jsonb, text, text, boolean),
     * on topic p_topic with event p_event, private unless setting push.realtime_private is
     * false, and only when that function is genuine (cachemon._genuine_realtime_send: owned by
     * a superuser or Supabase's admin roles, never a function a role with CREATE on the
     * database planted). It is called by oid-checked, fully typed name. A failing broadcast is
     * a WARNING, never an error: live push must not break rollups or the auditor.
     */
    v_notice := pg_catalog.jsonb_build_object('topic', p_topic,
                                              'table', p_payload->'table',
                                              'op', p_payload->'op');
    IF p_payload->>'table' = 'cache_metrics_1min' THEN
        v_notice := v_notice || pg_catalog.jsonb_build_object(
            'bucket', p_payload->'bucket',
            'implementation_type', p_payload->'implementation_type');
    ELSE
        v_notice := v_notice || pg_catalog.jsonb_build_object('id', p_payload->'id');
    END IF;
    IF pg_catalog.octet_length(v_notice::text) > 7900 THEN
        v_notice := pg_catalog.jsonb_build_object('topic', p_topic, 'table', p_payload->'table',
                                                  'op', p_payload->'op', 'truncated', true);
    END IF;
    PERFORM pg_catalog.pg_notify('cachemon_events', v_notice::text);

    BEGIN
        v_send := cachemon._genuine_realtime_send();
        IF v_send IS NOT NULL THEN
            EXECUTE 'SELECT realtime.send($1::jsonb, $2::text, $3::text, $4::boolean)'
              USING p_payload, p_event, p_topic,
                    coalesce(cachemon._setting('push.realtime_private')::boolean, true);
        END IF;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'cachemon: realtime.send on topic % failed: % (%)', p_topic, SQLERRM, SQLSTATE;
    END;
END
$function$;

COMMENT ON FUNCTION cachemon._push(text, text, jsonb) IS
    'Internal: pg_notify(''cachemon_events'', identifiers only) and, where Supabase''s genuine realtime.send exists, a private broadcast of the full payload on the topic; broadcast failures are warnings.';

REVOKE ALL ON FUNCTION cachemon._push(text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._push(text, text, jsonb) TO cachemon_admin;

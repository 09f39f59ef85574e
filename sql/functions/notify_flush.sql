CREATE OR REPLACE FUNCTION cachemon.notify_flush(p_now timestamptz DEFAULT pg_catalog.now(), p_max_steps integer DEFAULT 10000)
RETURNS TABLE (events_routed integer, groups_flushed integer, deliveries_queued integer, more boolean)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_now timestamptz := cachemon._check_now(p_now);
    v_event record;
    v_group record;
BEGIN
    /*
     * Runs the pipeline up to p_now: outbox events are routed into groups, and groups whose
     * next flush is due are flushed, in time order (an event at t is routed before a group
     * due after t is flushed, and after one due at or before t), each group at its own due
     * time rather than at p_now. So the result does not depend on when or how often this
     * runs: a worker that was down for an hour produces the messages, in order, that one
     * running all along would have. At most p_max_steps steps per call (more = true: call
     * again). One caller at a time (a transaction-level advisory lock; a second caller
     * returns zeros at once). The worker (`cachemon notify run`) calls it before claiming.
     */
    events_routed := 0; groups_flushed := 0; deliveries_queued := 0; more := false;
    IF p_max_steps IS NULL OR p_max_steps NOT BETWEEN 1 AND 1000000 THEN
        RAISE EXCEPTION 'cachemon: p_max_steps % must be within 1..1000000', coalesce(p_max_steps::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('cachemon.notify_flush')) THEN
        RETURN NEXT;
        RETURN;
    END IF;
    FOR i IN 1 .. p_max_steps + 1 LOOP
        SELECT e.id, e.at INTO v_event FROM cachemon.notify_events AS e
         WHERE e.routed_at IS NULL AND e.at <= v_now ORDER BY e.at, e.id LIMIT 1;
        SELECT g.id, g.next_flush_at INTO v_group FROM cachemon.notify_groups AS g
         WHERE g.next_flush_at <= v_now ORDER BY g.next_flush_at, g.id LIMIT 1;
        EXIT WHEN v_event.id IS NULL AND v_group.id IS NULL;
        IF i > p_max_steps THEN
            more := true;
            EXIT;
        END IF;
        IF v_group.id IS NOT NULL AND (v_event.id IS NULL OR v_group.next_flush_at < v_event.at) THEN
            deliveries_queued := deliveries_queued + cachemon._notify_flush_group(v_group.id, v_group.next_flush_at);
            groups_flushed := groups_flushed + 1;
        ELSE
            PERFORM cachemon._notify_route_event(v_event.id, v_now);
            events_routed := events_routed + 1;
        END IF;
    END LOOP;
    RETURN NEXT;
END
$function$;

COMMENT ON FUNCTION cachemon.notify_flush(timestamptz, integer) IS
    'Run the notification pipeline up to p_now: route outbox events into groups and flush due groups (inhibit, silence, resolve, dedup, repeat) in time order, queueing deliveries; one caller at a time.';

REVOKE ALL ON FUNCTION cachemon.notify_flush(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.notify_flush(timestamptz, integer) TO cachemon_admin;

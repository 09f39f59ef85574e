CREATE OR REPLACE FUNCTION cachemon._notify_route_event(p_event_id bigint, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_e cachemon.notify_events;
    v_r cachemon.notify_routes;
    v_key jsonb;
    v_gid bigint;
    v_firing boolean;
    v_routes integer := 0;
BEGIN
    /*
     * The routing stage for one outbox event: records the finding's latest state for the
     * inhibition stage (notify_findings), then walks the routes in (position, id) order;
     * each matching route puts the finding into its aggregation group (created with its
     * first flush at the event's time + group_wait) and the walk stops unless the route has
     * continue. A resolved finding that its group no longer holds (it was dropped, or the
     * route was added later) has nothing left to tell there. Every outcome is a notify_log
     * row. Returns the number of routes that took the event.
     */
    SELECT * INTO v_e FROM cachemon.notify_events AS e WHERE e.id = p_event_id FOR UPDATE;
    IF v_e.id IS NULL OR v_e.routed_at IS NOT NULL THEN
        RETURN 0;
    END IF;
    v_firing := v_e.status <> 'resolved';
    INSERT INTO cachemon.notify_findings AS f (observation_id, labels, firing, at)
    VALUES (v_e.observation_id, v_e.labels, v_firing, v_e.at)
    ON CONFLICT (observation_id) DO UPDATE
       SET labels = excluded.labels, firing = excluded.firing, at = excluded.at;
    FOR v_r IN SELECT * FROM cachemon.notify_routes AS r ORDER BY r.position, r.id LOOP
        CONTINUE WHEN NOT cachemon._notify_matches(v_r.matchers, v_e.labels);
        v_routes := v_routes + 1;
        v_key := coalesce((SELECT pg_catalog.jsonb_object_agg(g, v_e.labels ->> g)
                             FROM pg_catalog.unnest(v_r.group_by) AS g), '{}'::jsonb);
        SELECT g.id INTO v_gid FROM cachemon.notify_groups AS g
         WHERE g.route_id = v_r.id AND g.group_key = v_key;
        IF NOT v_firing AND (v_gid IS NULL OR NOT EXISTS (
                SELECT FROM cachemon.notify_alerts AS a
                 WHERE a.group_id = v_gid AND a.observation_id = v_e.observation_id)) THEN
            INSERT INTO cachemon.notify_log (at, observation_id, event_id, route_id, group_id, receiver, stage, outcome, reason)
            VALUES (v_e.at, v_e.observation_id, v_e.id, v_r.id, v_gid, v_r.receiver, 'resolve', 'suppressed',
                    'resolved, and no firing message is pending or was sent for it on this route');
        ELSE
            IF v_gid IS NULL THEN
                INSERT INTO cachemon.notify_groups AS g (route_id, group_key, created_at, next_flush_at)
                VALUES (v_r.id, v_key, v_e.at, v_e.at + v_r.group_wait)
                RETURNING g.id INTO v_gid;
            END IF;
            INSERT INTO cachemon.notify_alerts AS a
                   (group_id, observation_id, severity, firing, acknowledged, labels, finding,
                    starts_at, ends_at, last_event_id)
            VALUES (v_gid, v_e.observation_id, v_e.severity, v_firing, v_e.status = 'acknowledged',
                    v_e.labels, v_e.finding,
                    coalesce((v_e.finding ->> 'first_seen_at')::timestamptz, v_e.at),
                    CASE WHEN v_firing THEN NULL ELSE v_e.at END, v_e.id)
            ON CONFLICT (group_id, observation_id) DO UPDATE
               SET severity = excluded.severity, firing = excluded.firing,
                   acknowledged = excluded.acknowledged, labels = excluded.labels,
                   finding = excluded.finding, ends_at = excluded.ends_at,
                   last_event_id = excluded.last_event_id;
            INSERT INTO cachemon.notify_log (at, observation_id, event_id, route_id, group_id, receiver, stage, outcome, reason)
            VALUES (v_e.at, v_e.observation_id, v_e.id, v_r.id, v_gid, v_r.receiver, 'route', 'grouped',
                    pg_catalog.format('%s (%s): route #%s to receiver %s, group %s', v_e.kind,
                                      v_e.severity, v_r.id, v_r.receiver, v_key));
        END IF;
        EXIT WHEN NOT v_r."continue";
    END LOOP;
    IF v_routes = 0 THEN
        INSERT INTO cachemon.notify_log (at, observation_id, event_id, stage, outcome, reason)
        VALUES (v_e.at, v_e.observation_id, v_e.id, 'route', 'unrouted',
                pg_catalog.format('%s (%s): no route matches %s', v_e.kind, v_e.severity, v_e.labels));
    END IF;
    UPDATE cachemon.notify_events AS e SET routed_at = p_now WHERE e.id = v_e.id;
    RETURN v_routes;
END
$function$;

COMMENT ON FUNCTION cachemon._notify_route_event(bigint, timestamptz) IS
    'Internal (notify_flush): the routing stage for one outbox event: matching routes put the finding into their aggregation groups; every outcome is logged in notify_log.';

REVOKE ALL ON FUNCTION cachemon._notify_route_event(bigint, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._notify_route_event(bigint, timestamptz) TO cachemon_admin;

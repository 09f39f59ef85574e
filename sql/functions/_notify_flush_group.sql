CREATE OR REPLACE FUNCTION cachemon._notify_flush_group(p_group_id bigint, p_at timestamptz)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_g cachemon.notify_groups;
    v_r cachemon.notify_routes;
    v_rc cachemon.notify_receivers;
    v_a cachemon.notify_alerts;
    v_src record;
    v_sil cachemon.notify_silences;
    v_send jsonb := '[]'::jsonb;
    v_ids bigint[] := '{}';
    v_changed boolean := false;
    v_firing integer := 0;
    v_unacked integer := 0;
    v_repeat boolean;
    v_reason text;
    v_delivery bigint;
BEGIN
    /*
     * One flush of one aggregation group at p_at (its next_flush_at), the stages in
     * Alertmanager's order, each answering in notify_log:
     *   inhibit  a firing finding muted by a firing source finding (notify_inhibit_rules)
     *   silence  a firing finding muted by an active silence (starts_at <= p_at < ends_at)
     *   resolve  a resolved finding is told only if its firing message was sent (and the
     *            receiver has send_resolved): a finding that opened and resolved within
     *            group_wait, or while muted, sends nothing; a silence set mid-incident does
     *            not hold back the resolved message of a finding whose firing one went out
     *   dedup    a message goes out when a firing finding is new or changed severity since
     *            the receiver was last told, or a told finding resolved
     *   repeat   otherwise, a reminder of what still fires every repeat_interval, unless
     *            every firing finding is acknowledged (alertmanager receivers get every
     *            flush: Alertmanager expects alerts to be re-sent while they fire)
     * The message becomes one notify_deliveries row (one idempotency key) that the worker
     * retries and logs (notify_record). Then the group flushes again group_interval later
     * while it holds findings, and is dropped when empty.
     */
    SELECT * INTO v_g FROM cachemon.notify_groups AS g WHERE g.id = p_group_id FOR UPDATE;
    SELECT * INTO v_r FROM cachemon.notify_routes AS r WHERE r.id = v_g.route_id;
    SELECT * INTO v_rc FROM cachemon.notify_receivers AS rc WHERE rc.name = v_r.receiver;
    FOR v_a IN SELECT * FROM cachemon.notify_alerts AS a WHERE a.group_id = v_g.id
                ORDER BY a.observation_id LOOP
        IF v_a.firing THEN
            -- candidates share the target's equal labels (@>, the GIN index on firing
            -- findings): a lookup per rule, not a scan of every live finding
            SELECT i.id AS rule_id, f.observation_id, f.labels ->> 'severity' AS severity INTO v_src
              FROM cachemon.notify_inhibit_rules AS i
             CROSS JOIN LATERAL (
                   SELECT coalesce(pg_catalog.jsonb_object_agg(l, v_a.labels -> l)
                                       FILTER (WHERE v_a.labels ? l), '{}'::jsonb) AS eq
                     FROM pg_catalog.unnest(i.equal) AS l) AS k
              JOIN cachemon.notify_findings AS f
                ON f.firing AND f.labels @> k.eq
               AND f.observation_id <> v_a.observation_id AND f.at <= p_at
             WHERE cachemon._notify_matches(i.target_matchers, v_a.labels)
               AND NOT cachemon._notify_matches(i.source_matchers, v_a.labels)
               AND cachemon._notify_matches(i.source_matchers, f.labels)
               AND NOT EXISTS (SELECT FROM pg_catalog.unnest(i.equal) AS l
                                WHERE (f.labels ->> l) IS DISTINCT FROM (v_a.labels ->> l))
             ORDER BY i.id, f.observation_id LIMIT 1;
            v_reason := NULL;
            IF v_src.rule_id IS NOT NULL THEN
                v_reason := pg_catalog.format('inhibited by finding #%s (%s) under inhibit rule #%s',
                                              v_src.observation_id, v_src.severity, v_src.rule_id);
            ELSE
                SELECT * INTO v_sil FROM cachemon.notify_silences AS s
                 WHERE s.starts_at <= p_at AND p_at < s.ends_at
                   AND cachemon._notify_matches(s.matchers, v_a.labels)
                 ORDER BY s.id LIMIT 1;
                IF v_sil.id IS NOT NULL THEN
                    v_reason := pg_catalog.format('silenced by silence #%s of %s until %s: %s',
                                                  v_sil.id, v_sil.created_by, v_sil.ends_at, v_sil.comment);
                END IF;
            END IF;
            IF v_reason IS NOT NULL THEN
                IF v_a.last_event_id > v_a.accounted_event_id OR v_a.muted_logged_at IS NULL
                   OR p_at >= v_a.muted_logged_at + v_r.repeat_interval THEN
                    INSERT INTO cachemon.notify_log (at, observation_id, event_id, route_id, group_id, receiver, stage, outcome, reason)
                    VALUES (p_at, v_a.observation_id, v_a.last_event_id, v_r.id, v_g.id, v_r.receiver,
                            CASE WHEN v_src.rule_id IS NOT NULL THEN 'inhibit' ELSE 'silence' END,
                            'suppressed', v_reason);
                    UPDATE cachemon.notify_alerts AS a SET muted_logged_at = p_at
                     WHERE a.group_id = v_g.id AND a.observation_id = v_a.observation_id;
                END IF;
                CONTINUE;
            END IF;
            v_firing := v_firing + 1;
            v_unacked := v_unacked + CASE WHEN v_a.acknowledged THEN 0 ELSE 1 END;
            v_changed := v_changed OR v_a.notified_severity IS DISTINCT FROM v_a.severity;
        ELSIF v_a.notified_severity IS NULL OR NOT v_rc.send_resolved THEN
            INSERT INTO cachemon.notify_log (at, observation_id, event_id, route_id, group_id, receiver, stage, outcome, reason)
            VALUES (p_at, v_a.observation_id, v_a.last_event_id, v_r.id, v_g.id, v_r.receiver, 'resolve', 'suppressed',
                    CASE WHEN v_a.notified_severity IS NULL
                         THEN 'resolved before its firing message was sent (within group_wait, or while muted)'
                         ELSE pg_catalog.format('resolved; receiver %s has send_resolved off', v_r.receiver) END);
            DELETE FROM cachemon.notify_alerts AS a
             WHERE a.group_id = v_g.id AND a.observation_id = v_a.observation_id;
            CONTINUE;
        ELSE
            v_changed := true;
        END IF;
        v_send := v_send || pg_catalog.jsonb_build_array(pg_catalog.to_jsonb(v_a));
        v_ids := v_ids || v_a.observation_id;
    END LOOP;

    v_repeat := v_firing > 0 AND (v_rc.kind = 'alertmanager' OR (
                    v_unacked > 0 AND (v_g.last_sent_at IS NULL OR p_at >= v_g.last_sent_at + v_r.repeat_interval)));
    IF v_changed OR v_repeat THEN
        INSERT INTO cachemon.notify_deliveries AS d
               (receiver, route_id, group_id, order_key, observation_ids, reason, payload, created_at, due_at)
        VALUES (v_r.receiver, v_r.id, v_g.id, v_r.id || ':' || v_g.group_key::text, v_ids,
                CASE WHEN v_changed THEN 'changed' ELSE 'repeat' END,
                cachemon._notify_payload(v_r.receiver, v_r.id, v_g.group_key, v_send, p_at, v_r.group_interval),
                p_at, p_at)
        RETURNING d.id INTO v_delivery;
        INSERT INTO cachemon.notify_log (at, observation_id, event_id, route_id, group_id, receiver, stage, outcome, reason, delivery_id)
        SELECT p_at, (x ->> 'observation_id')::bigint, (x ->> 'last_event_id')::bigint, v_r.id, v_g.id, v_r.receiver,
               CASE WHEN v_changed THEN 'send' ELSE 'repeat' END, 'queued',
               CASE WHEN NOT (x ->> 'firing')::boolean THEN 'resolved: its firing message went out before'
                    WHEN (x ->> 'notified_severity') IS NULL THEN pg_catalog.format('firing (%s): first message', x ->> 'severity')
                    WHEN (x ->> 'notified_severity') <> (x ->> 'severity')
                        THEN pg_catalog.format('firing: severity %s -> %s', x ->> 'notified_severity', x ->> 'severity')
                    WHEN v_changed THEN 'firing, unchanged: sent with the group''s change'
                    ELSE pg_catalog.format('firing: reminder (repeat_interval %s)', v_r.repeat_interval) END,
               v_delivery
          FROM pg_catalog.jsonb_array_elements(v_send) AS x;
        UPDATE cachemon.notify_alerts AS a SET notified_severity = a.severity, muted_logged_at = NULL
         WHERE a.group_id = v_g.id AND a.firing AND a.observation_id = ANY (v_ids);
        DELETE FROM cachemon.notify_alerts AS a
         WHERE a.group_id = v_g.id AND NOT a.firing AND a.observation_id = ANY (v_ids);
        UPDATE cachemon.notify_groups AS g SET last_sent_at = p_at WHERE g.id = v_g.id;
        PERFORM pg_catalog.pg_notify('cachemon_notify', '');
    ELSE
        INSERT INTO cachemon.notify_log (at, observation_id, event_id, route_id, group_id, receiver, stage, outcome, reason)
        SELECT p_at, a.observation_id, a.last_event_id, v_r.id, v_g.id, v_r.receiver,
               CASE WHEN v_firing > 0 AND v_unacked = 0 THEN 'repeat' ELSE 'dedup' END, 'suppressed',
               CASE WHEN a.acknowledged
                    THEN pg_catalog.format('acknowledged by %s: no message of its own, no reminders',
                                           a.finding ->> 'acknowledged_by')
                    ELSE pg_catalog.format('already notified as %s at %s; next reminder from %s',
                                           a.notified_severity, v_g.last_sent_at, v_g.last_sent_at + v_r.repeat_interval) END
          FROM cachemon.notify_alerts AS a
         WHERE a.group_id = v_g.id AND a.observation_id = ANY (v_ids)
           AND a.last_event_id > a.accounted_event_id;
    END IF;
    UPDATE cachemon.notify_alerts AS a SET accounted_event_id = a.last_event_id WHERE a.group_id = v_g.id;
    IF EXISTS (SELECT FROM cachemon.notify_alerts AS a WHERE a.group_id = v_g.id) THEN
        UPDATE cachemon.notify_groups AS g SET next_flush_at = p_at + v_r.group_interval WHERE g.id = v_g.id;
    ELSE
        DELETE FROM cachemon.notify_groups AS g WHERE g.id = v_g.id;
    END IF;
    RETURN CASE WHEN v_delivery IS NULL THEN 0 ELSE 1 END;
END
$function$;

COMMENT ON FUNCTION cachemon._notify_flush_group(bigint, timestamptz) IS
    'Internal (notify_flush): one flush of an aggregation group: inhibit, silence, resolve, dedup and repeat stages; queues at most one delivery and logs every stage''s answer in notify_log.';

REVOKE ALL ON FUNCTION cachemon._notify_flush_group(bigint, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._notify_flush_group(bigint, timestamptz) TO cachemon_admin;

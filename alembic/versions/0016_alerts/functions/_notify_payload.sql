CREATE OR REPLACE FUNCTION cachemon._notify_payload(
    p_receiver text,
    p_route_id bigint,
    p_group_key jsonb,
    p_alerts jsonb,
    p_at timestamptz,
    p_group_interval interval)
RETURNS jsonb
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * One message: Alertmanager's webhook payload, version "4" (receiver, status,
     * groupLabels, commonLabels, commonAnnotations, externalURL, groupKey, truncatedAlerts,
     * alerts with status, labels, annotations, startsAt, endsAt, generatorURL, fingerprint),
     * so a receiver written for Alertmanager reads it unchanged, plus a cachemon object with
     * every finding's evidence (values, baseline, deviation, window and statistic details)
     * and links. p_alerts are notify_alerts rows as JSON. A firing alert's endsAt is
     * Alertmanager's zero time, except for alertmanager receivers: there it is p_at + 4 x
     * group_interval, the way Prometheus marks an alert it re-sends (the flush re-sends it
     * every group_interval while it fires), and a finding whose severity changed since it
     * was last told also ends the alert of its former severity there.
     */
    WITH rc AS (
        SELECT r.kind, coalesce(r.options ->> 'dashboard_url', '') AS dash
          FROM cachemon.notify_receivers AS r WHERE r.name = p_receiver
    ), a AS (
        SELECT x AS row, (x ->> 'firing')::boolean AS firing, x -> 'finding' AS f,
               x ->> 'observation_id' AS id, false AS superseded
          FROM pg_catalog.jsonb_array_elements(p_alerts) AS x
        UNION ALL
        -- Alertmanager identifies an alert by its labels, severity among them: when a
        -- finding's severity changed, the alert it was told before ends now.
        SELECT x || pg_catalog.jsonb_build_object('severity', x ->> 'notified_severity',
                                                  'ends_at', p_at),
               false, x -> 'finding', x ->> 'observation_id', true
          FROM pg_catalog.jsonb_array_elements(p_alerts) AS x CROSS JOIN rc
         WHERE rc.kind = 'alertmanager' AND (x ->> 'firing')::boolean
           AND (x ->> 'notified_severity') <> (x ->> 'severity')
    ), alerts AS (
        SELECT a.*, pg_catalog.jsonb_build_object(
                   'alertname', 'cachemon_' || (a.f ->> 'rule'),
                   'implementation', a.f ->> 'implementation_type',
                   'rule', a.f ->> 'rule',
                   'severity', a.row ->> 'severity',
                   'category', a.f ->> 'category',
                   'finding_id', a.id,
                   'source', 'cachemon') AS labels,
               CASE WHEN rc.dash = '' THEN NULL ELSE rc.dash || '/' END AS dash_link,
               CASE WHEN rc.dash = '' THEN '' ELSE rc.dash || '/?finding=' || a.id END AS finding_link,
               rc.kind
          FROM a CROSS JOIN rc
    ), rendered AS (
        SELECT alerts.*, pg_catalog.jsonb_build_object(
                   'status', CASE WHEN alerts.firing THEN 'firing' ELSE 'resolved' END,
                   'labels', alerts.labels,
                   'annotations', pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                       'summary', pg_catalog.format('%s %s on %s (%s)', alerts.row ->> 'severity',
                                                    alerts.f ->> 'rule', alerts.f ->> 'implementation_type',
                                                    alerts.f ->> 'category'),
                       'description', alerts.f ->> 'message',
                       'recommendation', alerts.f ->> 'recommendation',
                       'dashboard', alerts.dash_link,
                       'finding', nullif(alerts.finding_link, ''))),
                   'startsAt', pg_catalog.to_char((alerts.row ->> 'starts_at')::timestamptz AT TIME ZONE 'UTC',
                                                  'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                   'endsAt', CASE
                       WHEN NOT alerts.firing THEN pg_catalog.to_char((alerts.row ->> 'ends_at')::timestamptz AT TIME ZONE 'UTC',
                                                                      'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
                       WHEN alerts.kind = 'alertmanager' THEN pg_catalog.to_char((p_at + 4 * p_group_interval) AT TIME ZONE 'UTC',
                                                                                 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
                       ELSE '0001-01-01T00:00:00Z' END,
                   'generatorURL', alerts.finding_link,
                   'fingerprint', left(pg_catalog.md5(alerts.labels::text), 16)) AS alert,
               alerts.f || pg_catalog.jsonb_build_object(
                   'state', CASE WHEN alerts.firing THEN 'firing' ELSE 'resolved' END,
                   'severity', alerts.row ->> 'severity',
                   'link', nullif(alerts.finding_link, '')) AS finding
          FROM alerts
    ), common AS (
        SELECT coalesce(pg_catalog.jsonb_object_agg(k.key, k.value), '{}'::jsonb) AS labels
          FROM (SELECT l.key, l.value
                  FROM rendered CROSS JOIN LATERAL pg_catalog.jsonb_each(rendered.labels) AS l
                 GROUP BY l.key, l.value
                HAVING count(*) = (SELECT count(*) FROM rendered)) AS k
    )
    SELECT pg_catalog.jsonb_build_object(
               'version', '4',
               'receiver', p_receiver,
               'status', CASE WHEN bool_or(rendered.firing) THEN 'firing' ELSE 'resolved' END,
               'groupKey', pg_catalog.format('{}/{route=%s}:{%s}', p_route_id,
                   coalesce((SELECT string_agg(k || '=' || pg_catalog.to_json(v)::text, ', ' ORDER BY k)
                               FROM pg_catalog.jsonb_each_text(p_group_key) AS j(k, v)), '')),
               'truncatedAlerts', 0,
               'groupLabels', p_group_key,
               'commonLabels', (SELECT c.labels FROM common AS c),
               'commonAnnotations', '{}'::jsonb,
               'externalURL', coalesce(max(rendered.dash_link), ''),
               'alerts', pg_catalog.jsonb_agg(rendered.alert ORDER BY rendered.firing DESC, rendered.id::bigint),
               'cachemon', pg_catalog.jsonb_build_object(
                   'version', 1,
                   'route_id', p_route_id,
                   'sent_for', pg_catalog.to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                   'dashboard', max(rendered.dash_link),
                   'findings', pg_catalog.jsonb_agg(rendered.finding ORDER BY rendered.firing DESC, rendered.id::bigint)
                                   FILTER (WHERE NOT rendered.superseded)))
      FROM rendered
$function$;

COMMENT ON FUNCTION cachemon._notify_payload(text, bigint, jsonb, jsonb, timestamptz, interval) IS
    'Internal (notify_flush): a message body: Alertmanager''s webhook payload version "4" plus a cachemon object with each finding''s evidence and links.';

REVOKE ALL ON FUNCTION cachemon._notify_payload(text, bigint, jsonb, jsonb, timestamptz, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._notify_payload(text, bigint, jsonb, jsonb, timestamptz, interval) TO cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon.add_route(
    p_receiver text,
    p_matchers jsonb DEFAULT '[]'::jsonb,
    p_group_by text[] DEFAULT '{implementation,rule}',
    p_group_wait interval DEFAULT '30 seconds',
    p_group_interval interval DEFAULT '5 minutes',
    p_repeat_interval interval DEFAULT '4 hours',
    p_continue boolean DEFAULT false,
    p_position integer DEFAULT 100)
RETURNS SETOF cachemon.notify_routes
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * Adds a route: findings matching p_matchers go to p_receiver, grouped by p_group_by
     * (implementation, rule, category), first message group_wait after a group's first
     * finding, later changes at most every group_interval, a reminder of what still fires
     * every repeat_interval (Alertmanager's defaults: 30 s, 5 min, 4 h). Routes are tried in
     * (position, id) order; p_continue lets the next ones match too.
     */
    IF NOT EXISTS (SELECT FROM cachemon.notify_receivers AS r WHERE r.name = p_receiver) THEN
        RAISE EXCEPTION 'cachemon: receiver % does not exist', coalesce(p_receiver, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_group_by IS NULL OR NOT p_group_by <@ '{implementation,rule,category}'::text[] THEN
        RAISE EXCEPTION 'cachemon: group_by % may name only implementation, rule, category',
            coalesce(p_group_by::text, 'NULL') USING ERRCODE = 'invalid_parameter_value',
            HINT = 'severity is not a grouping label: a finding keeps its identity when it escalates.';
    END IF;
    IF p_group_wait IS NULL OR p_group_wait < '0 seconds' OR p_group_wait > '1 day'
       OR p_group_interval IS NULL OR p_group_interval < '1 second' OR p_group_interval > '1 day'
       OR p_repeat_interval IS NULL OR p_repeat_interval < p_group_interval
       OR p_repeat_interval > '30 days' THEN
        RAISE EXCEPTION 'cachemon: group_wait % (0..1 day), group_interval % (1 s..1 day), repeat_interval % (group_interval..30 days) out of range',
            p_group_wait, p_group_interval, p_repeat_interval USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_position IS NULL OR p_position NOT BETWEEN 0 AND 1000000 THEN
        RAISE EXCEPTION 'cachemon: position % must be within 0..1000000', coalesce(p_position::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY INSERT INTO cachemon.notify_routes AS r
           (position, receiver, matchers, group_by, group_wait, group_interval, repeat_interval, "continue")
    VALUES (p_position, p_receiver, cachemon._notify_check_matchers('matchers', p_matchers),
            ARRAY(SELECT DISTINCT g FROM pg_catalog.unnest(p_group_by) AS g ORDER BY g),
            p_group_wait, p_group_interval, p_repeat_interval, coalesce(p_continue, false))
    RETURNING r.*;
END
$function$;

COMMENT ON FUNCTION cachemon.add_route(text, jsonb, text[], interval, interval, interval, boolean, integer) IS
    'Add a route: matchers on implementation, rule, severity, category -> receiver, with group_by, group_wait (30 s), group_interval (5 min), repeat_interval (4 h) and continue, as in Alertmanager.';

REVOKE ALL ON FUNCTION cachemon.add_route(text, jsonb, text[], interval, interval, interval, boolean, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.add_route(text, jsonb, text[], interval, interval, interval, boolean, integer) TO cachemon_admin;

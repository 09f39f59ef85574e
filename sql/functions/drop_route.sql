CREATE OR REPLACE FUNCTION cachemon.drop_route(p_id bigint)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * Drops a route and its aggregation groups. Deliveries already queued stay and are sent;
     * the log keeps its rows.
     */
    DELETE FROM cachemon.notify_routes AS r WHERE r.id = p_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'cachemon: route % does not exist', coalesce(p_id::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN true;
END
$function$;

COMMENT ON FUNCTION cachemon.drop_route(bigint) IS
    'Drop a route and its aggregation groups; queued deliveries are still sent.';

REVOKE ALL ON FUNCTION cachemon.drop_route(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.drop_route(bigint) TO cachemon_admin;

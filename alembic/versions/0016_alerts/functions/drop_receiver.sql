CREATE OR REPLACE FUNCTION cachemon.drop_receiver(p_name text)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * Drops a receiver, its routes (and their groups) and its secrets. A receiver with
     * deliveries keeps its row, renamed nowhere: its history stays readable, so it is
     * refused; drop its routes instead (drop_route), and nothing new reaches it.
     */
    IF EXISTS (SELECT FROM cachemon.notify_deliveries AS d WHERE d.receiver = p_name) THEN
        RAISE EXCEPTION 'cachemon: receiver % has deliveries in the log and is kept', p_name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Drop its routes (cachemon notify route drop) so nothing new reaches it.';
    END IF;
    DELETE FROM cachemon.notify_routes AS r WHERE r.receiver = p_name;
    DELETE FROM cachemon.notify_receivers AS r WHERE r.name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'cachemon: receiver % does not exist', coalesce(p_name, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN true;
END
$function$;

COMMENT ON FUNCTION cachemon.drop_receiver(text) IS
    'Drop a receiver with its routes and secrets; refused while deliveries to it are in the log (drop its routes instead).';

REVOKE ALL ON FUNCTION cachemon.drop_receiver(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.drop_receiver(text) TO cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon._setting(p_name text)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_value text;
BEGIN
    /* One place that reads cachemon._settings, so a missing name is a clear error. */
    SELECT s.value INTO v_value FROM cachemon._settings AS s WHERE s.name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'cachemon setting % does not exist', pg_catalog.quote_literal(p_name)
            USING ERRCODE = 'undefined_object',
                  HINT = 'SELECT name, value FROM cachemon._settings lists the settings';
    END IF;
    RETURN v_value;
END
$function$;

COMMENT ON FUNCTION cachemon._setting(text) IS
    'Internal: the value of a row of cachemon._settings as text; an unknown name is an error.';

REVOKE ALL ON FUNCTION cachemon._setting(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._setting(text)
    TO cachemon_reader, cachemon_writer, cachemon_admin;

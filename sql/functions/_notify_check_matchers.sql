CREATE OR REPLACE FUNCTION cachemon._notify_check_matchers(p_field text, p_matchers jsonb)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_m jsonb;
BEGIN
    /*
     * Checks matchers before they are stored: a JSON array of at most 20 objects
     * {name, op, value}, name one of the finding's labels, op one of = != =~ !~, value a
     * string of at most 200 characters, and a regex that compiles. Returns the array with
     * exactly those keys. A bad matcher is refused with the field and the value, so no
     * stored matcher can make routing fail later.
     */
    IF p_matchers IS NULL OR pg_catalog.jsonb_typeof(p_matchers) <> 'array'
       OR pg_catalog.jsonb_array_length(p_matchers) > 20 THEN
        RAISE EXCEPTION 'cachemon: % must be a JSON array of at most 20 matchers, got %',
            p_field, left(coalesce(p_matchers::text, 'NULL'), 200)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR v_m IN SELECT m FROM pg_catalog.jsonb_array_elements(p_matchers) AS m LOOP
        IF pg_catalog.jsonb_typeof(v_m) <> 'object'
           OR coalesce(v_m ->> 'name', '') NOT IN ('implementation', 'rule', 'severity', 'category')
           OR coalesce(v_m ->> 'op', '') NOT IN ('=', '!=', '=~', '!~')
           OR pg_catalog.jsonb_typeof(v_m -> 'value') IS DISTINCT FROM 'string'
           OR pg_catalog.length(v_m ->> 'value') > 200 THEN
            RAISE EXCEPTION 'cachemon: % has a bad matcher %', p_field, left(v_m::text, 300)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'A matcher is {"name": implementation|rule|severity|category, "op": = != =~ !~, "value": text}; on the command line: name=value, name!=value, name=~regex, name!~regex.';
        END IF;
        IF v_m ->> 'op' IN ('=~', '!~') THEN
            BEGIN
                PERFORM '' ~ ('^(?:' || (v_m ->> 'value') || ')$');
            EXCEPTION WHEN invalid_regular_expression THEN
                RAISE EXCEPTION 'cachemon: % has an invalid regular expression %', p_field,
                    left(v_m ->> 'value', 200) USING ERRCODE = 'invalid_parameter_value';
            END;
        END IF;
    END LOOP;
    RETURN (SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                'name', m ->> 'name', 'op', m ->> 'op', 'value', m ->> 'value')), '[]'::jsonb)
              FROM pg_catalog.jsonb_array_elements(p_matchers) AS m);
END
$function$;

COMMENT ON FUNCTION cachemon._notify_check_matchers(text, jsonb) IS
    'Internal: validates matchers (array of {name: implementation|rule|severity|category, op: = != =~ !~, value}; regexes must compile) and returns them normalised; raises naming the field and the value.';

REVOKE ALL ON FUNCTION cachemon._notify_check_matchers(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._notify_check_matchers(text, jsonb) TO cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon._otlp_number(p_where text, p_field text, p_value jsonb)
RETURNS numeric
LANGUAGE plpgsql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * A number of an OTLP JSON message: a JSON number, or a string holding an integer (the
     * protobuf JSON mapping writes 64-bit integers as strings). NULL stays NULL; anything
     * else is an error naming p_where and p_field.
     */
    IF p_value IS NULL OR pg_catalog.jsonb_typeof(p_value) = 'null' THEN
        RETURN NULL;
    END IF;
    IF pg_catalog.jsonb_typeof(p_value) = 'number' THEN
        RETURN (p_value::text)::numeric;
    END IF;
    IF pg_catalog.jsonb_typeof(p_value) = 'string' AND (p_value #>> '{}') ~ '^-?[0-9]{1,30}$' THEN
        RETURN (p_value #>> '{}')::numeric;
    END IF;
    RAISE EXCEPTION '%: field "%" has invalid value %; a number is expected', p_where, p_field,
        pg_catalog.regexp_replace(pg_catalog.left(p_value::text, 100), '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]', '?', 'g')
        USING ERRCODE = 'invalid_parameter_value';
END
$function$;

COMMENT ON FUNCTION cachemon._otlp_number(text, text, jsonb) IS
    'Internal (ingest_otlp): a JSON number or integer string as numeric; an error naming the field otherwise.';

REVOKE ALL ON FUNCTION cachemon._otlp_number(text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._otlp_number(text, text, jsonb) TO cachemon_writer, cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon._otlp_attributes(p_attributes jsonb)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * OTLP attributes as one flat object of strings: the protobuf JSON form (a list of
     * {"key": k, "value": {"stringValue": v}}, other value kinds as their JSON text) or an
     * object (the form SDKs' own to_json writes). NULL or anything else gives {}.
     */
    SELECT CASE pg_catalog.jsonb_typeof(p_attributes)
        WHEN 'object' THEN p_attributes
        WHEN 'array' THEN (
            SELECT coalesce(pg_catalog.jsonb_object_agg(a.value ->> 'key',
                       coalesce(a.value #> '{value,stringValue}', a.value #> '{value,string_value}',
                                pg_catalog.to_jsonb((SELECT v.value::text FROM pg_catalog.jsonb_each(a.value -> 'value') AS v LIMIT 1)))),
                       '{}')
              FROM pg_catalog.jsonb_array_elements(p_attributes) AS a
             WHERE pg_catalog.jsonb_typeof(a.value) = 'object' AND a.value ->> 'key' IS NOT NULL)
        ELSE '{}'::jsonb END;
$function$;

COMMENT ON FUNCTION cachemon._otlp_attributes(jsonb) IS
    'Internal (ingest_otlp): OTLP attributes (a list of key/value objects, or an object) as one flat JSON object.';

REVOKE ALL ON FUNCTION cachemon._otlp_attributes(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._otlp_attributes(jsonb) TO cachemon_writer, cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon._ingest_refuse(p_index bigint, p_field text, p_event jsonb,
                                                  p_max_response_time_ms numeric)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_value   jsonb;
    v_shown   text;
    v_rule    text;
    v_unknown text;
BEGIN
    /*
     * The error of ingest_events for the first bad element it finds: never returns. Called
     * from ingest_events' one set-wise statement (WHERE bad IS NULL OR _ingest_refuse(...)),
     * so the refusal names the element's 0-based index, the field and its value, and says
     * what the field must be. The value is shown short and safe for a terminal: at most 200
     * characters, long numbers in scientific notation (1e-400, not 400 digits), and control
     * and bidi characters as \uXXXX escapes.
     */
    IF p_field = '(event)' THEN
        RAISE EXCEPTION 'ingest_events: event % must be a JSON object, got %',
            p_index, pg_catalog.left(p_event::text, 200)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_field = '(unknown)' THEN
        SELECT k INTO v_unknown
          FROM pg_catalog.jsonb_object_keys(p_event) AS k
         WHERE k <> ALL (ARRAY['recorded_at', 'implementation_type', 'event_type', 'cache_key',
                               'response_time_ms', 'cache_size', 'error_type', 'error_message'])
         LIMIT 1;
        RAISE EXCEPTION 'ingest_events: event %: unknown field "%"', p_index,
            pg_catalog.left(pg_catalog.regexp_replace(v_unknown, '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]', '?', 'g'), 100)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'known fields: recorded_at, implementation_type, event_type, cache_key, '
                         'response_time_ms, cache_size, error_type, error_message';
    END IF;

    v_value := p_event -> p_field;
    IF v_value IS NULL THEN
        v_shown := '(missing)';
    ELSIF pg_catalog.jsonb_typeof(v_value) = 'number' AND pg_catalog.length(v_value::text) > 30 THEN
        v_shown := pg_catalog.btrim(pg_catalog.to_char(v_value::numeric, '9.999999EEEE'));
    ELSE
        SELECT pg_catalog.string_agg(
                   CASE WHEN t.ch ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'
                        THEN '\u' || pg_catalog.lpad(pg_catalog.to_hex(pg_catalog.ascii(t.ch)), 4, '0')
                        ELSE t.ch END, '' ORDER BY t.n)
          INTO v_shown
          FROM pg_catalog.regexp_split_to_table(pg_catalog.left(v_value::text, 200), '')
               WITH ORDINALITY AS t(ch, n);
    END IF;
    v_rule := CASE p_field
        WHEN 'implementation_type' THEN
            'a string of 1 to 64 characters without surrounding blanks, control or bidi characters'
        WHEN 'event_type' THEN 'one of hit, miss, set, evict, error'
        WHEN 'recorded_at' THEN
            'an ISO 8601 timestamp string with an explicit UTC offset (e.g. 2026-01-02T03:04:05Z or +01:00), or null'
        WHEN 'response_time_ms' THEN pg_catalog.format(
            '0, or a number from 0.000001 (1 ns) to %s (ingest.max_response_time_ms), or null (use 0 for less than 1 ns: float arithmetic underflows below it)',
            p_max_response_time_ms)
        WHEN 'cache_size' THEN 'an integer from 0 to 9223372036854775807, or null'
        WHEN 'cache_key' THEN 'a string of at most 4096 characters without control or bidi characters, or null'
        WHEN 'error_type' THEN 'a string of at most 256 characters without control or bidi characters, or null'
        WHEN 'error_message' THEN 'a string of at most 4096 characters without control or bidi characters, or null'
        ELSE 'valid'
    END;
    RAISE EXCEPTION 'ingest_events: event %: field "%" has invalid value %', p_index, p_field, v_shown
        USING ERRCODE = 'invalid_parameter_value',
              DETAIL = pg_catalog.format('%s must be %s', p_field, v_rule),
              HINT = 'the whole batch was refused; nothing was stored';
END
$function$;

COMMENT ON FUNCTION cachemon._ingest_refuse(bigint, text, jsonb, numeric) IS
    'Internal (ingest_events): raises the error refusing a batch for its first bad element, naming index, field and a short, terminal-safe value; never returns.';

REVOKE ALL ON FUNCTION cachemon._ingest_refuse(bigint, text, jsonb, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._ingest_refuse(bigint, text, jsonb, numeric)
    TO cachemon_writer, cachemon_admin;

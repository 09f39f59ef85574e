CREATE OR REPLACE FUNCTION cachemon.ingest_events(events jsonb, batch_id uuid DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_batch_id  uuid := coalesce(ingest_events.batch_id, pg_catalog.gen_random_uuid());
    v_event     jsonb;
    v_index     bigint;
    v_count     bigint;
    v_field     text;
    v_value     jsonb;
    v_problem   text;
    v_number    numeric;
    v_allowed   CONSTANT text[] := ARRAY['recorded_at', 'implementation_type', 'event_type',
        'cache_key', 'response_time_ms', 'cache_size', 'error_type', 'error_message'];
BEGIN
    /*
     * The SQL entry point of ingest, for clients that are not the Python collector (a Supabase
     * RPC, an edge function, psql). The parameters are named events and batch_id, not p_...,
     * because they are part of the contract: RPC clients pass them by name.
     *
     * Every event is validated first, and the whole batch is refused with an error naming the
     * event's index (0-based, as in the JSON array), the field and the value, so a client
     * never has half a batch stored. Then the batch id goes into cachemon._ingested_batches
     * and the rows into cachemon.cache_metrics in the caller's transaction: a batch id already
     * stored returns 0 and stores nothing (a retry after a lost reply counts once). Runs as the
     * invoker: cachemon_writer has INSERT on both tables.
     */
    IF events IS NULL OR pg_catalog.jsonb_typeof(events) <> 'array' THEN
        RAISE EXCEPTION 'ingest_events: events must be a JSON array of event objects, got %',
            coalesce(pg_catalog.left(events::text, 200), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    FOR v_event, v_index IN
        SELECT e.value, e.ordinality - 1 FROM pg_catalog.jsonb_array_elements(events) WITH ORDINALITY AS e
    LOOP
        v_field := NULL;
        v_problem := NULL;
        IF pg_catalog.jsonb_typeof(v_event) <> 'object' THEN
            RAISE EXCEPTION 'ingest_events: event % must be a JSON object, got %',
                v_index, pg_catalog.left(v_event::text, 200)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        SELECT k INTO v_field
          FROM pg_catalog.jsonb_object_keys(v_event) AS k
         WHERE k <> ALL (v_allowed)
         LIMIT 1;
        IF v_field IS NOT NULL THEN
            RAISE EXCEPTION 'ingest_events: event %: unknown field "%"', v_index, v_field
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'known fields: ' || pg_catalog.array_to_string(v_allowed, ', ');
        END IF;

        -- implementation_type: required text, 1 to 64 characters, no surrounding blanks.
        v_field := 'implementation_type';
        v_value := v_event -> v_field;
        IF v_value IS NULL OR pg_catalog.jsonb_typeof(v_value) <> 'string'
           OR pg_catalog.length(v_value #>> '{}') NOT BETWEEN 1 AND 64
           OR (v_value #>> '{}') ~ '^\s|\s$' THEN
            v_problem := 'a string of 1 to 64 characters without surrounding blanks';
        END IF;

        IF v_problem IS NULL THEN
            v_field := 'event_type';
            v_value := v_event -> v_field;
            IF v_value IS NULL OR pg_catalog.jsonb_typeof(v_value) <> 'string'
               OR (v_value #>> '{}') NOT IN ('hit', 'miss', 'set', 'evict', 'error') THEN
                v_problem := 'one of hit, miss, set, evict, error';
            END IF;
        END IF;

        IF v_problem IS NULL THEN
            v_field := 'recorded_at';
            v_value := v_event -> v_field;
            IF v_value IS NOT NULL AND pg_catalog.jsonb_typeof(v_value) <> 'null' THEN
                IF pg_catalog.jsonb_typeof(v_value) <> 'string'
                   OR (v_value #>> '{}') !~ '^\d{4}-\d{2}-\d{2}' THEN
                    v_problem := 'an ISO 8601 timestamp string (with a UTC offset) or null';
                ELSE
                    BEGIN
                        PERFORM (v_value #>> '{}')::timestamptz;
                    EXCEPTION WHEN data_exception THEN
                        v_problem := 'an ISO 8601 timestamp string (with a UTC offset) or null';
                    END;
                END IF;
            END IF;
        END IF;

        IF v_problem IS NULL THEN
            v_field := 'response_time_ms';
            v_value := v_event -> v_field;
            IF v_value IS NOT NULL AND pg_catalog.jsonb_typeof(v_value) <> 'null'
               AND (pg_catalog.jsonb_typeof(v_value) <> 'number'
                    OR (v_value #>> '{}')::numeric < 0
                    OR (v_value #>> '{}')::numeric >= 1e308) THEN
                v_problem := 'a number >= 0 or null';
            END IF;
        END IF;

        IF v_problem IS NULL THEN
            v_field := 'cache_size';
            v_value := v_event -> v_field;
            IF v_value IS NOT NULL AND pg_catalog.jsonb_typeof(v_value) <> 'null' THEN
                IF pg_catalog.jsonb_typeof(v_value) <> 'number' THEN
                    v_problem := 'an integer >= 0 or null';
                ELSE
                    v_number := (v_value #>> '{}')::numeric;
                    IF v_number < 0 OR v_number <> pg_catalog.trunc(v_number)
                       OR v_number > 9223372036854775807 THEN
                        v_problem := 'an integer >= 0 or null';
                    END IF;
                END IF;
            END IF;
        END IF;

        IF v_problem IS NULL THEN
            v_field := 'cache_key';
            v_value := v_event -> v_field;
            IF v_value IS NOT NULL AND pg_catalog.jsonb_typeof(v_value) <> 'null'
               AND (pg_catalog.jsonb_typeof(v_value) <> 'string'
                    OR pg_catalog.length(v_value #>> '{}') > 4096) THEN
                v_problem := 'a string of at most 4096 characters or null';
            END IF;
        END IF;

        IF v_problem IS NULL THEN
            v_field := 'error_type';
            v_value := v_event -> v_field;
            IF v_value IS NOT NULL AND pg_catalog.jsonb_typeof(v_value) <> 'null'
               AND (pg_catalog.jsonb_typeof(v_value) <> 'string'
                    OR pg_catalog.length(v_value #>> '{}') > 256) THEN
                v_problem := 'a string of at most 256 characters or null';
            END IF;
        END IF;

        IF v_problem IS NULL THEN
            v_field := 'error_message';
            v_value := v_event -> v_field;
            IF v_value IS NOT NULL AND pg_catalog.jsonb_typeof(v_value) <> 'null'
               AND (pg_catalog.jsonb_typeof(v_value) <> 'string'
                    OR pg_catalog.length(v_value #>> '{}') > 4096) THEN
                v_problem := 'a string of at most 4096 characters or null';
            END IF;
        END IF;

        IF v_problem IS NOT NULL THEN
            RAISE EXCEPTION 'ingest_events: event %: field "%" has invalid value %',
                v_index, v_field, coalesce(pg_catalog.left(v_value::text, 200), '(missing)')
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = pg_catalog.format('%s must be %s', v_field, v_problem),
                      HINT = 'the whole batch was refused; nothing was stored';
        END IF;
    END LOOP;

    v_count := pg_catalog.jsonb_array_length(events);
    INSERT INTO cachemon._ingested_batches AS b (batch_id, event_count, source)
    VALUES (v_batch_id, v_count::integer, 'ingest_events')
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN 0;  -- this batch id is already stored: a retry, counted once
    END IF;

    INSERT INTO cachemon.cache_metrics (recorded_at, implementation_type, event_type, cache_key,
                                        response_time_ms, cache_size, error_type, error_message,
                                        batch_id)
    SELECT coalesce(r.recorded_at, pg_catalog.now()), r.implementation_type, r.event_type,
           r.cache_key, r.response_time_ms, r.cache_size, r.error_type, r.error_message,
           v_batch_id
      FROM pg_catalog.jsonb_to_recordset(events) AS r (
               recorded_at timestamptz, implementation_type text, event_type text,
               cache_key text, response_time_ms double precision, cache_size bigint,
               error_type text, error_message text);
    RETURN v_count;
END
$function$;

COMMENT ON FUNCTION cachemon.ingest_events(jsonb, uuid) IS
    'Store a batch of cache events given as a JSON array of objects (implementation_type, event_type, '
    'and optional recorded_at, cache_key, response_time_ms, cache_size, error_type, error_message). '
    'All or nothing: a bad event refuses the batch with an error naming its index, field and value. '
    'Idempotent by batch_id: a batch id already stored returns 0. Returns the number of events stored; '
    'events without recorded_at get now().';

REVOKE ALL ON FUNCTION cachemon.ingest_events(jsonb, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.ingest_events(jsonb, uuid) TO cachemon_writer, cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon.ingest_events(events jsonb, batch_id uuid DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_batch_id  uuid := coalesce(ingest_events.batch_id, pg_catalog.gen_random_uuid());
    v_count     bigint;
    v_stored    bigint;
    v_hash      bytea;
    v_seen      text;
    v_max_rt    numeric := cachemon._setting('ingest.max_response_time_ms')::numeric;
    v_allowed   CONSTANT text[] := ARRAY['recorded_at', 'implementation_type', 'event_type',
        'cache_key', 'response_time_ms', 'cache_size', 'error_type', 'error_message'];
    v_state     text;
    v_message   text;
    v_event     jsonb;
    v_index     bigint;
    v_field     text;
BEGIN
    /*
     * The SQL entry point of ingest, for clients that are not the Python collector (a Supabase
     * RPC, an edge function, psql). The parameters are named events and batch_id, not p_...,
     * because they are part of the contract: RPC clients pass them by name.
     *
     * All or nothing. One INSERT ... SELECT over jsonb_array_elements(events) WITH ORDINALITY
     * validates and stores: each element's first bad field (in the order implementation_type,
     * event_type, recorded_at, response_time_ms, cache_size, cache_key, error_type,
     * error_message) is found by one CASE, and the first bad element stops the statement
     * through cachemon._ingest_refuse, whose error names the index (0-based, as in the JSON
     * array), the field and the value; nothing of the batch is stored. A value that passes
     * those checks but cannot be cast (a date like February 30, a latency like 1e-400 that
     * rounds to nothing in double precision) is found by a second, per-element pass that only
     * runs on that error. The domains are those of cache_metrics' CHECK constraints (docs/
     * security.md): recorded_at needs an explicit UTC offset ("Z" or "+hh:mm"; a timestamp
     * without one would be read in the session's TimeZone), response_time_ms is 0 to
     * ingest.max_response_time_ms (at most one day), cache_size an integer in bigint range
     * (100.0 is 100), text without control or bidi characters.
     *
     * Batches: an empty array stores nothing and records no batch id. A batch id already
     * stored with the same content (SHA-256 of the events' jsonb text) returns 0 (a retry
     * after a lost reply counts once); with different content it is an error naming the batch
     * id. Invoker rights: cachemon_writer has INSERT on both tables and EXECUTE on
     * cachemon._batch_seen, which compares a stored batch without reading it.
     */
    IF events IS NULL OR pg_catalog.jsonb_typeof(events) <> 'array' THEN
        RAISE EXCEPTION 'ingest_events: events must be a JSON array of event objects, got %',
            coalesce(pg_catalog.left(events::text, 200), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_count := pg_catalog.jsonb_array_length(events);
    IF v_count = 0 THEN
        RAISE NOTICE 'ingest_events: empty batch: nothing stored, batch id % not recorded', v_batch_id;
        RETURN 0;
    END IF;

    v_hash := pg_catalog.sha256(pg_catalog.convert_to(events::text, 'UTF8'));
    INSERT INTO cachemon._ingested_batches AS b (batch_id, event_count, source, content_hash)
    VALUES (v_batch_id, v_count, 'ingest_events', v_hash)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        v_seen := cachemon._batch_seen(v_batch_id, v_hash);
        IF v_seen = 'different' THEN
            RAISE EXCEPTION 'ingest_events: batch % was already stored with different content', v_batch_id
                USING ERRCODE = 'unique_violation',
                      DETAIL = 'A batch id names one batch: its events (compared by SHA-256 of their JSON) must not change between retries.',
                      HINT = 'Send new events under a new batch id (or none, to get a random one).';
        END IF;
        RAISE NOTICE 'ingest_events: batch % was already stored; nothing stored now', v_batch_id;
        RETURN 0;  -- a retry of a stored batch, counted once
    END IF;

    BEGIN
        INSERT INTO cachemon.cache_metrics (recorded_at, implementation_type, event_type, cache_key,
                                            response_time_ms, cache_size, error_type, error_message,
                                            batch_id)
        SELECT coalesce((c.ev ->> 'recorded_at')::timestamptz, pg_catalog.now()),
               c.ev ->> 'implementation_type', c.ev ->> 'event_type', c.ev ->> 'cache_key',
               (c.ev ->> 'response_time_ms')::double precision,
               (c.ev -> 'cache_size')::numeric::bigint,
               c.ev ->> 'error_type', c.ev ->> 'error_message', v_batch_id
          FROM (SELECT e.value AS ev, e.ordinality - 1 AS idx,
                       CASE
                       WHEN pg_catalog.jsonb_typeof(e.value) <> 'object' THEN '(event)'
                       WHEN e.value - v_allowed <> '{}'::jsonb THEN '(unknown)'
                       WHEN CASE pg_catalog.jsonb_typeof(e.value -> 'implementation_type')
                            WHEN 'string' THEN
                                pg_catalog.length(e.value ->> 'implementation_type') NOT BETWEEN 1 AND 64
                                OR (e.value ->> 'implementation_type') ~ '^\s|\s$'
                                OR (e.value ->> 'implementation_type') ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'
                            ELSE true END THEN 'implementation_type'
                       WHEN CASE pg_catalog.jsonb_typeof(e.value -> 'event_type')
                            WHEN 'string' THEN
                                (e.value ->> 'event_type') NOT IN ('hit', 'miss', 'set', 'evict', 'error')
                            ELSE true END THEN 'event_type'
                       WHEN CASE coalesce(pg_catalog.jsonb_typeof(e.value -> 'recorded_at'), 'null')
                            WHEN 'null' THEN false
                            WHEN 'string' THEN
                                (e.value ->> 'recorded_at') !~ '^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}(:?\d{2})?)$'
                            ELSE true END THEN 'recorded_at'
                       WHEN CASE coalesce(pg_catalog.jsonb_typeof(e.value -> 'response_time_ms'), 'null')
                            WHEN 'null' THEN false
                            WHEN 'number' THEN
                                (e.value -> 'response_time_ms')::numeric NOT BETWEEN 0 AND v_max_rt
                            ELSE true END THEN 'response_time_ms'
                       WHEN CASE coalesce(pg_catalog.jsonb_typeof(e.value -> 'cache_size'), 'null')
                            WHEN 'null' THEN false
                            WHEN 'number' THEN
                                (e.value -> 'cache_size')::numeric NOT BETWEEN 0 AND 9223372036854775807
                                OR (e.value -> 'cache_size')::numeric
                                   <> pg_catalog.trunc((e.value -> 'cache_size')::numeric)
                            ELSE true END THEN 'cache_size'
                       WHEN CASE coalesce(pg_catalog.jsonb_typeof(e.value -> 'cache_key'), 'null')
                            WHEN 'null' THEN false
                            WHEN 'string' THEN
                                pg_catalog.length(e.value ->> 'cache_key') > 4096
                                OR (e.value ->> 'cache_key') ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'
                            ELSE true END THEN 'cache_key'
                       WHEN CASE coalesce(pg_catalog.jsonb_typeof(e.value -> 'error_type'), 'null')
                            WHEN 'null' THEN false
                            WHEN 'string' THEN
                                pg_catalog.length(e.value ->> 'error_type') > 256
                                OR (e.value ->> 'error_type') ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'
                            ELSE true END THEN 'error_type'
                       WHEN CASE coalesce(pg_catalog.jsonb_typeof(e.value -> 'error_message'), 'null')
                            WHEN 'null' THEN false
                            WHEN 'string' THEN
                                pg_catalog.length(e.value ->> 'error_message') > 4096
                                OR (e.value ->> 'error_message') ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'
                            ELSE true END THEN 'error_message'
                       END AS bad
                  FROM pg_catalog.jsonb_array_elements(events) WITH ORDINALITY AS e) AS c
         WHERE c.bad IS NULL OR cachemon._ingest_refuse(c.idx, c.bad, c.ev, v_max_rt);
        GET DIAGNOSTICS v_stored = ROW_COUNT;
    EXCEPTION
    WHEN invalid_parameter_value THEN
        RAISE;  -- the refusal of _ingest_refuse, or of the ingest trigger: already clear
    WHEN data_exception THEN
        -- A value that passed the checks above but not its cast: find the first such element.
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
        FOR v_event, v_index IN
            SELECT e.value, e.ordinality - 1
              FROM pg_catalog.jsonb_array_elements(events) WITH ORDINALITY AS e
             ORDER BY e.ordinality
        LOOP
            v_field := NULL;
            BEGIN
                v_field := 'recorded_at';
                PERFORM (v_event ->> 'recorded_at')::timestamptz;
                v_field := 'response_time_ms';
                PERFORM (v_event ->> 'response_time_ms')::double precision;
                v_field := 'cache_size';
                PERFORM (v_event -> 'cache_size')::numeric::bigint;
                v_field := NULL;
            EXCEPTION WHEN data_exception THEN
                PERFORM cachemon._ingest_refuse(v_index, v_field, v_event, v_max_rt);
            END;
        END LOOP;
        RAISE EXCEPTION USING ERRCODE = v_state, MESSAGE = 'ingest_events: ' || v_message;
    END;
    RETURN v_stored;
END
$function$;

COMMENT ON FUNCTION cachemon.ingest_events(jsonb, uuid) IS
    'Store a batch of cache events given as a JSON array of objects (implementation_type, event_type, '
    'and optional recorded_at with an explicit UTC offset, cache_key, response_time_ms, cache_size, '
    'error_type, error_message). All or nothing: a bad event refuses the batch with an error naming its '
    'index, field and value. Idempotent by batch_id: a batch id already stored with the same content '
    'returns 0, with other content it is an error; an empty array stores nothing. Returns the number of '
    'events stored; events without recorded_at get now().';

REVOKE ALL ON FUNCTION cachemon.ingest_events(jsonb, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.ingest_events(jsonb, uuid) TO cachemon_writer, cachemon_admin;

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
    v_max_rt_f  double precision := v_max_rt;
    v_allowed   CONSTANT text[] := ARRAY['recorded_at', 'implementation_type', 'event_type',
        'cache_key', 'response_time_ms', 'cache_size', 'error_type', 'error_message'];
    v_state     text;
    v_message   text;
    v_event     jsonb;
    v_index     bigint;
    v_field     text;
    v_size      bigint;
    v_max_size  bigint;
BEGIN
    /*
     * The SQL entry point of ingest, for clients that are not the Python collector (a Supabase
     * RPC, an edge function, psql). The parameters are named events and batch_id, not p_...,
     * because they are part of the contract: RPC clients pass them by name.
     *
     * All or nothing, in two paths. The fast path is one INSERT ... SELECT that reads each
     * element once into a typed row (jsonb_to_record) and keeps it only when its fields have
     * the JSON types of their columns, it has no unknown field and recorded_at has an offset;
     * lengths, characters, event types and ranges are the table's CHECKs and the ingest
     * trigger's. If it stores every element, that is the answer. Otherwise (a row left out, a
     * failed cast, CHECK or trigger) it is undone and the careful statement runs: it accepts
     * exactly what it accepted before the fast path existed, so the fast path changes speed,
     * never the outcome (tests/test_ingest_fast_path.py compares them with hypothesis).
     *
     * The careful statement, one INSERT ... SELECT over jsonb_array_elements(events) WITH
     * ORDINALITY, validates and stores: each element's first bad field (in the order implementation_type,
     * event_type, recorded_at, response_time_ms, cache_size, cache_key, error_type,
     * error_message) is found by one CASE, and the first bad element stops the statement
     * through cachemon._ingest_refuse, whose error names the index (0-based, as in the JSON
     * array), the field and the value; nothing of the batch is stored. A value that passes
     * those checks but cannot be cast (a date like February 30, a latency like 1e-400 that
     * rounds to nothing in double precision) is found by a second, per-element pass that only
     * runs on that error. The domains are those of cache_metrics' CHECK constraints (docs/
     * security.md): recorded_at needs an explicit UTC offset ("Z" or "+hh:mm"; a timestamp
     * without one would be read in the session's TimeZone), response_time_ms is 0 or
     * 0.000001 (1 ns; below it float arithmetic underflows) to ingest.max_response_time_ms
     * (at most one day), cache_size an integer in bigint range
     * (100.0 is 100), text without control or bidi characters.
     *
     * Size: a payload larger than 'ingest.max_payload_bytes' (its jsonb size, 16 MiB by
     * default, at most 268435455, the largest jsonb) is refused before any element is read,
     * with an error naming the size and the setting: the call's memory is about ten times
     * its payload.
     *
     * Batches: an empty array stores nothing and records no batch id. A batch id already
     * stored with the same content returns 0 (a retry after a lost reply counts once); with
     * different content it is an error naming the batch id. Content is compared by a 64-bit
     * hash of the events as jsonb (jsonb_hash_extended: equal JSON, whatever its key order or
     * spacing, hashes equal; a different batch collides with probability 2^-64), stored with
     * the batch id; computed from the parsed value, it costs a tenth of a SHA-256 of its
     * text. Invoker rights: cachemon_writer has INSERT on both tables and EXECUTE on
     * cachemon._batch_seen, which compares a stored batch without reading it.
     */
    -- Size first, before anything reads the events: a call costs about ten times its
    -- payload in backend memory, so concurrent oversized calls could exhaust the server.
    v_size := pg_catalog.pg_column_size(events);
    v_max_size := cachemon._setting('ingest.max_payload_bytes')::bigint;
    IF v_size > v_max_size THEN
        RAISE EXCEPTION 'ingest_events: the payload is % bytes, above ingest.max_payload_bytes = %',
            v_size, v_max_size
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Nothing of this batch was stored.',
                  HINT = 'Send the events in smaller batches; an admin may raise the setting (at most 268435455) in cachemon._settings.';
    END IF;
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

    v_hash := pg_catalog.int8send(pg_catalog.jsonb_hash_extended(events, 1667326824));
    INSERT INTO cachemon._ingested_batches AS b (batch_id, event_count, source, content_hash)
    VALUES (v_batch_id, v_count, 'ingest_events', v_hash)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        v_seen := cachemon._batch_seen(v_batch_id, v_hash);
        IF v_seen = 'different' THEN
            RAISE EXCEPTION 'ingest_events: batch % was already stored with different content', v_batch_id
                USING ERRCODE = 'unique_violation',
                      DETAIL = 'A batch id names one batch: its events (compared by a hash of their JSON) must not change between retries.',
                      HINT = 'Send new events under a new batch id (or none, to get a random one).';
        END IF;
        RAISE NOTICE 'ingest_events: batch % was already stored; nothing stored now', v_batch_id;
        RETURN 0;  -- a retry of a stored batch, counted once
    END IF;

    -- The fast path: each element read once into a typed row; a row is kept only when every
    -- field has the JSON type its column needs (jsonb_to_record would also take "5" for a
    -- number, or 5 for a string), it has no unknown field and recorded_at carries an offset.
    -- Lengths, characters, event types and ranges are left to the table's CHECKs and the
    -- ingest trigger. Anything amiss (a row left out, a cast, a CHECK, the trigger) undoes the
    -- fast INSERT and the careful statement below runs instead, to name the first bad element
    -- or to store what only it accepts (a cache_size written 100.0).
    BEGIN
        INSERT INTO cachemon.cache_metrics (recorded_at, implementation_type, event_type, cache_key,
                                            response_time_ms, cache_size, error_type, error_message,
                                            batch_id)
        SELECT coalesce(f.recorded_at::timestamptz, pg_catalog.now()), f.implementation_type,
               f.event_type, f.cache_key, f.response_time_ms, f.cache_size, f.error_type,
               f.error_message, v_batch_id
          FROM (
            -- The checks as one column, so the planner keeps them in one place, in this order.
            SELECT r.*,
                   e.value OPERATOR(pg_catalog.-) v_allowed OPERATOR(pg_catalog.=) '{}'::jsonb
                   AND pg_catalog.jsonb_typeof(e.value -> 'implementation_type') = 'string'
                   AND pg_catalog.jsonb_typeof(e.value -> 'event_type') = 'string'
                   AND (r.recorded_at IS NULL
                        OR (pg_catalog.jsonb_typeof(e.value -> 'recorded_at') = 'string'
                            AND r.recorded_at LIKE '____-__-__%'
                            AND pg_catalog.substr(r.recorded_at, 11, 1) IN ('T', 't', ' ')
                            AND (pg_catalog.right(r.recorded_at, 1) IN ('Z', 'z')
                                 OR pg_catalog.substr(r.recorded_at, pg_catalog.length(r.recorded_at) - 5, 1) IN ('+', '-')
                                 OR pg_catalog.substr(r.recorded_at, pg_catalog.length(r.recorded_at) - 4, 1) IN ('+', '-')
                                 OR pg_catalog.substr(r.recorded_at, pg_catalog.length(r.recorded_at) - 2, 1) IN ('+', '-'))))
                   AND (r.response_time_ms IS NULL OR pg_catalog.jsonb_typeof(e.value -> 'response_time_ms') = 'number')
                   AND (r.cache_size IS NULL OR pg_catalog.jsonb_typeof(e.value -> 'cache_size') = 'number')
                   AND (r.cache_key IS NULL OR pg_catalog.jsonb_typeof(e.value -> 'cache_key') = 'string')
                   AND (r.error_type IS NULL OR pg_catalog.jsonb_typeof(e.value -> 'error_type') = 'string')
                   AND (r.error_message IS NULL OR pg_catalog.jsonb_typeof(e.value -> 'error_message') = 'string')
                   AS ok
              FROM pg_catalog.jsonb_array_elements(events) AS e,
                   pg_catalog.jsonb_to_record(e.value) AS r (
                       recorded_at text, implementation_type text, event_type text, cache_key text,
                       response_time_ms double precision, cache_size bigint, error_type text,
                       error_message text)
            OFFSET 0) AS f
         WHERE f.ok;
        GET DIAGNOSTICS v_stored = ROW_COUNT;
        IF v_stored = v_count THEN
            RETURN v_stored;
        END IF;
        RAISE EXCEPTION 'ingest_events: % of % events left the fast path', v_count - v_stored, v_count
            USING ERRCODE = 'data_exception';
    EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
        NULL;  -- undone; the careful statement below decides
    END;

    BEGIN
        INSERT INTO cachemon.cache_metrics (recorded_at, implementation_type, event_type, cache_key,
                                            response_time_ms, cache_size, error_type, error_message,
                                            batch_id)
        SELECT coalesce(w.recorded_at::timestamptz, pg_catalog.now()), w.implementation_type,
               w.event_type, w.cache_key,
               w.f_rt, w.n_size::bigint,
               w.error_type, w.error_message, v_batch_id
          FROM (
            SELECT v.*, CASE
                   WHEN v.t_ev <> 'object' THEN '(event)'
                   WHEN v.ev - v_allowed <> '{}'::jsonb THEN '(unknown)'
                   WHEN CASE pg_catalog.jsonb_typeof(v.j_impl)
                        WHEN 'string' THEN
                            pg_catalog.length(v.implementation_type) NOT BETWEEN 1 AND 64
                            OR v.implementation_type ~ '^\s|\s$|[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'
                        ELSE true END THEN 'implementation_type'
                   WHEN CASE pg_catalog.jsonb_typeof(v.j_et)
                        WHEN 'string' THEN v.event_type NOT IN ('hit', 'miss', 'set', 'evict', 'error')
                        ELSE true END THEN 'event_type'
                   WHEN CASE coalesce(pg_catalog.jsonb_typeof(v.j_ra), 'null')
                        WHEN 'null' THEN false
                        WHEN 'string' THEN
                            -- A date, a time and an explicit offset (Z, +hh, +hhmm or
                            -- +hh:mm); the cast below checks the rest. LIKE and substr, not
                            -- a regular expression: a tenth of the cost per event.
                            NOT (v.recorded_at LIKE '____-__-__%'
                                 AND pg_catalog.substr(v.recorded_at, 11, 1) IN ('T', 't', ' ')
                                 AND (pg_catalog.right(v.recorded_at, 1) IN ('Z', 'z')
                                      OR pg_catalog.substr(v.recorded_at, pg_catalog.length(v.recorded_at) - 5, 1) IN ('+', '-')
                                      OR pg_catalog.substr(v.recorded_at, pg_catalog.length(v.recorded_at) - 4, 1) IN ('+', '-')
                                      OR pg_catalog.substr(v.recorded_at, pg_catalog.length(v.recorded_at) - 2, 1) IN ('+', '-')))
                        ELSE true END THEN 'recorded_at'
                   WHEN CASE coalesce(v.t_rt, 'null')
                        WHEN 'null' THEN false
                        WHEN 'number' THEN v.f_rt <> 0 AND v.f_rt NOT BETWEEN 0.000001 AND v_max_rt_f
                        ELSE true END THEN 'response_time_ms'
                   WHEN CASE coalesce(v.t_size, 'null')
                        WHEN 'null' THEN false
                        WHEN 'number' THEN
                            v.n_size NOT BETWEEN 0 AND 9223372036854775807
                            OR v.n_size <> pg_catalog.trunc(v.n_size)
                        ELSE true END THEN 'cache_size'
                   WHEN CASE coalesce(pg_catalog.jsonb_typeof(v.j_key), 'null')
                        WHEN 'null' THEN false
                        WHEN 'string' THEN pg_catalog.length(v.cache_key) > 4096 OR v.cache_key ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'
                        ELSE true END THEN 'cache_key'
                   WHEN CASE coalesce(pg_catalog.jsonb_typeof(v.j_etype), 'null')
                        WHEN 'null' THEN false
                        WHEN 'string' THEN pg_catalog.length(v.error_type) > 256 OR v.error_type ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'
                        ELSE true END THEN 'error_type'
                   WHEN CASE coalesce(pg_catalog.jsonb_typeof(v.j_emsg), 'null')
                        WHEN 'null' THEN false
                        WHEN 'string' THEN pg_catalog.length(v.error_message) > 4096 OR v.error_message ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]'
                        ELSE true END THEN 'error_message'
                   END AS bad
              FROM (
                -- Each field read once: its JSON value (for its type) and its text.
                SELECT x.*, x.j_impl #>> '{}' AS implementation_type, x.j_et #>> '{}' AS event_type,
                       pg_catalog.jsonb_typeof(x.j_rt) AS t_rt, pg_catalog.jsonb_typeof(x.j_size) AS t_size,
                       CASE pg_catalog.jsonb_typeof(x.j_rt) WHEN 'number' THEN (x.j_rt)::double precision END AS f_rt,
                       CASE pg_catalog.jsonb_typeof(x.j_size) WHEN 'number' THEN (x.j_size)::numeric END AS n_size,
                       x.j_ra #>> '{}' AS recorded_at, x.j_key #>> '{}' AS cache_key,
                       x.j_etype #>> '{}' AS error_type, x.j_emsg #>> '{}' AS error_message
                  FROM (SELECT e.ordinality - 1 AS idx, e.value AS ev,
                               pg_catalog.jsonb_typeof(e.value) AS t_ev,
                               e.value -> 'implementation_type' AS j_impl,
                               e.value -> 'event_type' AS j_et,
                               e.value -> 'recorded_at' AS j_ra,
                               e.value -> 'response_time_ms' AS j_rt,
                               e.value -> 'cache_size' AS j_size,
                               e.value -> 'cache_key' AS j_key,
                               e.value -> 'error_type' AS j_etype,
                               e.value -> 'error_message' AS j_emsg
                          FROM pg_catalog.jsonb_array_elements(events) WITH ORDINALITY AS e
                        OFFSET 0) AS x
                OFFSET 0) AS v
            OFFSET 0) AS w
         WHERE w.bad IS NULL OR cachemon._ingest_refuse(w.idx, w.bad, w.ev, v_max_rt);
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
    'returns 0, with other content it is an error; an empty array stores nothing. A payload larger than '
    'ingest.max_payload_bytes (jsonb size; 16 MiB by default) is refused before any event is read, the error '
    'naming the size and the setting. Returns the number of events stored; events without recorded_at get now().';

REVOKE ALL ON FUNCTION cachemon.ingest_events(jsonb, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.ingest_events(jsonb, uuid) TO cachemon_writer, cachemon_admin;

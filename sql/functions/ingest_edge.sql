CREATE OR REPLACE FUNCTION cachemon.ingest_edge(rows jsonb, batch_id uuid DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_batch_id uuid := coalesce(ingest_edge.batch_id, pg_catalog.gen_random_uuid());
    v_count    bigint;
    v_hash     bytea;
    v_seen     text;
    v_allowed  CONSTANT text[] := ARRAY['bucket', 'implementation_type', 'event_type', 'source',
        'event_count', 'latency_count', 'latency_sum', 'latency_min', 'latency_max',
        'cache_size_count', 'cache_size_sum', 'cache_size_min', 'cache_size_max', 'scale',
        'zero_count', 'bucket_offset', 'bucket_counts', 'error_types', 'error_counts',
        'error_samples'];
    v_defaults CONSTANT jsonb := '{"latency_count": 0, "latency_sum": 0, "cache_size_count": 0,
        "cache_size_sum": 0, "scale": 6, "zero_count": 0, "bucket_offset": 0, "bucket_counts": []}';
    v_rows     cachemon.cache_metrics_edge[] := '{}';
    v_row      cachemon.cache_metrics_edge;
    v_elem     jsonb;
    v_index    bigint;
    v_unknown  text;
    v_message  text;
BEGIN
    /*
     * The SQL entry point of edge rows (what a collector in aggregate mode sends, and what
     * cachemon.ingest_otlp hands on): a JSON array of objects with the columns of
     * cachemon.cache_metrics_edge (bucket with an explicit UTC offset; bucket_counts,
     * error_types, error_counts, error_samples as JSON arrays). Parameters named rows and
     * batch_id, not p_..., because RPC clients pass them by name.
     *
     * All or nothing. Each element is read into a typed row (a value of the wrong JSON type
     * or an unknown field is refused naming the element's 0-based index and the field); the
     * rows are then stored by one INSERT, where cachemon._edge_check names the first invalid
     * field of a row and cachemon._mark_edge_buckets refuses minutes out of range or a scale
     * change inside one minute.
     *
     * Exactly once, as ingest_events: the batch id goes into cachemon._ingested_batches with
     * a 64-bit hash of the rows as jsonb in the same transaction; a batch id already stored
     * with the same content returns 0, with other content (a replay that is not a retry) it
     * is an error naming the batch id. Invoker rights: cachemon_writer has INSERT on both
     * tables and EXECUTE on cachemon._batch_seen.
     */
    IF rows IS NULL OR pg_catalog.jsonb_typeof(rows) <> 'array' THEN
        RAISE EXCEPTION 'ingest_edge: rows must be a JSON array of edge row objects, got %',
            coalesce(pg_catalog.left(rows::text, 200), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_count := pg_catalog.jsonb_array_length(rows);
    IF v_count = 0 THEN
        RETURN 0;
    END IF;
    IF v_count > 100000 THEN
        RAISE EXCEPTION 'ingest_edge: at most 100000 rows per batch, got %', v_count
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    v_hash := pg_catalog.int8send(pg_catalog.jsonb_hash_extended(rows, 1667326824));
    INSERT INTO cachemon._ingested_batches AS b (batch_id, event_count, source, content_hash)
    VALUES (v_batch_id, LEAST(v_count, 2147483647), 'ingest_edge', v_hash)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        v_seen := cachemon._batch_seen(v_batch_id, v_hash);
        IF v_seen <> 'same' THEN
            RAISE EXCEPTION 'ingest_edge: field "batch_id": batch % was already stored with different content', v_batch_id
                USING ERRCODE = 'unique_violation',
                      DETAIL = 'A batch id names one batch: its rows (compared by a hash of their JSON) must not change between retries.',
                      HINT = 'Send new rows under a new batch id (or none, to get a random one).';
        END IF;
        RETURN 0;  -- a retry of a stored batch, counted once
    END IF;

    FOR v_elem, v_index IN
        SELECT e.value, e.ordinality - 1 FROM pg_catalog.jsonb_array_elements(rows) WITH ORDINALITY AS e
    LOOP
        IF pg_catalog.jsonb_typeof(v_elem) <> 'object' THEN
            RAISE EXCEPTION 'ingest_edge: row % must be a JSON object, got %', v_index, pg_catalog.left(v_elem::text, 200)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        SELECT k INTO v_unknown FROM pg_catalog.jsonb_object_keys(v_elem) AS k
         WHERE k <> ALL (v_allowed) LIMIT 1;
        IF v_unknown IS NOT NULL THEN
            RAISE EXCEPTION 'ingest_edge: row %: unknown field "%"', v_index,
                pg_catalog.left(pg_catalog.regexp_replace(v_unknown, '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]', '?', 'g'), 100)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'known fields: ' || pg_catalog.array_to_string(v_allowed, ', ');
        END IF;
        SELECT k INTO v_unknown FROM pg_catalog.jsonb_each(v_elem) AS f(k, v)
         WHERE CASE WHEN pg_catalog.jsonb_typeof(f.v) = 'null' THEN false
                    WHEN f.k IN ('bucket', 'implementation_type', 'event_type', 'source')
                        THEN pg_catalog.jsonb_typeof(f.v) <> 'string'
                    WHEN f.k IN ('bucket_counts', 'error_types', 'error_counts', 'error_samples')
                        THEN pg_catalog.jsonb_typeof(f.v) <> 'array'
                    ELSE pg_catalog.jsonb_typeof(f.v) <> 'number' END
         LIMIT 1;
        IF v_unknown IS NULL AND NOT ((v_elem ->> 'bucket') ~ '([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$') THEN
            v_unknown := 'bucket';
        END IF;
        IF v_unknown IS NOT NULL THEN
            RAISE EXCEPTION 'ingest_edge: row %: field "%" has invalid value %', v_index, v_unknown,
                pg_catalog.regexp_replace(pg_catalog.left(coalesce((v_elem -> v_unknown)::text, '(missing)'), 200),
                                          '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]', '?', 'g')
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'bucket is a timestamp string with an explicit UTC offset; implementation_type, event_type, source strings; bucket_counts, error_types, error_counts, error_samples JSON arrays; the rest numbers.';
        END IF;
        BEGIN
            v_row := pg_catalog.jsonb_populate_record(NULL::cachemon.cache_metrics_edge,
                         v_defaults || pg_catalog.jsonb_strip_nulls(v_elem));
        EXCEPTION WHEN data_exception THEN
            GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
            RAISE EXCEPTION 'ingest_edge: row %: a value does not fit its column: %', v_index, v_message
                USING ERRCODE = 'invalid_parameter_value';
        END;
        v_row.batch_id := v_batch_id;
        v_row.received_at := pg_catalog.now();
        v_rows := v_rows || v_row;
    END LOOP;

    INSERT INTO cachemon.cache_metrics_edge SELECT * FROM pg_catalog.unnest(v_rows);
    RETURN v_count;
END
$function$;

COMMENT ON FUNCTION cachemon.ingest_edge(jsonb, uuid) IS
    'Store a batch of edge rows (pre-aggregated minutes: a JSON array of objects with the columns of cachemon.cache_metrics_edge). All or nothing: an invalid row is refused with an error naming the row and the field. Idempotent by batch_id (same content: returns 0; other content: error). Returns the rows stored.';

REVOKE ALL ON FUNCTION cachemon.ingest_edge(jsonb, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.ingest_edge(jsonb, uuid) TO cachemon_writer, cachemon_admin;

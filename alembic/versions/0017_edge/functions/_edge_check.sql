CREATE OR REPLACE FUNCTION cachemon._edge_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_row   text;
    v_sum   numeric;
    v_lo    bigint;
    v_hi    bigint;
    -- cachemon.sketch_key(0.000001) and cachemon.sketch_key(86400000), the keys of the
    -- smallest and largest latency cachemon accepts (constants: the writer role runs this
    -- trigger and may not execute sketch_key; a test checks them).
    v_min   CONSTANT integer := -1276;
    v_max   CONSTANT integer := 1687;
    v_field text;
    v_value text;
    v_rule  text;
BEGIN
    /*
     * BEFORE INSERT, for each row of cachemon.cache_metrics_edge: the first field of an edge
     * row that breaks its rule, in an error naming the row (source, bucket, implementation,
     * event type), the field and its value. Runs before the table's CHECKs (which state the
     * same domains as a backstop), so a writer learns which field to fix, however it inserts
     * (COPY, INSERT, cachemon.ingest_edge, cachemon.ingest_otlp). The histogram rules:
     * bucket_counts has no NULL or negative count and sums to latency_count - zero_count,
     * and every non-empty bucket's index, downscaled to scale 6, is that of a latency cachemon accepts
     * (0.000001 to 86400000 ms): what tick() adds to a minute is always a valid sketch.
     * Invoker rights; no role may execute it; it refuses to run for any other table.
     */
    IF TG_RELID <> 'cachemon.cache_metrics_edge'::regclass OR TG_WHEN <> 'BEFORE'
       OR TG_LEVEL <> 'ROW' OR TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION 'cachemon._edge_check: refuses to run as % % % trigger on %',
            TG_WHEN, TG_OP, TG_LEVEL, TG_RELID::regclass
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'It is the BEFORE INSERT row trigger of cachemon.cache_metrics_edge and of nothing else.';
    END IF;
    v_row := pg_catalog.format('edge row (source=%s, bucket=%s, implementation_type=%s, event_type=%s)',
        pg_catalog.left(pg_catalog.quote_nullable(NEW.source), 140), NEW.bucket,
        pg_catalog.left(pg_catalog.quote_nullable(NEW.implementation_type), 70),
        pg_catalog.quote_nullable(NEW.event_type));
    SELECT pg_catalog.sum(u.n) INTO v_sum FROM pg_catalog.unnest(NEW.bucket_counts) AS u(n);
    IF NEW.scale BETWEEN 6 AND 20 AND NEW.bucket_offset IS NOT NULL THEN
        -- The range of the non-empty buckets (an SDK may send empty ones at either end).
        SELECT (NEW.bucket_offset::bigint + pg_catalog.min(u.i) - 1) >> (NEW.scale - 6),
               (NEW.bucket_offset::bigint + pg_catalog.max(u.i) - 1) >> (NEW.scale - 6)
          INTO v_lo, v_hi
          FROM pg_catalog.unnest(NEW.bucket_counts) WITH ORDINALITY AS u(n, i)
         WHERE u.n > 0;
    END IF;
    v_field := CASE
        WHEN NEW.bucket IS NULL OR NEW.bucket IN ('-infinity', 'infinity')
             OR NEW.bucket <> pg_catalog.date_trunc('minute', NEW.bucket, 'UTC') THEN 'bucket'
        WHEN NEW.source IS NULL OR pg_catalog.length(NEW.source) NOT BETWEEN 1 AND 128
             OR NEW.source ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]' THEN 'source'
        WHEN NEW.event_count IS NULL OR NEW.event_count NOT BETWEEN 1 AND 1000000000 THEN 'event_count'
        WHEN NEW.latency_count IS NULL OR NEW.latency_count NOT BETWEEN 0 AND NEW.event_count THEN 'latency_count'
        WHEN NEW.zero_count IS NULL OR NEW.zero_count NOT BETWEEN 0 AND NEW.latency_count THEN 'zero_count'
        WHEN NEW.latency_sum IS NULL OR NOT (NEW.latency_sum >= 0 AND NEW.latency_sum < 'infinity')
             OR NEW.latency_sum > NEW.latency_max * NEW.latency_count * (1 + 1e-6)
             OR NEW.latency_sum < NEW.latency_min * NEW.latency_count * (1 - 1e-6)
             OR (NEW.latency_count = 0 AND NEW.latency_sum <> 0) THEN 'latency_sum'
        WHEN (NEW.latency_count = 0) <> (NEW.latency_min IS NULL) OR NEW.latency_min < 0
             OR NEW.latency_min > NEW.latency_max OR NEW.latency_min = 'NaN' THEN 'latency_min'
        WHEN (NEW.latency_count = 0) <> (NEW.latency_max IS NULL) OR NEW.latency_max > 86400000
             OR NEW.latency_max = 'NaN' THEN 'latency_max'
        WHEN NEW.cache_size_count IS NULL OR NEW.cache_size_count NOT BETWEEN 0 AND NEW.event_count THEN 'cache_size_count'
        WHEN NEW.cache_size_sum IS NULL OR NEW.cache_size_sum < 0 THEN 'cache_size_sum'
        WHEN (NEW.cache_size_count = 0) <> (NEW.cache_size_min IS NULL) OR NEW.cache_size_min < 0
             OR NEW.cache_size_min > NEW.cache_size_max THEN 'cache_size_min'
        WHEN (NEW.cache_size_count = 0) <> (NEW.cache_size_max IS NULL) THEN 'cache_size_max'
        WHEN NEW.scale IS NULL OR NEW.scale NOT BETWEEN 6 AND 20 THEN 'scale'
        WHEN NEW.bucket_counts IS NULL OR pg_catalog.cardinality(NEW.bucket_counts) > 16384
             OR pg_catalog.array_position(NEW.bucket_counts, NULL) IS NOT NULL
             OR EXISTS (SELECT FROM pg_catalog.unnest(NEW.bucket_counts) AS u(n) WHERE u.n < 0) THEN 'bucket_counts'
        WHEN v_sum IS DISTINCT FROM (NEW.latency_count - NEW.zero_count)
             AND NOT (v_sum IS NULL AND NEW.latency_count = NEW.zero_count) THEN 'bucket_counts'
        WHEN NEW.bucket_offset IS NULL
             OR v_lo < v_min OR v_hi > v_max THEN 'bucket_offset'
        WHEN (NEW.event_type = 'error') <> (NEW.error_types IS NOT NULL)
             OR pg_catalog.cardinality(NEW.error_types) > 64
             OR pg_catalog.array_position(NEW.error_types, NULL) IS NOT NULL
             OR EXISTS (SELECT FROM pg_catalog.unnest(NEW.error_types) AS t(v)
                         WHERE pg_catalog.length(t.v) NOT BETWEEN 1 AND 256
                            OR t.v ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]') THEN 'error_types'
        WHEN pg_catalog.cardinality(NEW.error_counts) IS DISTINCT FROM pg_catalog.cardinality(NEW.error_types)
             OR EXISTS (SELECT FROM pg_catalog.unnest(NEW.error_counts) AS c(v) WHERE c.v IS NULL OR c.v < 1)
             OR (NEW.event_type = 'error'
                 AND (SELECT pg_catalog.sum(c.v) FROM pg_catalog.unnest(NEW.error_counts) AS c(v)) <> NEW.event_count)
             THEN 'error_counts'
        WHEN pg_catalog.cardinality(NEW.error_samples) IS DISTINCT FROM pg_catalog.cardinality(NEW.error_types)
             OR EXISTS (SELECT FROM pg_catalog.unnest(NEW.error_samples) AS m(v)
                         WHERE pg_catalog.length(m.v) > 4096
                            OR m.v ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]') THEN 'error_samples'
    END;
    IF v_field IS NULL THEN
        RETURN NEW;
    END IF;
    v_rule := CASE v_field
        WHEN 'bucket' THEN 'the start of a UTC minute'
        WHEN 'source' THEN '1 to 128 characters without control or bidi characters'
        WHEN 'event_count' THEN 'from 1 to 1000000000 (a billion events of one key in one minute of one process; sums of many rows must stay in bigint range)'
        WHEN 'latency_count' THEN 'from 0 to event_count'
        WHEN 'zero_count' THEN 'from 0 to latency_count'
        WHEN 'latency_sum' THEN 'finite, between latency_count * latency_min and latency_count * latency_max (0 without latencies)'
        WHEN 'latency_min' THEN 'set exactly when latency_count > 0, >= 0 and <= latency_max'
        WHEN 'latency_max' THEN 'set exactly when latency_count > 0, at most 86400000'
        WHEN 'cache_size_count' THEN 'from 0 to event_count'
        WHEN 'cache_size_sum' THEN '>= 0'
        WHEN 'cache_size_min' THEN 'set exactly when cache_size_count > 0, >= 0 and <= cache_size_max'
        WHEN 'cache_size_max' THEN 'set exactly when cache_size_count > 0'
        WHEN 'scale' THEN 'an OpenTelemetry exponential histogram scale from 6 to 20 (cachemon''s sketches are scale 6; a finer scale is downscaled exactly, a coarser one cannot be made finer)'
        WHEN 'bucket_counts' THEN pg_catalog.format(
            'at most 16384 counts, none NULL or negative, summing to latency_count - zero_count = %s (they sum to %s)',
            NEW.latency_count - NEW.zero_count, coalesce(v_sum, 0))
        WHEN 'bucket_offset' THEN pg_catalog.format(
            'such that every non-empty bucket''s index, at scale 6, lies in [%s, %s] (latencies 0.000001 to 86400000 ms); these span [%s, %s] at scale 6',
            v_min, v_max, v_lo, v_hi)
        WHEN 'error_types' THEN 'set exactly on error rows: at most 64 types of 1 to 256 characters without control characters'
        WHEN 'error_counts' THEN 'one count >= 1 per error type, summing to event_count'
        WHEN 'error_samples' THEN 'one message per error type, at most 4096 characters without control characters'
    END;
    v_value := CASE v_field
        WHEN 'bucket' THEN NEW.bucket::text WHEN 'source' THEN pg_catalog.quote_nullable(NEW.source)
        WHEN 'event_count' THEN NEW.event_count::text WHEN 'latency_count' THEN NEW.latency_count::text
        WHEN 'zero_count' THEN NEW.zero_count::text WHEN 'latency_sum' THEN NEW.latency_sum::text
        WHEN 'latency_min' THEN NEW.latency_min::text WHEN 'latency_max' THEN NEW.latency_max::text
        WHEN 'cache_size_count' THEN NEW.cache_size_count::text WHEN 'cache_size_sum' THEN NEW.cache_size_sum::text
        WHEN 'cache_size_min' THEN NEW.cache_size_min::text WHEN 'cache_size_max' THEN NEW.cache_size_max::text
        WHEN 'scale' THEN NEW.scale::text WHEN 'bucket_counts' THEN NEW.bucket_counts::text
        WHEN 'bucket_offset' THEN NEW.bucket_offset::text WHEN 'error_types' THEN NEW.error_types::text
        WHEN 'error_counts' THEN NEW.error_counts::text WHEN 'error_samples' THEN NEW.error_samples::text
    END;
    v_value := pg_catalog.regexp_replace(pg_catalog.left(coalesce(v_value, 'NULL'), 200),
                                         '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]', '?', 'g');
    RAISE EXCEPTION 'cachemon: % field "%" has invalid value %', v_row, v_field, v_value
        USING ERRCODE = 'invalid_parameter_value',
              DETAIL = pg_catalog.format('%s must be %s; nothing of this statement was stored.', v_field, v_rule);
END
$function$;

COMMENT ON FUNCTION cachemon._edge_check() IS
    'Trigger (BEFORE INSERT, each row of cache_metrics_edge): refuses an edge row with an error naming the row, the first invalid field and its value (counts, latency and cache-size statistics, the histogram: bucket counts summing to latency_count - zero_count, indexes of accepted latencies at scale 6, scale 6 to 20). Nobody may execute it; refuses any other table.';

REVOKE ALL ON FUNCTION cachemon._edge_check() FROM PUBLIC;

DROP TRIGGER IF EXISTS cache_metrics_edge_check ON cachemon.cache_metrics_edge;
CREATE TRIGGER cache_metrics_edge_check
    BEFORE INSERT ON cachemon.cache_metrics_edge
    FOR EACH ROW EXECUTE FUNCTION cachemon._edge_check();

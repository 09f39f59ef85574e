CREATE OR REPLACE FUNCTION cachemon.ingest_otlp(payload jsonb, batch_id uuid DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_points   jsonb := '[]';
    v_rows     jsonb := '[]';
    v_rm       jsonb;
    v_metric   jsonb;
    v_hist     jsonb;
    v_temp     jsonb;
    v_source   text;
    v_point    jsonb;
    v_index    bigint;
    v_attrs    jsonb;
    v_scale    jsonb;
    v_neg      jsonb;
    v_pos      jsonb;
    v_zt       jsonb;
    v_time     numeric;
    v_count    numeric;
    v_zero     numeric;
    v_where    text;
BEGIN
    /*
     * Ingest OpenTelemetry exponential histograms of cache latencies, in the JSON form of OTLP
     * (the protobuf JSON mapping: lowerCamelCase or the proto's snake_case field names, 64-bit
     * integers as strings or numbers, attributes as a list of {key, value: {stringValue}} or
     * as an object, as an SDK's own to_json writes them). payload is an
     * ExportMetricsServiceRequest-like object (resourceMetrics / resource_metrics: every
     * exponential histogram data point in it; a metric's aggregation temporality must be
     * DELTA, since cumulative points would be counted again every export), or an array of
     * ExponentialHistogramDataPoints, or one data point (both taken as delta).
     *
     * Each data point becomes one edge row (cachemon.ingest_edge, same batch id rules):
     * implementation_type from the point's attribute implementation_type (or
     * cachemon.implementation_type), event_type from event_type (default hit), source from
     * the point's attribute source, else the resource's service.instance.id, else
     * service.name, else 'otlp'; the minute is the one holding the end of the point's
     * interval (timeUnixNano - 1 ns); count, sum, min, max, zeroCount, scale,
     * positive.offset and positive.bucketCounts as they are: a scale finer than 6 is kept
     * and downscaled exactly by tick(), so the point merges exactly with cachemon's scale-6
     * sketches. Points with count 0 or the no-recorded-value flag are skipped.
     *
     * Refused with an error naming the point and the field (never stored with less
     * precision): scale below 6 (a coarser histogram cannot be made finer; a point whose
     * positive buckets are all empty has nothing to lose and is taken at scale 6), negative
     * buckets with counts (latencies are >= 0), a non-zero zeroThreshold (its zero bucket
     * would mix small latencies with zeros), missing sum, min or max, cumulative temporality.
     */
    IF payload IS NULL OR pg_catalog.jsonb_typeof(payload) NOT IN ('object', 'array') THEN
        RAISE EXCEPTION 'ingest_otlp: payload must be a JSON object or array, got %',
            coalesce(pg_catalog.left(payload::text, 200), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_catalog.jsonb_typeof(payload) = 'array' THEN
        v_points := (SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('p', e.value, 's', NULL)), '[]')
                       FROM pg_catalog.jsonb_array_elements(payload) AS e);
    ELSIF payload ? 'resourceMetrics' OR payload ? 'resource_metrics' THEN
        FOR v_rm IN SELECT e.value FROM pg_catalog.jsonb_array_elements(
                        coalesce(payload -> 'resourceMetrics', payload -> 'resource_metrics')) AS e
        LOOP
            v_attrs := cachemon._otlp_attributes(v_rm #> '{resource,attributes}');
            v_source := coalesce(v_attrs ->> 'service.instance.id', v_attrs ->> 'service.name');
            FOR v_metric IN
                SELECT m.value
                  FROM pg_catalog.jsonb_array_elements(coalesce(v_rm -> 'scopeMetrics', v_rm -> 'scope_metrics', '[]')) AS s,
                       pg_catalog.jsonb_array_elements(coalesce(s.value -> 'metrics', '[]')) AS m
            LOOP
                v_hist := coalesce(v_metric -> 'exponentialHistogram', v_metric -> 'exponential_histogram',
                                   CASE WHEN v_metric #> '{data,data_points,0}' ? 'scale' THEN v_metric -> 'data' END);
                CONTINUE WHEN v_hist IS NULL;
                v_temp := coalesce(v_hist -> 'aggregationTemporality', v_hist -> 'aggregation_temporality');
                IF v_temp IS NULL OR v_temp::text NOT IN ('1', '"AGGREGATION_TEMPORALITY_DELTA"') THEN
                    RAISE EXCEPTION 'ingest_otlp: metric %: field "aggregationTemporality" has value %; only DELTA (1) is accepted',
                        coalesce(v_metric ->> 'name', '?'), coalesce(v_temp::text, '(missing)')
                        USING ERRCODE = 'invalid_parameter_value',
                              HINT = 'Cumulative points would be counted again at every export: configure the exporter''s temporality preference for histograms as DELTA.';
                END IF;
                v_points := v_points || (SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('p', d.value, 's', v_source)), '[]')
                                           FROM pg_catalog.jsonb_array_elements(
                                                    coalesce(v_hist -> 'dataPoints', v_hist -> 'data_points', '[]')) AS d);
            END LOOP;
        END LOOP;
    ELSE
        v_points := pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('p', payload, 's', NULL));
    END IF;

    FOR v_point, v_source, v_index IN
        SELECT e.value -> 'p', e.value ->> 's', e.ordinality - 1
          FROM pg_catalog.jsonb_array_elements(v_points) WITH ORDINALITY AS e
    LOOP
        v_where := pg_catalog.format('ingest_otlp: data point %s', v_index);
        IF pg_catalog.jsonb_typeof(v_point) <> 'object' THEN
            RAISE EXCEPTION '%: must be a JSON object', v_where USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_attrs := cachemon._otlp_attributes(v_point -> 'attributes');
        v_count := cachemon._otlp_number(v_where, 'count', v_point -> 'count');
        CONTINUE WHEN coalesce(v_count, 0) = 0
                   OR (cachemon._otlp_number(v_where, 'flags', v_point -> 'flags') % 2) = 1;
        v_pos := coalesce(v_point -> 'positive', '{}');
        v_scale := v_point -> 'scale';
        IF NOT EXISTS (SELECT FROM pg_catalog.jsonb_array_elements_text(
                                      coalesce(v_pos -> 'bucketCounts', v_pos -> 'bucket_counts', '[]')) AS c(n)
                        WHERE c.n <> '0') THEN
            -- Only zeros: no bucket, hence no precision to lose, whatever the scale says.
            v_scale := '6';
            v_pos := '{}';
        END IF;
        IF v_scale IS NULL OR pg_catalog.jsonb_typeof(v_scale) <> 'number' OR (v_scale::text)::numeric < 6 THEN
            RAISE EXCEPTION '%: field "scale" has value %; cachemon needs scale 6 or finer', v_where, coalesce(v_scale::text, '(missing)')
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'cachemon''s sketches are OpenTelemetry exponential histograms at scale 6 (0.54% relative error); a coarser histogram cannot be made finer, so it is refused rather than stored with less precision.',
                      HINT = 'Configure the SDK''s exponential histogram with max_scale >= 6 and a max_size large enough to keep it (e.g. 4096 buckets cover 2^64 at scale 6).';
        END IF;
        v_zt := coalesce(v_point -> 'zeroThreshold', v_point -> 'zero_threshold');
        IF v_zt IS NOT NULL AND cachemon._otlp_number(v_where, 'zeroThreshold', v_zt) <> 0 THEN
            RAISE EXCEPTION '%: field "zeroThreshold" has value %; only 0 is accepted', v_where, v_zt
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'A non-zero threshold puts latencies up to it into the zero bucket: their values would be lost.';
        END IF;
        v_neg := v_point -> 'negative';
        IF v_neg IS NOT NULL AND EXISTS (
               SELECT FROM pg_catalog.jsonb_array_elements_text(
                               coalesce(v_neg -> 'bucketCounts', v_neg -> 'bucket_counts', '[]')) AS c(n)
                WHERE c.n <> '0') THEN
            RAISE EXCEPTION '%: field "negative.bucketCounts" holds counts; latencies are never negative', v_where
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF v_point -> 'sum' IS NULL OR v_point -> 'min' IS NULL OR v_point -> 'max' IS NULL THEN
            RAISE EXCEPTION '%: field "%" is missing; cachemon needs sum, min and max', v_where,
                CASE WHEN v_point -> 'sum' IS NULL THEN 'sum' WHEN v_point -> 'min' IS NULL THEN 'min' ELSE 'max' END
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_time := cachemon._otlp_number(v_where, 'timeUnixNano', coalesce(v_point -> 'timeUnixNano', v_point -> 'time_unix_nano'));
        IF v_time IS NULL OR v_time < 1 THEN
            RAISE EXCEPTION '%: field "timeUnixNano" is missing', v_where USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_zero := coalesce(cachemon._otlp_number(v_where, 'zeroCount', coalesce(v_point -> 'zeroCount', v_point -> 'zero_count')), 0);
        v_rows := v_rows || pg_catalog.jsonb_build_array(pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
            'bucket', pg_catalog.to_char(
                pg_catalog.date_bin('1 minute', pg_catalog.to_timestamp(((v_time - 1) / 1000000000)::double precision),
                                    '2000-01-01 00:00:00+00') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
            'implementation_type', coalesce(v_attrs ->> 'implementation_type', v_attrs ->> 'cachemon.implementation_type'),
            'event_type', coalesce(v_attrs ->> 'event_type', v_attrs ->> 'cachemon.event_type', 'hit'),
            'source', coalesce(v_attrs ->> 'source', v_source, 'otlp'),
            'event_count', v_count,
            'latency_count', v_count,
            'latency_sum', cachemon._otlp_number(v_where, 'sum', v_point -> 'sum'),
            'latency_min', cachemon._otlp_number(v_where, 'min', v_point -> 'min'),
            'latency_max', cachemon._otlp_number(v_where, 'max', v_point -> 'max'),
            'scale', v_scale,
            'zero_count', v_zero,
            'bucket_offset', coalesce(cachemon._otlp_number(v_where, 'positive.offset', v_pos -> 'offset'), 0),
            'bucket_counts', (SELECT coalesce(pg_catalog.jsonb_agg(cachemon._otlp_number(v_where, 'positive.bucketCounts', c.value) ORDER BY c.ordinality), '[]')
                                FROM pg_catalog.jsonb_array_elements(coalesce(v_pos -> 'bucketCounts', v_pos -> 'bucket_counts', '[]'))
                                     WITH ORDINALITY AS c))));
        IF v_rows -> -1 -> 'implementation_type' IS NULL THEN
            RAISE EXCEPTION '%: attribute "implementation_type" is missing', v_where
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Record the histogram with the attribute implementation_type (e.g. legacy or new), and optionally event_type.';
        END IF;
    END LOOP;
    IF pg_catalog.jsonb_array_length(v_rows) = 0 THEN
        RETURN 0;
    END IF;
    RETURN cachemon.ingest_edge(v_rows, ingest_otlp.batch_id);
END
$function$;

COMMENT ON FUNCTION cachemon.ingest_otlp(jsonb, uuid) IS
    'Store OpenTelemetry exponential histograms of latencies (OTLP JSON: an export request with DELTA temporality, an array of ExponentialHistogramDataPoints or one) as edge rows: attributes implementation_type and event_type (default hit), one row per point in the minute its interval ends. Scale 6 or finer (merged exactly with cachemon''s scale-6 sketches); a coarser scale, negative buckets with counts, a non-zero zeroThreshold or cumulative temporality are refused naming the field. Idempotent by batch_id as ingest_edge. Returns the rows stored.';

REVOKE ALL ON FUNCTION cachemon.ingest_otlp(jsonb, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.ingest_otlp(jsonb, uuid) TO cachemon_writer, cachemon_admin;

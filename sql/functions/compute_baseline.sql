CREATE OR REPLACE FUNCTION cachemon.compute_baseline(
    implementation_type text,
    baseline_window interval DEFAULT '14 days',
    p_now timestamptz DEFAULT pg_catalog.now()
)
RETURNS cachemon.cache_baseline_metrics
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_impl      text := compute_baseline.implementation_type;
    v_end       timestamptz;
    v_start     timestamptz;
    v_min_ops   bigint;
    v_min_mins  integer;
    v_prof_days double precision;
    v_prof_mins integer;
    v_used      integer;
    v_excluded  integer;
    v_first     timestamptz;
    v_last      timestamptz;
    v_stats     jsonb;
    v_profile   jsonb;
    v_row       cachemon.cache_baseline_metrics;
    v_hours     integer[];
    v_metrics   text[];
    v_values    double precision[];
BEGIN
    /*
     * Statistics of one implementation's normal behaviour over the whole minutes of
     * [p_now - baseline_window, p_now), from cache_metrics_1min. Per metric (hit_rate,
     * error_rate, avg_response_time_ms, p95_response_time_ms, requests_per_minute,
     * eviction_rate, avg_cache_size) over the usable minutes: the contract's mean and
     * stddev (columns) and n, median, MAD, mean absolute deviation, min, max (column
     * statistics). When the usable minutes span baseline.profile_min_days days, the median
     * and MAD per UTC hour of day (column hourly_profile), so the auditor compares 3 a.m.
     * with 3 a.m. Minutes with fewer operations than baseline.min_requests_per_minute are
     * left out (their rates are noise). Fewer usable minutes than baseline.min_sample_minutes
     * is an error saying how many there are. The new row replaces the active one in this
     * transaction; an advisory lock per implementation serialises concurrent calls.
     *
     * Since revision 0007 the rules read pooled statistics computed over every minute of the
     * window whatever its volume (cachemon._baseline_pooled: pooled rates, their
     * overdispersion, requests per minute of every minute including silent ones, latency
     * quantiles of the merged sketches, all per hour of day where the hour has data), so a
     * low-traffic implementation is baselined too: the refusal counts minutes with any data.
     */
    IF v_impl IS NULL OR pg_catalog.btrim(v_impl) = '' OR pg_catalog.length(v_impl) > 64 THEN
        RAISE EXCEPTION 'compute_baseline: implementation_type must be 1..64 characters, got %',
            coalesce(pg_catalog.quote_literal(v_impl), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF baseline_window IS NULL OR baseline_window <= interval '0'
       OR baseline_window > interval '400 days' THEN
        RAISE EXCEPTION 'compute_baseline: baseline_window must be between 1 minute and 400 days, got %',
            coalesce(baseline_window::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Finite, at most a day ahead and at most retention.raw behind the clock (one rule).
    PERFORM cachemon._check_now(p_now);

    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('cachemon.compute_baseline'),
                                             pg_catalog.hashtext(v_impl));

    v_end := pg_catalog.date_trunc('minute', p_now, 'UTC');
    v_start := v_end - baseline_window;
    v_min_ops := cachemon._setting('baseline.min_requests_per_minute')::bigint;
    v_min_mins := cachemon._setting('baseline.min_sample_minutes')::integer;
    v_prof_days := cachemon._setting('baseline.profile_min_days')::double precision;
    v_prof_mins := cachemon._setting('baseline.profile_min_minutes')::integer;

    SELECT count(*) FILTER (WHERE m.hits + m.misses + m.sets + m.errors >= v_min_ops),
           count(*) FILTER (WHERE m.hits + m.misses + m.sets + m.errors < v_min_ops),
           min(m.bucket) FILTER (WHERE m.total_events > 0),
           max(m.bucket) FILTER (WHERE m.total_events > 0)
      INTO v_used, v_excluded, v_first, v_last
      FROM cachemon.cache_metrics_1min AS m
     WHERE m.implementation_type = v_impl AND m.bucket >= v_start AND m.bucket < v_end;

    IF v_used < v_min_mins AND v_used + v_excluded < v_min_mins THEN
        RAISE EXCEPTION 'compute_baseline: implementation_type % has % usable minutes in [%, %), at least % are needed',
            pg_catalog.quote_literal(v_impl), v_used, v_start, v_end, v_min_mins
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format(
                      '%s further minutes had data but fewer than %s operations (setting baseline.min_requests_per_minute).',
                      v_excluded, v_min_ops),
                  HINT = 'Record more traffic, use a longer baseline_window, or lower the setting baseline.min_sample_minutes.';
    END IF;

    -- The usable minutes' values, (hour, metric, value) as three parallel arrays: read once
    -- here, by both statements below.
    SELECT pg_catalog.array_agg(extract(hour FROM m.bucket AT TIME ZONE 'UTC')::integer),
           pg_catalog.array_agg(v.metric), pg_catalog.array_agg(v.value)
      INTO v_hours, v_metrics, v_values
      FROM cachemon.cache_metrics_1min AS m
     CROSS JOIN LATERAL (VALUES
         ('hit_rate', m.hit_rate::double precision),
         ('error_rate', m.error_rate::double precision),
         ('avg_response_time_ms', m.latency_sum / NULLIF(m.latency_count, 0)),
         ('p50_response_time_ms', m.p50_response_time_ms),
         ('p95_response_time_ms', m.p95_response_time_ms),
         ('p99_response_time_ms', m.p99_response_time_ms),
         ('requests_per_minute', (m.hits + m.misses + m.sets + m.errors)::double precision),
         ('eviction_rate', 100.0 * m.evictions / NULLIF(m.hits + m.misses, 0)),
         ('avg_cache_size', (m.cache_size_sum / NULLIF(m.cache_size_count, 0))::double precision)
     ) AS v (metric, value)
     WHERE m.implementation_type = v_impl AND m.bucket >= v_start AND m.bucket < v_end
       AND m.hits + m.misses + m.sets + m.errors >= v_min_ops
       AND v.value IS NOT NULL;

    WITH med AS (
        SELECT b.metric, count(*) AS n, avg(b.value) AS mean, stddev_samp(b.value) AS stddev,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY b.value) AS median,
               min(b.value) AS min, max(b.value) AS max
          FROM unnest(v_hours, v_metrics, v_values) AS b (hour, metric, value) GROUP BY b.metric
    ), dev AS (
        SELECT b.metric,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(b.value - d.median)) AS mad,
               avg(abs(b.value - d.median)) AS mean_abs_dev
          FROM unnest(v_hours, v_metrics, v_values) AS b (hour, metric, value) JOIN med AS d ON d.metric = b.metric
         GROUP BY b.metric
    )
    SELECT pg_catalog.jsonb_object_agg(d.metric, pg_catalog.jsonb_build_object(
               'n', d.n, 'mean', d.mean, 'stddev', coalesce(d.stddev, 0), 'median', d.median,
               'mad', x.mad, 'mean_abs_dev', x.mean_abs_dev, 'min', d.min, 'max', d.max))
      INTO v_stats
      FROM med AS d JOIN dev AS x ON x.metric = d.metric;
    v_stats := coalesce(v_stats, '{}'::jsonb) || pg_catalog.jsonb_build_object(
        'settings', pg_catalog.jsonb_build_object(
            'min_requests_per_minute', v_min_ops, 'min_sample_minutes', v_min_mins,
            'profile_min_days', v_prof_days, 'profile_min_minutes', v_prof_mins));

    -- Hour-of-day profile: only when the usable minutes span enough days to tell the daily
    -- rhythm from one unusual day, and only for hours with enough minutes.
    IF extract(epoch FROM v_last - v_first) / 86400.0 >= v_prof_days THEN
        WITH per_hour AS (
            SELECT b.metric, b.hour, count(*) AS n,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY b.value) AS median
              FROM unnest(v_hours, v_metrics, v_values) AS b (hour, metric, value) GROUP BY b.metric, b.hour
        ), per_hour_mad AS (
            SELECT h.metric, h.hour, h.median,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(b.value - h.median)) AS mad
              FROM per_hour AS h
              JOIN unnest(v_hours, v_metrics, v_values) AS b (hour, metric, value) ON b.metric = h.metric AND b.hour = h.hour
             WHERE h.n >= v_prof_mins
             GROUP BY h.metric, h.hour, h.median
        ), per_metric AS (
            SELECT p.metric,
                   pg_catalog.jsonb_object_agg(p.hour::text, p.median) AS medians,
                   pg_catalog.jsonb_object_agg(p.hour::text, p.mad) AS mads
              FROM per_hour_mad AS p GROUP BY p.metric
        )
        SELECT pg_catalog.jsonb_build_object(
                   'median', pg_catalog.jsonb_object_agg(p.metric, p.medians),
                   'mad', pg_catalog.jsonb_object_agg(p.metric, p.mads))
          INTO v_profile
          FROM per_metric AS p;
    END IF;

    -- Pooled statistics (revision 0007): every minute of the window, whatever its volume.
    v_stats := v_stats || cachemon._baseline_pooled(v_impl, v_start, v_end, v_prof_mins,
        extract(epoch FROM v_last - v_first) / 86400.0 >= v_prof_days);
    v_profile := coalesce(v_profile, '{}'::jsonb)
        || coalesce(v_stats -> 'pooled_hourly', '{}'::jsonb);
    v_stats := v_stats - 'pooled_hourly';

    UPDATE cachemon.cache_baseline_metrics AS b SET is_active = false
     WHERE b.implementation_type = v_impl AND b.is_active;

    INSERT INTO cachemon.cache_baseline_metrics AS b (
        implementation_type, window_start, window_end, sample_minutes, is_active, created_at,
        hit_rate_mean, hit_rate_stddev, error_rate_mean, error_rate_stddev,
        avg_response_time_ms_mean, avg_response_time_ms_stddev,
        p95_response_time_ms_mean, p95_response_time_ms_stddev,
        requests_per_minute_mean, requests_per_minute_stddev,
        excluded_minutes, statistics, hourly_profile)
    VALUES (
        v_impl, v_start, v_end, v_used, true, p_now,
        (v_stats -> 'hit_rate' ->> 'mean')::double precision,
        (v_stats -> 'hit_rate' ->> 'stddev')::double precision,
        (v_stats -> 'error_rate' ->> 'mean')::double precision,
        (v_stats -> 'error_rate' ->> 'stddev')::double precision,
        (v_stats -> 'avg_response_time_ms' ->> 'mean')::double precision,
        (v_stats -> 'avg_response_time_ms' ->> 'stddev')::double precision,
        (v_stats -> 'p95_response_time_ms' ->> 'mean')::double precision,
        (v_stats -> 'p95_response_time_ms' ->> 'stddev')::double precision,
        (v_stats -> 'requests_per_minute' ->> 'mean')::double precision,
        (v_stats -> 'requests_per_minute' ->> 'stddev')::double precision,
        v_excluded, v_stats, v_profile)
    RETURNING b.* INTO v_row;
    RETURN v_row;
END
$function$;

COMMENT ON FUNCTION cachemon.compute_baseline(text, interval, timestamptz) IS
    'Compute the baseline of an implementation over the whole minutes of [p_now - baseline_window, p_now) from cache_metrics_1min (mean/stddev, median/MAD, hour-of-day profile) and make it the only active one; returns the new row. Refuses with too few usable minutes (settings baseline.*).';

REVOKE ALL ON FUNCTION cachemon.compute_baseline(text, interval, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.compute_baseline(text, interval, timestamptz) TO cachemon_admin;

-- Undo 0012_sequential_level: auditor.cusum_h back to 11 where it is still the default, and
-- cachemon._window_totals back as 0004_auditor froze it.
UPDATE cachemon._settings
   SET value = '11'
 WHERE name = 'auditor.cusum_h' AND value = '10';
UPDATE cachemon._settings
   SET description = 'Alarm threshold of the sequential test (CUSUM of per-minute log-likelihood ratios): higher is slower and quieter; one false alarm per statistic in at most e^h minutes (11: 60,000 minutes)'
 WHERE name = 'auditor.cusum_h';
-- the settings' validation is a deferred constraint trigger: run it now, so that nothing is
-- pending when a later step of the same transaction (a downgrade to base) drops the table
SET CONSTRAINTS cachemon._settings_validate IMMEDIATE;
SET CONSTRAINTS cachemon._settings_validate DEFERRED;

CREATE OR REPLACE FUNCTION cachemon._window_totals(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (
    implementation_type text,
    minutes integer,
    hits bigint,
    misses bigint,
    sets bigint,
    evictions bigint,
    errors bigint,
    lookups bigint,
    operations bigint,
    latency_count bigint,
    hit_rate double precision,
    error_rate double precision,
    eviction_rate double precision,
    requests_per_minute double precision,
    avg_response_time_ms double precision,
    p95_response_time_ms double precision,
    avg_cache_size double precision,
    last_bucket timestamptz
)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * What the rules judge: per implementation, exact sums over the 1-minute rows of
     * [p_from, p_to) and the rates derived from them with the contract's definitions.
     * requests_per_minute = operations (hits + misses + sets + errors) / minutes of the
     * window (not minutes with data, so silence lowers it). The window p95 is the
     * latency-weighted mean of the minutes' exact p95s: an approximation (p95s cannot be
     * merged exactly from 1-minute rows), adequate for "25% above baseline".
     */
    SELECT m.implementation_type,
           count(*)::integer,
           sum(m.hits)::bigint, sum(m.misses)::bigint, sum(m.sets)::bigint,
           sum(m.evictions)::bigint, sum(m.errors)::bigint,
           sum(m.hits + m.misses)::bigint,
           sum(m.hits + m.misses + m.sets + m.errors)::bigint,
           sum(m.latency_count)::bigint,
           (100.0 * sum(m.hits) / NULLIF(sum(m.hits + m.misses), 0))::double precision,
           (100.0 * sum(m.errors) / NULLIF(sum(m.hits + m.misses + m.sets + m.errors), 0))::double precision,
           (100.0 * sum(m.evictions) / NULLIF(sum(m.hits + m.misses), 0))::double precision,
           sum(m.hits + m.misses + m.sets + m.errors)::double precision
               / NULLIF(extract(epoch FROM p_to - p_from) / 60, 0)::double precision,
           sum(m.latency_sum) / NULLIF(sum(m.latency_count), 0),
           sum(m.p95_response_time_ms * m.latency_count)
               / NULLIF(sum(m.latency_count) FILTER (WHERE m.p95_response_time_ms IS NOT NULL), 0),
           (sum(m.cache_size_sum) / NULLIF(sum(m.cache_size_count), 0))::double precision,
           max(m.bucket) FILTER (WHERE m.total_events > 0)
      FROM cachemon.cache_metrics_1min AS m
     WHERE m.bucket >= p_from AND m.bucket < p_to
     GROUP BY m.implementation_type;
$function$;

COMMENT ON FUNCTION cachemon._window_totals(timestamptz, timestamptz) IS
    'Internal: per implementation, sums and rates over the 1-minute rows of [p_from, p_to) (what the auditor rules judge).';

REVOKE ALL ON FUNCTION cachemon._window_totals(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._window_totals(timestamptz, timestamptz) TO cachemon_reader, cachemon_admin;

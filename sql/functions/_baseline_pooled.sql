CREATE OR REPLACE FUNCTION cachemon._baseline_pooled(
    p_impl text,
    p_start timestamptz,
    p_end timestamptz,
    p_min_minutes integer,
    p_profile boolean
)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_out jsonb;
BEGIN
    /*
     * The pooled part of a baseline, over EVERY minute from the first to the last minute with
     * data of one implementation in [p_start, p_end), quiet or silent minutes included (a
     * minute without a row counts as 0 operations), so that a low-traffic implementation has
     * expectations too (silence after its last minute is not part of its normal traffic):
     *
     * - pooled: hit rate = sum hits / sum lookups, error rate = sum errors / sum operations,
     *   eviction rate = sum evictions / sum lookups (per 100), requests per minute = sum
     *   operations / minutes, and p50/p95/p99 of the merged latency sketch of the window.
     *   Pooling (not the median of minute rates) keeps rare counts honest: with 0-3
     *   evictions a minute the median minute is 0, the pooled rate is not.
     * - dispersion: what sampling noise alone does not explain. hit_rate_tau (percentage
     *   points) is the between-minute spread of the true hit rate (a random-effects /
     *   beta-binomial view): tau^2 = (1.4826 MAD of block rate - expected)^2 minus the median
     *   binomial variance p(1-p)/n, at least 0, over blocks of consecutive minutes holding
     *   about 50 lookups (one minute when traffic allows). error_rate_phi and eviction_rate_phi are
     *   quasi-Poisson dispersion factors: the mean squared Pearson residual of the minute
     *   counts, after dropping the top 1% (incidents in the baseline), at least 1, at most 20.
     *   p50/p95/p99_log_sd: 1.4826 MAD of ln(minute quantile / expected quantile) over
     *   minutes with at least 20 timed requests (how much a well-fed minute's quantile moves).
     * - pooled_hourly.pooled: per UTC hour of day ("0".."23"): requests per minute whenever
     *   the hour has at least p_min_minutes minutes (every minute counts, so nights are
     *   defined); rates and quantiles only when p_profile (enough days) and the hour has at
     *   least 500 lookups / timed requests.
     * - tail (since revision 0009): per quantile (p50/p95/p99_response_time_ms) the share of
     *   timed requests above the expected quantile of their hour (above), above it divided
     *   by 1 + warning/100 and 1 + critical/100 of the response_time rule (above_warning,
     *   above_critical: what the share above the line becomes when every latency is that
     *   much slower), and phi, the quasi-binomial dispersion of the minute counts above the
     *   line (mean squared Pearson residual without the top 1%, 1..20). Since revision 0011
     *   also the share above the line times 1 + warning/100 (beyond_warning: what must stay
     *   below the line's quantile for it to hold) and above twice the line (far, with its own
     *   dispersion far_phi), for the sequential test's stall design. The sequential test
     *   (cachemon._cusum) counts requests above exactly these lines, so its expected rate is
     *   this baseline's own, sketch buckets and hour profile included.
     * Expected values used for the residuals are the hour's when profiled, else the window's.
     */
    -- Every minute of the window, gaps as zero, read once for the whole statement.
    WITH bm AS MATERIALIZED (
        SELECT g.b AS bucket, extract(hour FROM g.b AT TIME ZONE 'UTC')::integer AS hour,
               coalesce(m.hits, 0)::double precision AS hits,
               coalesce(m.hits + m.misses, 0)::double precision AS lookups,
               coalesce(m.errors, 0)::double precision AS errors,
               coalesce(m.hits + m.misses + m.sets + m.errors, 0)::double precision AS ops,
               coalesce(m.evictions, 0)::double precision AS evictions,
               coalesce(m.latency_count, 0)::double precision AS latency_count,
               m.p50_response_time_ms AS p50, m.p95_response_time_ms AS p95,
               m.p99_response_time_ms AS p99, m.latency_sketch AS sketch
          FROM (SELECT min(x.bucket) AS first, max(x.bucket) AS last
                  FROM cachemon.cache_metrics_1min AS x
                 WHERE x.implementation_type = p_impl AND x.bucket >= p_start AND x.bucket < p_end
                   AND x.total_events > 0) AS f
         CROSS JOIN LATERAL pg_catalog.generate_series(f.first, f.last, interval '1 minute') AS g (b)
          LEFT JOIN cachemon.cache_metrics_1min AS m
            ON m.implementation_type = p_impl AND m.bucket = g.b
    ), hourly AS (
        SELECT b.hour, count(*) AS minutes, sum(b.ops) / count(*) AS rpm,
               sum(b.lookups) AS lookups, sum(b.latency_count) AS lc,
               100.0 * sum(b.hits) / NULLIF(sum(b.lookups), 0) AS hit_rate,
               100.0 * sum(b.errors) / NULLIF(sum(b.ops), 0) AS error_rate,
               100.0 * sum(b.evictions) / NULLIF(sum(b.lookups), 0) AS eviction_rate,
               cachemon.sketch_quantiles(cachemon.sketch_merge(b.sketch), ARRAY[0.5, 0.95, 0.99]) AS q
          FROM bm AS b GROUP BY b.hour
    ), overall AS (
        SELECT count(*) AS minutes, sum(b.ops) / NULLIF(count(*), 0) AS rpm,
               sum(b.lookups) AS lookups, sum(b.ops) AS ops,
               100.0 * sum(b.hits) / NULLIF(sum(b.lookups), 0) AS hit_rate,
               100.0 * sum(b.errors) / NULLIF(sum(b.ops), 0) AS error_rate,
               100.0 * sum(b.evictions) / NULLIF(sum(b.lookups), 0) AS eviction_rate,
               cachemon.sketch_quantiles(cachemon.sketch_merge(b.sketch), ARRAY[0.5, 0.95, 0.99]) AS q
          FROM bm AS b
    ), expect AS (
        SELECT h.hour,
               CASE WHEN p_profile AND h.lookups >= 500 THEN h.hit_rate ELSE o.hit_rate END AS hit_rate,
               CASE WHEN p_profile AND h.lookups >= 500 THEN h.error_rate ELSE o.error_rate END AS error_rate,
               CASE WHEN p_profile AND h.lookups >= 500 THEN h.eviction_rate ELSE o.eviction_rate END AS eviction_rate,
               CASE WHEN p_profile AND h.lc >= 500 THEN h.q ELSE o.q END AS q,
               h.lookups, h.lc, h.minutes, h.rpm, h.q AS hq,
               h.hit_rate AS h_hit, h.error_rate AS h_err, h.eviction_rate AS h_ev
          FROM hourly AS h CROSS JOIN overall AS o
    ), blk AS (
        -- hit-rate residuals per block of minutes holding about 50 lookups (1 minute at
        -- 50+ lookups a minute, up to 60), so tau is not drowned in small-count noise
        SELECT sum(b.hits) / NULLIF(sum(b.lookups), 0) - min(e.hit_rate) / 100.0 AS d_hit,
               (min(e.hit_rate) / 100.0) * (1 - min(e.hit_rate) / 100.0) / NULLIF(sum(b.lookups), 0) AS v_hit
          FROM bm AS b
          JOIN expect AS e ON e.hour = b.hour
         CROSS JOIN (SELECT greatest(1, least(60, ceil(50.0 / NULLIF(avg(x.lookups), 0))))::integer AS len
                       FROM bm AS x) AS k
         GROUP BY b.hour, floor(extract(epoch FROM b.bucket) / (60 * coalesce(k.len, 1)))
        HAVING sum(b.lookups) >= 20
    ), resid AS (
        SELECT b.lookups,
               (b.errors - b.ops * e.error_rate / 100.0)
                   / NULLIF(sqrt(b.ops * e.error_rate / 100.0), 0) AS r_err,
               (b.evictions - b.lookups * e.eviction_rate / 100.0)
                   / NULLIF(sqrt(b.lookups * e.eviction_rate / 100.0), 0) AS r_ev,
               CASE WHEN b.latency_count >= 20 THEN ln(greatest(b.p50, 1e-6) / NULLIF(greatest(e.q[1], 1e-6), 0)) END AS l50,
               CASE WHEN b.latency_count >= 20 THEN ln(greatest(b.p95, 1e-6) / NULLIF(greatest(e.q[2], 1e-6), 0)) END AS l95,
               CASE WHEN b.latency_count >= 20 THEN ln(greatest(b.p99, 1e-6) / NULLIF(greatest(e.q[3], 1e-6), 0)) END AS l99
          FROM bm AS b JOIN expect AS e ON e.hour = b.hour
    ), med AS (
        SELECT (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY k.d_hit) FROM blk AS k) AS m_hit,
               (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY k.v_hit) FROM blk AS k) AS m_v,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY r.l50) AS m50,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY r.l95) AS m95,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY r.l99) AS m99,
               percentile_cont(0.99) WITHIN GROUP (ORDER BY r.r_err * r.r_err) AS c_err,
               percentile_cont(0.99) WITHIN GROUP (ORDER BY r.r_ev * r.r_ev) AS c_ev
          FROM resid AS r
    ), lines AS (
        -- counts above the tail lines, per minute (sketch keys above the line's key)
        SELECT b.latency_count AS n, v.metric, u.c0, u.cw, u.cc, u.cb, u.cf
          FROM bm AS b
          JOIN expect AS e ON e.hour = b.hour
         CROSS JOIN (SELECT 1 + r.warning_threshold / 100.0 AS fw, 1 + r.critical_threshold / 100.0 AS fc
                       FROM cachemon._auditor_rule('response_time') AS r) AS f
         CROSS JOIN LATERAL (VALUES ('p50_response_time_ms', e.q[1]), ('p95_response_time_ms', e.q[2]),
                                    ('p99_response_time_ms', e.q[3])) AS v (metric, line)
         CROSS JOIN LATERAL (
               SELECT coalesce(sum(c) FILTER (WHERE k > cachemon.sketch_key(v.line)), 0) AS c0,
                      coalesce(sum(c) FILTER (WHERE k > cachemon.sketch_key(v.line / f.fw)), 0) AS cw,
                      coalesce(sum(c) FILTER (WHERE k > cachemon.sketch_key(v.line / f.fc)), 0) AS cc,
                      coalesce(sum(c) FILTER (WHERE k > cachemon.sketch_key(v.line * f.fw)), 0) AS cb,
                      coalesce(sum(c) FILTER (WHERE k > cachemon.sketch_key(v.line * 2)), 0) AS cf
                 FROM unnest((b.sketch).keys, (b.sketch).counts) AS s (k, c)) AS u
         WHERE b.latency_count > 0 AND b.sketch IS NOT NULL AND v.line > 0
    ), tail_rate AS (
        SELECT l.metric, sum(l.c0) / sum(l.n) AS above, sum(l.cw) / sum(l.n) AS above_warning,
               sum(l.cc) / sum(l.n) AS above_critical, sum(l.cb) / sum(l.n) AS beyond_warning,
               sum(l.cf) / sum(l.n) AS far
          FROM lines AS l GROUP BY l.metric HAVING sum(l.n) > 0
    ), tail_resid AS (
        SELECT l.metric,
               power(l.c0 - l.n * t.above, 2) / NULLIF(l.n * t.above * (1 - t.above), 0) AS r2,
               power(l.cf - l.n * t.far, 2) / NULLIF(l.n * t.far * (1 - t.far), 0) AS r2f
          FROM lines AS l JOIN tail_rate AS t ON t.metric = l.metric
    ), tail AS (
        SELECT t.metric, t.above, t.above_warning, t.above_critical, t.beyond_warning, t.far,
               least(greatest(coalesce(avg(x.r2) FILTER (WHERE x.r2 <= c.cut), 1), 1), 20) AS phi,
               least(greatest(coalesce(avg(x.r2f) FILTER (WHERE x.r2f <= c.cut_f), 1), 1), 20) AS far_phi
          FROM tail_rate AS t
          JOIN tail_resid AS x ON x.metric = t.metric
          JOIN (SELECT y.metric, percentile_cont(0.99) WITHIN GROUP (ORDER BY y.r2) AS cut,
                       percentile_cont(0.99) WITHIN GROUP (ORDER BY y.r2f) AS cut_f
                  FROM tail_resid AS y GROUP BY y.metric) AS c ON c.metric = t.metric
         GROUP BY t.metric, t.above, t.above_warning, t.above_critical, t.beyond_warning, t.far
    ), disp AS (
        SELECT 100.0 * sqrt(greatest(power(1.4826 * (SELECT percentile_cont(0.5) WITHIN GROUP (
                   ORDER BY abs(k.d_hit - d.m_hit)) FROM blk AS k), 2) - coalesce(d.m_v, 0), 0)) AS hit_tau,
               least(greatest(avg(r.r_err * r.r_err) FILTER (WHERE r.r_err * r.r_err <= d.c_err), 1), 20) AS err_phi,
               least(greatest(avg(r.r_ev * r.r_ev) FILTER (WHERE r.r_ev * r.r_ev <= d.c_ev), 1), 20) AS ev_phi,
               1.4826 * percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(r.l50 - d.m50)) AS sd50,
               1.4826 * percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(r.l95 - d.m95)) AS sd95,
               1.4826 * percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(r.l99 - d.m99)) AS sd99
          FROM resid AS r CROSS JOIN med AS d
         GROUP BY d.m_hit, d.m_v, d.m50, d.m95, d.m99, d.c_err, d.c_ev
    )
    SELECT pg_catalog.jsonb_build_object(
        'pooled', (SELECT pg_catalog.jsonb_build_object(
                'minutes', o.minutes, 'lookups', o.lookups, 'operations', o.ops,
                'requests_per_minute', o.rpm, 'hit_rate', o.hit_rate, 'error_rate', o.error_rate,
                'eviction_rate', o.eviction_rate, 'p50_response_time_ms', o.q[1],
                'p95_response_time_ms', o.q[2], 'p99_response_time_ms', o.q[3]) FROM overall AS o),
        'dispersion', (SELECT pg_catalog.jsonb_build_object(
                'hit_rate_tau', coalesce(d.hit_tau, 0), 'error_rate_phi', coalesce(d.err_phi, 1),
                'eviction_rate_phi', coalesce(d.ev_phi, 1), 'p50_log_sd', d.sd50,
                'p95_log_sd', d.sd95, 'p99_log_sd', d.sd99) FROM disp AS d),
        'tail', (SELECT pg_catalog.jsonb_object_agg(t.metric, pg_catalog.jsonb_build_object(
                'above', t.above, 'above_warning', t.above_warning,
                'above_critical', t.above_critical, 'phi', t.phi,
                'beyond_warning', t.beyond_warning, 'far', t.far, 'far_phi', t.far_phi)) FROM tail AS t),
        'pooled_hourly', pg_catalog.jsonb_build_object('pooled', (
            SELECT pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                'requests_per_minute', pg_catalog.jsonb_object_agg(e.hour::text, e.rpm)
                    FILTER (WHERE e.minutes >= p_min_minutes),
                'hit_rate', pg_catalog.jsonb_object_agg(e.hour::text, e.h_hit)
                    FILTER (WHERE p_profile AND e.lookups >= 500),
                'error_rate', pg_catalog.jsonb_object_agg(e.hour::text, e.h_err)
                    FILTER (WHERE p_profile AND e.lookups >= 500),
                'eviction_rate', pg_catalog.jsonb_object_agg(e.hour::text, e.h_ev)
                    FILTER (WHERE p_profile AND e.lookups >= 500),
                'p50_response_time_ms', pg_catalog.jsonb_object_agg(e.hour::text, e.hq[1])
                    FILTER (WHERE p_profile AND e.lc >= 500),
                'p95_response_time_ms', pg_catalog.jsonb_object_agg(e.hour::text, e.hq[2])
                    FILTER (WHERE p_profile AND e.lc >= 500),
                'p99_response_time_ms', pg_catalog.jsonb_object_agg(e.hour::text, e.hq[3])
                    FILTER (WHERE p_profile AND e.lc >= 500)))
              FROM expect AS e)))
      INTO v_out;
    RETURN v_out;
END
$function$;

COMMENT ON FUNCTION cachemon._baseline_pooled(text, timestamptz, timestamptz, integer, boolean) IS
    'Internal (compute_baseline): pooled rates, requests per minute over every minute, merged-sketch quantiles, overdispersion (hit_rate_tau, error/eviction phi, quantile log spreads), the latency tail shares the sequential test needs, and their hour-of-day profile.';

REVOKE ALL ON FUNCTION cachemon._baseline_pooled(text, timestamptz, timestamptz, integer, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._baseline_pooled(text, timestamptz, timestamptz, integer, boolean)
    TO cachemon_admin;

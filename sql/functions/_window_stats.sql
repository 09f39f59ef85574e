CREATE OR REPLACE FUNCTION cachemon._window_stats(p_from timestamptz, p_to timestamptz)
RETURNS SETOF cachemon._window_stat
LANGUAGE plpgsql
STABLE
ROWS 8
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    -- the confidence of the loo quantiles' lower bounds: the response_time rule judges them
    v_z double precision := coalesce(
        (SELECT r.significance_z FROM cachemon._auditor_rules AS r WHERE r.rule = 'response_time'),
        3.09);
BEGIN
    /*
     * What the rules judge, per implementation over the whole minutes of [p_from, p_to):
     *
     * - Only fully rolled-up minutes: a minute with a mark still queued in _dirty_buckets is
     *   left out (its row may be half-built) and counted in pending_minutes.
     * - Exact sums and pooled rates (contract definitions). Window percentiles come from the
     *   merge of the minutes' latency sketches (within the sketch's 0.55%), not from averaging
     *   minute p95s; minute rows without a sketch fall back to the latency-weighted mean of
     *   their minute percentiles.
     * - The same once more without the window's single worst minute for each metric
     *   (loo_*: leave one out). The worst minute is the one with the largest excess over the
     *   window's own rate (most excess misses, errors, evictions; largest latency excess; the
     *   highest minute p50 and p95; for p99 the highest minute p95, since a normal minute
     *   whose p99 is one very slow request moves the window's p99 less than a minute slow
     *   throughout). loo_eviction_lookups are the lookups of the minutes loo_evictions
     *   keeps (an eviction rate needs both from the same minutes). Rules judge the loo values, so a
     *   breach needs at least two distinct bad minutes: one stalled minute, or one slow
     *   request, can never open a finding however many overlapping windows contain it.
     * - loo_pNN_lower_ms: the distribution-free lower confidence bound (one-sided, z the
     *   response_time rule's significance_z, default 3.09) of each loo quantile: the
     *   sketch's value at rank N (q - z sqrt(q (1 - q) / N)). A quantile is significantly
     *   above a value only when this bound is.
     *
     * The rules do not call this: run_auditor computes every window once per run and passes
     * the rows to the rules (cachemon._audit_judgement).
     *
     * requests_per_minute = operations / minutes of the window (silence lowers it).
     * PL/pgSQL so that the body is not checked before the sketch functions exist when the
     * functions are created in name order.
     */
    RETURN QUERY
    WITH q AS MATERIALIZED (
        SELECT * FROM cachemon._queued_buckets(p_from, p_to)
    ), m AS (
        SELECT r.*,
               r.hits + r.misses AS lk,
               r.hits + r.misses + r.sets + r.errors AS ops
          FROM cachemon.cache_metrics_1min AS r
         WHERE r.bucket >= p_from AND r.bucket < p_to
           AND NOT EXISTS (SELECT 1 FROM q
                            WHERE q.bucket = r.bucket
                              AND q.implementation_type = r.implementation_type)
    ), pend AS (
        SELECT q.implementation_type, count(*)::integer AS n
          FROM q GROUP BY q.implementation_type
    ), tot AS (
        SELECT m.implementation_type,
               count(*) FILTER (WHERE m.total_events > 0)::integer AS data_minutes,
               sum(m.hits)::double precision AS hits, sum(m.lk)::double precision AS lk,
               sum(m.errors)::double precision AS errors, sum(m.ops)::double precision AS ops,
               sum(m.evictions)::double precision AS ev,
               sum(m.latency_count)::double precision AS lc,
               sum(m.latency_sum) AS ls,
               sum(m.cache_size_sum) / NULLIF(sum(m.cache_size_count), 0) AS size,
               max(m.bucket) FILTER (WHERE m.total_events > 0) AS last_bucket
          FROM m GROUP BY m.implementation_type
    ), ranked AS (
        SELECT m.*,
               row_number() OVER (PARTITION BY m.implementation_type
                   ORDER BY (m.lk - m.hits) - m.lk * (1 - t.hits / NULLIF(t.lk, 0)) DESC NULLS LAST,
                            m.bucket) AS w_hit,
               row_number() OVER (PARTITION BY m.implementation_type
                   ORDER BY m.errors - m.ops * (t.errors / NULLIF(t.ops, 0)) DESC NULLS LAST,
                            m.bucket) AS w_err,
               row_number() OVER (PARTITION BY m.implementation_type
                   ORDER BY m.evictions - m.lk * (t.ev / NULLIF(t.lk, 0)) DESC NULLS LAST,
                            m.bucket) AS w_ev,
               row_number() OVER (PARTITION BY m.implementation_type
                   ORDER BY m.latency_sum - m.latency_count * (t.ls / NULLIF(t.lc, 0)) DESC NULLS LAST,
                            m.bucket) AS w_avg,
               row_number() OVER (PARTITION BY m.implementation_type
                   ORDER BY m.p50_response_time_ms DESC NULLS LAST, m.bucket) AS w_p50,
               row_number() OVER (PARTITION BY m.implementation_type
                   ORDER BY m.p95_response_time_ms DESC NULLS LAST, m.bucket) AS w_p95,
               -- the minute that moves the window's p99 most is the one with the most
               -- requests in the window's top 1%: a minute slow throughout (high p95), not a
               -- normal minute whose p99 is one very slow request
               row_number() OVER (PARTITION BY m.implementation_type
                   ORDER BY m.p95_response_time_ms DESC NULLS LAST,
                            m.p99_response_time_ms DESC NULLS LAST, m.bucket) AS w_p99
          FROM m JOIN tot AS t ON t.implementation_type = m.implementation_type
    ), agg AS (
        SELECT r.implementation_type,
               sum(r.hits) FILTER (WHERE r.w_hit > 1)::bigint AS loo_hits,
               sum(r.lk) FILTER (WHERE r.w_hit > 1)::bigint AS loo_lk,
               sum(r.errors) FILTER (WHERE r.w_err > 1)::bigint AS loo_errors,
               sum(r.ops) FILTER (WHERE r.w_err > 1)::bigint AS loo_ops,
               sum(r.evictions) FILTER (WHERE r.w_ev > 1)::bigint AS loo_ev,
               sum(r.lk) FILTER (WHERE r.w_ev > 1)::bigint AS loo_ev_lk,
               sum(r.latency_count) FILTER (WHERE r.w_avg > 1)::bigint AS loo_lc,
               sum(r.latency_sum) FILTER (WHERE r.w_avg > 1)
                   / NULLIF(sum(r.latency_count) FILTER (WHERE r.w_avg > 1), 0) AS loo_avg,
               cachemon.sketch_merge(r.latency_sketch) AS sk,
               cachemon.sketch_merge(r.latency_sketch) FILTER (WHERE r.w_p50 > 1) AS sk50,
               cachemon.sketch_merge(r.latency_sketch) FILTER (WHERE r.w_p95 > 1) AS sk95,
               cachemon.sketch_merge(r.latency_sketch) FILTER (WHERE r.w_p99 > 1) AS sk99,
               bool_or(r.latency_sketch IS NULL AND r.latency_count > 0) AS unsketched,
               sum(r.p50_response_time_ms * r.latency_count) / NULLIF(sum(r.latency_count)
                   FILTER (WHERE r.p50_response_time_ms IS NOT NULL), 0) AS w50,
               sum(r.p95_response_time_ms * r.latency_count) / NULLIF(sum(r.latency_count)
                   FILTER (WHERE r.p95_response_time_ms IS NOT NULL), 0) AS w95,
               sum(r.p99_response_time_ms * r.latency_count) / NULLIF(sum(r.latency_count)
                   FILTER (WHERE r.p99_response_time_ms IS NOT NULL), 0) AS w99,
               sum(r.p50_response_time_ms * r.latency_count) FILTER (WHERE r.w_p50 > 1)
                   / NULLIF(sum(r.latency_count) FILTER (WHERE r.w_p50 > 1
                            AND r.p50_response_time_ms IS NOT NULL), 0) AS l50,
               sum(r.p95_response_time_ms * r.latency_count) FILTER (WHERE r.w_p95 > 1)
                   / NULLIF(sum(r.latency_count) FILTER (WHERE r.w_p95 > 1
                            AND r.p95_response_time_ms IS NOT NULL), 0) AS l95,
               sum(r.p99_response_time_ms * r.latency_count) FILTER (WHERE r.w_p99 > 1)
                   / NULLIF(sum(r.latency_count) FILTER (WHERE r.w_p99 > 1
                            AND r.p99_response_time_ms IS NOT NULL), 0) AS l99
          FROM ranked AS r GROUP BY r.implementation_type
    )
    SELECT t.implementation_type,
           (extract(epoch FROM p_to - p_from) / 60)::integer,
           t.data_minutes, coalesce(p.n, 0),
           t.hits::bigint, t.lk::bigint, t.errors::bigint, t.ops::bigint, t.ev::bigint, t.lc::bigint,
           100.0 * t.hits / NULLIF(t.lk, 0),
           100.0 * t.errors / NULLIF(t.ops, 0),
           100.0 * t.ev / NULLIF(t.lk, 0),
           t.ops / NULLIF(extract(epoch FROM p_to - p_from) / 60, 0)::double precision,
           t.ls / NULLIF(t.lc, 0),
           CASE WHEN a.unsketched THEN a.w50 ELSE q.q[1] END,
           CASE WHEN a.unsketched THEN a.w95 ELSE q.q[2] END,
           CASE WHEN a.unsketched THEN a.w99 ELSE q.q[3] END,
           t.size::double precision,
           coalesce(a.loo_hits, 0), coalesce(a.loo_lk, 0), coalesce(a.loo_errors, 0),
           coalesce(a.loo_ops, 0), coalesce(a.loo_ev, 0), coalesce(a.loo_ev_lk, 0),
           coalesce(a.loo_lc, 0), a.loo_avg,
           CASE WHEN a.unsketched THEN a.l50 ELSE q50.q[1] END,
           CASE WHEN a.unsketched THEN a.l95 ELSE q95.q[2] END,
           CASE WHEN a.unsketched THEN a.l99 ELSE q99.q[3] END,
           CASE WHEN a.unsketched THEN a.l50 ELSE q50.q[4] END,
           CASE WHEN a.unsketched THEN a.l95 ELSE q95.q[5] END,
           CASE WHEN a.unsketched THEN a.l99 ELSE q99.q[6] END,
           t.last_bucket
      FROM tot AS t
      JOIN agg AS a ON a.implementation_type = t.implementation_type
      LEFT JOIN pend AS p ON p.implementation_type = t.implementation_type
     CROSS JOIN LATERAL (SELECT cachemon.sketch_quantiles(a.sk, ARRAY[0.5, 0.95, 0.99]) AS q) AS q
     CROSS JOIN LATERAL (SELECT coalesce((a.sk50).zero_count, 0)
                                + coalesce((SELECT sum(c) FROM unnest((a.sk50).counts) AS c), 0) AS n50) AS n5
     CROSS JOIN LATERAL (SELECT cachemon.sketch_quantiles(a.sk50, ARRAY[0.5, 0.5, 0.5,
                                    greatest(0.5 - v_z * sqrt(0.25 / greatest(n5.n50, 1)), 0)]) AS q) AS q50
     CROSS JOIN LATERAL (SELECT coalesce((a.sk95).zero_count, 0)
                                + coalesce((SELECT sum(c) FROM unnest((a.sk95).counts) AS c), 0) AS n95,
                                coalesce((a.sk99).zero_count, 0)
                                + coalesce((SELECT sum(c) FROM unnest((a.sk99).counts) AS c), 0) AS n99) AS n
     CROSS JOIN LATERAL (SELECT cachemon.sketch_quantiles(a.sk95, ARRAY[0.5, 0.95, 0.99,
                                    greatest(0.5 - v_z * sqrt(0.25 / greatest(n.n95, 1)), 0),
                                    greatest(0.95 - v_z * sqrt(0.0475 / greatest(n.n95, 1)), 0),
                                    greatest(0.99 - v_z * sqrt(0.0099 / greatest(n.n95, 1)), 0)]) AS q) AS q95
     CROSS JOIN LATERAL (SELECT cachemon.sketch_quantiles(a.sk99, ARRAY[0.5, 0.95, 0.99,
                                    0, 0,
                                    greatest(0.99 - v_z * sqrt(0.0099 / greatest(n.n99, 1)), 0)]) AS q) AS q99;
END
$function$;

COMMENT ON FUNCTION cachemon._window_stats(timestamptz, timestamptz) IS
    'Internal: per implementation over the fully rolled-up minutes of [p_from, p_to): sums, pooled rates, p50/p95/p99 from merged sketches, and the same without the worst minute of each metric (loo_*, with lower confidence bounds of the loo quantiles at the response_time rule''s significance_z), which is what the rules judge. run_auditor computes each window once per run and passes the rows to the rules.';

REVOKE ALL ON FUNCTION cachemon._window_stats(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._window_stats(timestamptz, timestamptz) TO cachemon_reader, cachemon_admin;

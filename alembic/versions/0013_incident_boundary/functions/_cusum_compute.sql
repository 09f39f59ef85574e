CREATE OR REPLACE FUNCTION cachemon._cusum_compute(p_now timestamptz)
RETURNS TABLE (
    implementation_type text,
    metric text,
    design text,
    statistic double precision,
    threshold double precision,
    segment_start timestamptz,
    segment_minutes integer,
    events double precision,
    exceedances double precision,
    expected_exceedances double precision,
    observed double precision,
    base double precision,
    recent double precision,
    recovery double precision
)
LANGUAGE plpgsql
STABLE
ROWS 16
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * The sequential test (one-sided CUSUM) behind the quality rules, per implementation with
     * an active baseline and per metric: error_rate (errors among operations), hit_rate
     * (misses among lookups) and p50/p95/p99_response_time_ms (timed requests above the
     * baseline's quantile of their hour of day, counted from the minute's sketch). Each
     * fully rolled-up minute of the last auditor.cusum_minutes before the minute of p_now
     * adds its log-likelihood ratio of "the rule's warning threshold is breached" (design
     * 'warning') or "its critical threshold is" ('critical') against "as in the baseline":
     *
     *     x = (c ln(p1/p0) + (n - c) ln((1 - p1)/(1 - p0))) / phi,   at most 0.6 h
     *
     * with c of n the minute's exceedances, p0 the baseline's rate (error: its pooled rate of
     * the whole window, at least 0.01%; misses: 1 - pooled hit rate of the
     * hour; latency: the share of the baseline's own requests above the same lines,
     * statistics.tail), p1 the rate the threshold implies (error: the threshold itself, at
     * least 1.5 p0 / 3 p0; misses: 1 - hit rate x (1 - threshold); latency: the baseline's
     * share above the line divided by 1 + threshold, i.e. every request that much slower),
     * phi the baseline's dispersion (error_rate_phi; 1 + n tau^2 / (p0 (1 - p0)) for hit
     * rates; the tail's phi). Since revision 0011 p99 has a third design, 'stall', for tail
     * regressions that move only a few requests a long way (stalls, retries, lock waits):
     * c counts the requests above twice the p99 line, p0 is the baseline's share there
     * (statistics.tail far, with its own dispersion far_phi) and p1 = p0 + (1% - the
     * baseline's share above the p99 warning line): the share when just enough requests
     * stall that far for p99 to reach the warning threshold. The far line's background is
     * a quarter of the p99 line's, so each stalled request weighs ln(p1/p0), about 1.0 nat
     * instead of 0.7, and a 1.2% stall gives about 1.5 nats a minute at 130 timed requests
     * where the p99 designs collect 0.7. The statistic is S = max(0, S + x) from the start of the
     * lookback, computed again at every run from the minute rows (W_T - min(0, min W_j) over
     * the running sums W), so late rows and reruns cannot double count, and the segment is
     * the minutes after the last minimum of W (the evidence of the current excursion).
     * Since revision 0012 the statistic of an implementation starts again from 0 when its
     * last finding is resolved (by the auditor or a person, before p_now): a CUSUM restarts
     * after its alarm is dealt with. Since 0013 it keeps the minutes that begin at or after
     * the resolution (cachemon._last_resolution), the boundary run_auditor applies to a
     * segment: 0012 kept the minute the resolution fell in, and a segment that began there
     * could not count while it did (12 operations a minute with 6% errors going on after a
     * person's resolve: the next finding came from the 15-minute window after 16.9 minutes,
     * now from this test after 12.9). Until a minute begins after the resolution there is
     * nothing to judge and no row. Without the restart an incident's
     * evidence (80 nats for errors at 4% for 15 minutes at 110 operations a minute) took
     * one to two hours to drain at the baseline's drift, and an incident in that time was
     * judged over a segment that began with the old one: its value was the old incident's,
     * and a segment that starts before a resolved finding may not open a new one (an error
     * ramp 45 minutes after errors at 4% was found by the sequential test only after 15
     * minutes, on seed 3 of the bench).
     * observed is the segment's value without its worst minute (pooled rate, or quantile of
     * the merged sketch; events, exceedances and expected_exceedances likewise; for errors
     * the worst minute's operations stay, at the second worst minute's error rate), which the
     * rules judge against their thresholds: the segment is where the evidence is largest,
     * so its value is biased up, most of all by its worst minute (one stalled minute with
     * 90% errors, or all requests 8x slower, would carry a whole segment past a threshold);
     * without it a near miss (errors at 0.6% against 1%) does not read as a breach.
     *
     * recovery is the reverse CUSUM of the current excursion, R = max(0, R - x) from the
     * segment's start, i.e. the drawdown of W from its highest point in the segment (the
     * statistic's peak minus its value now): the evidence for "as in the baseline" against
     * "threshold breached" since the peak, the largest over the designs whose statistic is
     * above 0, and 0 while any design's recent (below) is above 0. run_auditor takes
     * recovery >= h / 2 (the minutes since favour the baseline e^(h/2) to one), or a
     * statistic back at 0, as the sign that an incident is over where a long window still
     * holds its minutes; at 2 operations a minute with 12% errors five minutes without an
     * error are not that (0.1), after a latency x2 at night ten normal minutes are (about
     * 0.5 a minute).
     *
     * recent is the sum of the increments over the last auditor.window: the rules judge the
     * test only while it is positive (the excursion is still growing). After an incident
     * ends the statistic decays slowly (a fraction of a nat a minute), and without this its
     * segment would keep a finding open for an hour or more after the recovery.
     *
     * threshold is the level S must reach: h = auditor.cusum_h, and more when one minute
     * carries much of S, greatest(h, h / 2 + the segment's largest increment): the evidence
     * without its strongest minute must reach h / 2. A minute adds at most 0.6 h, so one
     * stalled minute (benign: a GC pause, a deploy) gives the statistic a head start of up
     * to 0.6 h, after which ordinary noise needed only 0.4 h to complete an alarm; now it
     * needs h / 2 of its own, and a clear incident still alarms on two capped minutes
     * (1.2 h against 0.5 h + 0.6 h).
     *
     * Invariants (tests/test_auditor_sequential.py): S equals the recursion over the same
     * minutes and threshold is greatest(h, h / 2 + its largest increment since the last
     * reset); no minute adds more than 0.6 h, so an alarm needs at least two minutes with
     * evidence, and one stalled minute never raises it;
     * under the baseline the expected increment is negative (p1 > p0), so S drifts back to 0,
     * and by Wald's bound the false alarms of one statistic are at most one in e^h minutes
     * (h = 10, the default since revision 0012: one in 22,000 minutes, 15 days). Setting
     * auditor.sequential = false turns it off (no rows).
     */
    IF NOT coalesce(cachemon._setting('auditor.sequential')::boolean, true) THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH cfg AS (
        SELECT cachemon._setting('auditor.cusum_h')::double precision AS h,
               cachemon._setting('auditor.cusum_minutes')::integer AS lookback,
               cachemon._setting('auditor.window')::interval AS recent_window,
               pg_catalog.date_trunc('minute', p_now, 'UTC') AS t_end
    ), er AS (
        SELECT * FROM cachemon._auditor_rule('error_rate')
    ), hr AS (
        SELECT * FROM cachemon._auditor_rule('hit_rate_drop')
    ), q AS MATERIALIZED (
        SELECT qb.* FROM cfg CROSS JOIN LATERAL cachemon._queued_buckets(
            cfg.t_end - pg_catalog.make_interval(mins => cfg.lookback), cfg.t_end) AS qb
    ), restart AS MATERIALIZED (
        -- per implementation the instant its last finding was resolved (by the auditor or a
        -- person), up to p_now: the statistic starts again from 0 with the first minute
        -- that begins at or after it
        SELECT * FROM cachemon._last_resolution(p_now)
    ), m AS MATERIALIZED (
        SELECT r.implementation_type, r.bucket, r.latency_sketch,
               extract(hour FROM r.bucket AT TIME ZONE 'UTC')::integer AS hour,
               (r.hits + r.misses)::double precision AS lookups, r.hits::double precision AS hits,
               r.errors::double precision AS errors,
               (r.hits + r.misses + r.sets + r.errors)::double precision AS ops,
               r.latency_count::double precision AS lc
          FROM cfg
          JOIN cachemon.cache_metrics_1min AS r
            ON r.bucket >= cfg.t_end - pg_catalog.make_interval(mins => cfg.lookback)
           AND r.bucket < cfg.t_end
         WHERE NOT EXISTS (SELECT 1 FROM q WHERE q.bucket = r.bucket
                                              AND q.implementation_type = r.implementation_type)
           AND NOT EXISTS (SELECT 1 FROM restart AS x
                            WHERE x.implementation_type = r.implementation_type
                              AND r.bucket < x.resolved_at)
    ), par AS MATERIALIZED (
        -- the baseline's parameters once per implementation and hour of day in the lookback
        -- (not per minute: the baseline row's jsonb is large), one row per metric and design
        SELECT hh.implementation_type, hh.hour, x.metric, x.design, x.p0, x.p1, x.phi, x.phi_n,
               x.li, CASE WHEN x.line > 0 THEN cachemon.sketch_key(x.line) END AS line_key
          FROM (SELECT m.implementation_type, m.hour, min(m.bucket) AS at
                  FROM m GROUP BY m.implementation_type, m.hour) AS hh
          JOIN cachemon.cache_baseline_metrics AS b
            ON b.implementation_type = hh.implementation_type AND b.is_active
         CROSS JOIN er CROSS JOIN hr
         CROSS JOIN LATERAL (SELECT
                -- errors: the whole window's pooled rate (an hour of a quiet implementation
                -- holds a handful of errors: its own rate is noise, 0% or several times the
                -- truth)
                greatest(coalesce((b.statistics -> 'pooled' ->> 'error_rate')::double precision, 0),
                         0.01) / 100.0 AS err,
                greatest(coalesce((b.statistics -> 'dispersion' ->> 'error_rate_phi')::double precision, 1), 1) AS err_phi,
                cachemon._baseline_pooled_at(b, 'hit_rate', hh.at) / 100.0 AS hit,
                power(coalesce((b.statistics -> 'dispersion' ->> 'hit_rate_tau')::double precision, 0) / 100.0, 2) AS tau2,
                b.statistics -> 'tail' AS tail,
                (b.statistics #>> '{tail,p99_response_time_ms,far}')::double precision AS far,
                (b.statistics #>> '{tail,p99_response_time_ms,beyond_warning}')::double precision AS beyond_warning,
                greatest(coalesce((b.statistics #>> '{tail,p99_response_time_ms,far_phi}')::double precision, 1), 1) AS far_phi) AS bp
         CROSS JOIN LATERAL (
                SELECT 'error_rate', d.design, bp.err, d.p1, bp.err_phi, 0.0::double precision,
                       NULL::integer, NULL::double precision
                  FROM (VALUES ('warning', greatest(er.warning_threshold / 100.0, 1.5 * bp.err)),
                               ('critical', greatest(er.critical_threshold / 100.0, 3.0 * bp.err))) AS d (design, p1)
                UNION ALL
                -- hit rates: phi grows with the minute's lookups, 1 + n tau^2 / (p (1 - p))
                SELECT 'hit_rate', d.design, 1 - bp.hit, 1 - bp.hit * (1 - d.threshold / 100.0), 1,
                       bp.tau2 / greatest(bp.hit * (1 - bp.hit), 1e-6), NULL, NULL
                  FROM (VALUES ('warning', hr.warning_threshold), ('critical', hr.critical_threshold)) AS d (design, threshold)
                UNION ALL
                -- latency: the requests above the quantile line, p1 what that share becomes
                -- when every request is that much slower
                SELECT q.metric, d.design, (bp.tail -> q.metric ->> d.p0_key)::double precision,
                       (bp.tail -> q.metric ->> d.p1_key)::double precision,
                       greatest(coalesce((bp.tail -> q.metric ->> 'phi')::double precision, 1), 1), 0,
                       q.i, cachemon._baseline_pooled_at(b, q.metric, hh.at)
                  FROM (VALUES ('p50_response_time_ms', 1), ('p95_response_time_ms', 2),
                               ('p99_response_time_ms', 3)) AS q (metric, i)
                 CROSS JOIN (VALUES ('warning', 'above', 'above_warning'),
                                    ('critical', 'above', 'above_critical')) AS d (design, p0_key, p1_key)
                UNION ALL
                -- stalls: the requests above twice the p99 line, p1 what that share becomes
                -- when just enough requests stall there for p99 to reach the warning threshold
                -- (1% of them, less those already beyond the threshold line)
                SELECT 'p99_response_time_ms', 'stall', bp.far,
                       bp.far + greatest(0.01 - bp.beyond_warning, 0), bp.far_phi, 0,
                       4, 2 * cachemon._baseline_pooled_at(b, 'p99_response_time_ms', hh.at)
                ) AS x (metric, design, p0, p1, phi, phi_n, li, line)
    ), lines AS (
        -- the latency lines of an implementation and hour: the baseline's p50 / p95 / p99
        -- of that hour (li 1-3, each shared by the 'warning' and 'critical' designs)
        SELECT p.implementation_type, p.hour, array_agg(p.line_key ORDER BY p.li) AS lk
          FROM (SELECT DISTINCT p0.implementation_type, p0.hour, p0.li, p0.line_key
                  FROM par AS p0 WHERE p0.li IS NOT NULL) AS p
         GROUP BY p.implementation_type, p.hour
    ), cnt AS MATERIALIZED (
        -- every minute with its timed requests above each line, in one pass over its sketch
        SELECT m.*,
               (SELECT ARRAY[sum(s.c) FILTER (WHERE s.k > l.lk[1]), sum(s.c) FILTER (WHERE s.k > l.lk[2]),
                             sum(s.c) FILTER (WHERE s.k > l.lk[3]), sum(s.c) FILTER (WHERE s.k > l.lk[4])]
                  FROM unnest((m.latency_sketch).keys, (m.latency_sketch).counts) AS s (k, c)
                 WHERE m.latency_sketch IS NOT NULL AND m.lc > 0) AS above
          FROM m LEFT JOIN lines AS l ON l.implementation_type = m.implementation_type AND l.hour = m.hour
    ), obs AS MATERIALIZED (
        -- one row per minute, metric and design: c of n, the baseline rate p0 and the
        -- alternative p1
        SELECT m.implementation_type, m.bucket, p.metric, p.design,
               CASE p.metric WHEN 'error_rate' THEN m.errors
                             WHEN 'hit_rate' THEN m.lookups - m.hits
                             ELSE coalesce(m.above[p.li], 0)::double precision END AS c,
               CASE p.metric WHEN 'error_rate' THEN m.ops WHEN 'hit_rate' THEN m.lookups ELSE m.lc END AS n,
               p.p0, p.p1,
               p.phi + CASE p.metric WHEN 'hit_rate' THEN m.lookups * p.phi_n ELSE 0 END AS phi
          FROM cnt AS m JOIN par AS p ON p.implementation_type = m.implementation_type AND p.hour = m.hour
         WHERE p.metric IN ('error_rate', 'hit_rate') OR (m.above IS NOT NULL AND p.line_key IS NOT NULL)
    ), llr AS (
        SELECT o.implementation_type, o.metric, o.bucket, o.c, o.n, o.p0, o.phi, o.design,
               least((o.c * ln(o.p1 / o.p0) + (o.n - o.c) * ln((1 - o.p1) / (1 - o.p0))) / o.phi,
                     0.6 * cfg.h) AS x
          FROM obs AS o CROSS JOIN cfg
         WHERE o.p0 > 0 AND o.p0 < 1 AND o.p1 > o.p0 AND o.p1 < 1 AND o.n > 0
    ), run AS (
        SELECT l.*, sum(l.x) OVER w AS w_sum
          FROM llr AS l
        WINDOW w AS (PARTITION BY l.implementation_type, l.metric, l.design ORDER BY l.bucket
                     ROWS UNBOUNDED PRECEDING)
    ), span AS (
        -- the lowest running sum of the lookback and the last minute it is reached at (W_0 = 0
        -- before the first minute: when every W_j >= 0 the segment is the whole lookback);
        -- the segment is the minutes after it
        SELECT r.*, r.w_min >= 0 OR r.bucket > r.at_min AS in_seg
          FROM (SELECT r1.*, max(CASE WHEN r1.w_sum = r1.w_min THEN r1.bucket END) OVER p AS at_min
                  FROM (SELECT r0.*, min(r0.w_sum) OVER p0 AS w_min
                          FROM run AS r0
                        WINDOW p0 AS (PARTITION BY r0.implementation_type, r0.metric, r0.design)) AS r1
                WINDOW p AS (PARTITION BY r1.implementation_type, r1.metric, r1.design)) AS r
    ), ranked AS (
        -- the segment's minutes by their excess over the baseline's rate: rank 1 is the worst,
        -- which the segment's value leaves out as the windows do (one stalled minute never
        -- sizes a breach); for errors, rare counts where dropping the largest minute would
        -- bias a short segment down, that minute's operations stay at the rate of the second
        -- worst (winsorized)
        SELECT r.*,
               row_number() OVER (PARTITION BY r.implementation_type, r.metric, r.design
                                  ORDER BY r.in_seg DESC, r.c - r.n * r.p0 DESC, r.bucket) AS rk
          FROM span AS r
    ), seg AS (
        SELECT r.implementation_type, r.metric, r.design,
               max(r.bucket) FILTER (WHERE r.in_seg AND r.rk = 1) AS worst,
               (array_agg(r.w_sum ORDER BY r.bucket DESC))[1] - least(min(r.w_min), 0) AS s,
               min(r.bucket) FILTER (WHERE r.in_seg) AS seg_start,
               coalesce(sum(r.n) FILTER (WHERE r.in_seg AND r.rk > 1), 0)
                   + CASE WHEN r.metric = 'error_rate'
                          THEN coalesce(sum(r.n) FILTER (WHERE r.in_seg AND r.rk = 1), 0) ELSE 0 END AS n,
               coalesce(sum(r.c) FILTER (WHERE r.in_seg AND r.rk > 1), 0)
                   + CASE WHEN r.metric = 'error_rate'
                          THEN coalesce(sum(r.n) FILTER (WHERE r.in_seg AND r.rk = 1)
                                        * sum(r.c) FILTER (WHERE r.in_seg AND r.rk = 2)
                                        / NULLIF(sum(r.n) FILTER (WHERE r.in_seg AND r.rk = 2), 0), 0)
                          ELSE 0 END AS c,
               coalesce(sum(r.n * r.p0) FILTER (WHERE r.in_seg AND (r.rk > 1 OR r.metric = 'error_rate')), 0)
                   AS expected,
               max(r.phi) FILTER (WHERE r.in_seg) AS phi,
               max(r.x) FILTER (WHERE r.in_seg) AS worst_x,
               coalesce(sum(r.x) FILTER (WHERE r.bucket >= c.t_end - c.recent_window), 0) AS recent,
               -- the reverse CUSUM of the current excursion: the drawdown of W from its
               -- highest point in the segment (0 when the segment is empty)
               coalesce(max(r.w_sum) FILTER (WHERE r.in_seg), 0)
                   - coalesce((array_agg(r.w_sum ORDER BY r.bucket DESC) FILTER (WHERE r.in_seg))[1], 0)
                   AS recovery
          FROM ranked AS r CROSS JOIN cfg AS c
         GROUP BY r.implementation_type, r.metric, r.design
    ), best AS (
        -- per metric the design with the larger statistic (the critical one on a tie);
        -- recovery is the largest of the designs still in an excursion, and 0 while any
        -- design's last auditor.window adds evidence against the baseline (at hit rate
        -- -12% the critical design's -20% recovers while the warning design's -10% grows)
        SELECT DISTINCT ON (s.implementation_type, s.metric) s.*,
               CASE WHEN max(s.recent) OVER w <= 0
                    THEN coalesce(max(s.recovery) FILTER (WHERE s.s > 0) OVER w, 0)
                    ELSE 0 END AS recovery_all,
               CASE s.metric WHEN 'p50_response_time_ms' THEN 0.5
                             WHEN 'p95_response_time_ms' THEN 0.95 ELSE 0.99 END AS q
          FROM seg AS s
        WINDOW w AS (PARTITION BY s.implementation_type, s.metric)
         ORDER BY s.implementation_type, s.metric, s.s DESC, s.design
    )
    SELECT bs.implementation_type, bs.metric, bs.design, bs.s,
           greatest(cfg.h, cfg.h / 2 + greatest(coalesce(bs.worst_x, 0), 0)), bs.seg_start,
           CASE WHEN bs.seg_start IS NULL THEN 0
                ELSE (extract(epoch FROM cfg.t_end - bs.seg_start) / 60)::integer END,
           coalesce(bs.n, 0), coalesce(bs.c, 0), coalesce(bs.expected, 0),
           CASE bs.metric
                WHEN 'error_rate' THEN 100.0 * bs.c / NULLIF(bs.n, 0)
                WHEN 'hit_rate' THEN 100.0 * (bs.n - bs.c) / NULLIF(bs.n, 0)
                -- a quantile of the segment's merged sketch (without its worst minute) only
                -- when it can matter (an alarm)
                ELSE (SELECT cachemon.sketch_quantile(cachemon.sketch_merge(m.latency_sketch), bs.q)
                        FROM m WHERE bs.s >= greatest(cfg.h, cfg.h / 2 + greatest(coalesce(bs.worst_x, 0), 0)) AND m.implementation_type = bs.implementation_type
                         AND m.bucket >= bs.seg_start AND m.bucket <> bs.worst)
           END,
           (SELECT CASE bs.metric WHEN 'error_rate'
                        THEN coalesce(cachemon._baseline_pooled_at(b, 'error_rate', cfg.t_end),
                                      (b.statistics -> 'pooled' ->> 'error_rate')::double precision)
                        ELSE cachemon._baseline_pooled_at(b, bs.metric, cfg.t_end) END
              FROM cachemon.cache_baseline_metrics AS b
             WHERE b.implementation_type = bs.implementation_type AND b.is_active),
           bs.recent, bs.recovery_all
      FROM best AS bs CROSS JOIN cfg;
END
$function$;

COMMENT ON FUNCTION cachemon._cusum_compute(timestamptz) IS
    'Internal: the computation behind cachemon._cusum (the auditor''s sequential test, served from run_auditor''s per-run cache when it can). Per implementation and metric (error_rate, hit_rate, p50/p95/p99_response_time_ms) the one-sided CUSUM of per-minute log-likelihood ratios (threshold breached vs baseline, quasi-likelihood, each minute capped at 0.6 h; designs warning and critical, and for p99 also stall: requests beyond twice the p99 line) over the last auditor.cusum_minutes (from the first minute that begins at or after the implementation''s last resolved finding, when later: the test restarts after an incident), with the segment that carries it, the level it must reach (greatest(h, h/2 + its strongest minute)) and the reverse CUSUM (recovery). A rule breaches on it when statistic >= threshold, recent > 0 and the segment''s value is beyond the rule''s threshold.';

REVOKE ALL ON FUNCTION cachemon._cusum_compute(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._cusum_compute(timestamptz) TO cachemon_reader, cachemon_admin;

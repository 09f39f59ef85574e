CREATE OR REPLACE FUNCTION cachemon._migration_verdict(
    p_candidate text,
    p_reference text,
    p_window interval,
    p_now timestamptz
)
RETURNS TABLE (
    o_candidate text,
    o_reference text,
    o_window_start timestamptz,
    o_window_end timestamptz,
    o_verdict text,
    o_score numeric,
    o_evidence text,
    o_metrics jsonb
)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_end        timestamptz;
    v_start      timestamptz;
    v_min_n      double precision;
    v_conf       double precision;
    v_pass       double precision;
    v_marginal   double precision;
    v_z          double precision;
    v_metrics    jsonb;
    v_judged     integer;
    v_passed     integer;
    v_worse      text;
    v_better     text;
    v_err_worse  boolean;
BEGIN
    /*
     * The body of cachemon.migration_verdict (which is LANGUAGE sql only because PL/pgSQL
     * cannot name a parameter and a result column alike, as the contract does).
     *
     * Both implementations over the same whole, fully rolled-up minutes of
     * [p_now - p_window, p_now) (minutes still queued in _dirty_buckets are left out), so
     * time of day and traffic mix affect both alike. Per metric, the effect of the candidate
     * against the reference with a two-sided confidence interval (setting verdict.confidence):
     *
     * - hit_rate: relative difference of the pooled rates, percent (tolerance 10, the seed's
     *   hit-rate threshold). error_rate: difference in percentage points (tolerance 0.5).
     *   Their variances are cluster-robust over minutes (sum of n_i^2 (p_i - p)^2 / N^2,
     *   k/(k-1)), which carries any overdispersion (drift, bursts) without a model, floored
     *   at the binomial variance with a half event added (so 0 errors is not certainty).
     * - p50/p95/p99: relative difference of the quantiles of the merged sketches, percent
     *   (tolerance 25, the seed's latency threshold). Each side's interval is the
     *   distribution-free order-statistic interval (ranks N q +- z sqrt(N q (1-q)), read
     *   from the same sketch), combined on the log scale.
     * - avg_response_time_ms: relative difference of the means, percent (tolerance 25),
     *   cluster-robust variance of the minute means weighted by requests.
     *
     * A metric is judged when each side has verdict.min_requests requests (lookups,
     * operations, timed requests; for a quantile q also N (1 - q) >= 10). Classification:
     * worse (better) when the effect is beyond the tolerance in the bad (good) direction and
     * the interval excludes no change; equal otherwise; no_data when not judged.
     * score = 100 x (judged metrics equal or better) / judged metrics. Verdict:
     * not_enough_data with fewer than 3 judged metrics or no judged error rate; not_ready
     * when error_rate is worse (a critical metric, as Kayenta's) or score <
     * verdict.marginal_score; ready from verdict.pass_score; marginal between.
     */
    IF p_candidate IS NULL OR p_reference IS NULL OR p_candidate = p_reference
       OR pg_catalog.length(p_candidate) > 64 OR pg_catalog.length(p_reference) > 64 THEN
        RAISE EXCEPTION 'migration_verdict: candidate and reference must be two different implementation types of 1..64 characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_window IS NULL OR p_window < interval '1 minute' OR p_window > interval '31 days' THEN
        RAISE EXCEPTION 'migration_verdict: time_window must be between 1 minute and 31 days, got %',
            coalesce(p_window::text, 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Finite, at most a day ahead of the clock and not before the 1-minute rows it reads
    -- can exist (retention.1min): the rule every function taking p_now follows.
    PERFORM cachemon._check_now(p_now,
        pg_catalog.now() - cachemon._setting('retention.1min')::interval);

    v_end := pg_catalog.date_trunc('minute', p_now, 'UTC');
    v_start := v_end - pg_catalog.date_trunc('minute', p_window);
    v_min_n := cachemon._setting('verdict.min_requests')::double precision;
    v_conf := least(greatest(cachemon._setting('verdict.confidence')::double precision, 0.5), 0.999);
    v_pass := cachemon._setting('verdict.pass_score')::double precision;
    v_marginal := cachemon._setting('verdict.marginal_score')::double precision;
    -- two-sided normal quantile for v_conf (Acklam-free: a rational approximation of
    -- Abramowitz-Stegun 26.2.23, error < 4.5e-4)
    v_z := (SELECT t - (2.515517 + 0.802853 * t + 0.010328 * t * t)
                       / (1 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t)
              FROM (SELECT sqrt(-2 * ln((1 - v_conf) / 2)) AS t) AS a);

    WITH m AS (
        SELECT r.implementation_type AS impl, r.bucket,
               (r.hits)::double precision AS hits, (r.hits + r.misses)::double precision AS lk,
               (r.errors)::double precision AS errs,
               (r.hits + r.misses + r.sets + r.errors)::double precision AS ops,
               (r.latency_count)::double precision AS lc, r.latency_sum AS ls, r.latency_sketch
          FROM cachemon.cache_metrics_1min AS r
         WHERE r.implementation_type IN (p_candidate, p_reference)
           AND r.bucket >= v_start AND r.bucket < v_end
           AND NOT EXISTS (SELECT 1 FROM cachemon._queued_buckets(v_start, v_end) AS d
                            WHERE d.bucket = r.bucket AND d.implementation_type = r.implementation_type)
    ), side AS (
        SELECT m.impl, count(*) AS k, sum(m.hits) AS hits, sum(m.lk) AS lk, sum(m.errs) AS errs,
               sum(m.ops) AS ops, sum(m.lc) AS lc, sum(m.ls) AS ls,
               cachemon.sketch_merge(m.latency_sketch) AS sk
          FROM m GROUP BY m.impl
    ), var AS (
        SELECT s.impl, s.k, s.hits, s.lk, s.errs, s.ops, s.lc, s.sk,
               s.hits / NULLIF(s.lk, 0) AS p_hit,
               s.errs / NULLIF(s.ops, 0) AS p_err,
               s.ls / NULLIF(s.lc, 0) AS mean_ms,
               greatest(
                   sum(power(m.lk, 2) * power(m.hits / NULLIF(m.lk, 0) - s.hits / NULLIF(s.lk, 0), 2))
                       / NULLIF(power(s.lk, 2), 0) * s.k / NULLIF(s.k - 1, 0),
                   ((s.hits + 0.5) / (s.lk + 1)) * (1 - (s.hits + 0.5) / (s.lk + 1)) / NULLIF(s.lk, 0)) AS v_hit,
               greatest(
                   sum(power(m.ops, 2) * power(m.errs / NULLIF(m.ops, 0) - s.errs / NULLIF(s.ops, 0), 2))
                       / NULLIF(power(s.ops, 2), 0) * s.k / NULLIF(s.k - 1, 0),
                   ((s.errs + 0.5) / (s.ops + 1)) * (1 - (s.errs + 0.5) / (s.ops + 1)) / NULLIF(s.ops, 0)) AS v_err,
               sum(power(m.lc, 2) * power(m.ls / NULLIF(m.lc, 0) - s.ls / NULLIF(s.lc, 0), 2))
                   / NULLIF(power(s.lc, 2), 0) * s.k / NULLIF(s.k - 1, 0) AS v_mean
          FROM side AS s JOIN m ON m.impl = s.impl
         GROUP BY s.impl, s.k, s.hits, s.lk, s.errs, s.ops, s.lc, s.ls, s.sk
    ), q AS (
        SELECT v.impl, x.qq,
               (cachemon.sketch_quantiles(v.sk, ARRAY[x.qq,
                    greatest(x.qq - v_z * sqrt(x.qq * (1 - x.qq) / NULLIF(v.lc, 0)), 0),
                    least(x.qq + v_z * sqrt(x.qq * (1 - x.qq) / NULLIF(v.lc, 0)), 1)])) AS vals
          FROM var AS v CROSS JOIN (VALUES (0.5::double precision), (0.95), (0.99)) AS x (qq)
    ), c AS (SELECT * FROM var WHERE impl = p_candidate),
       r AS (SELECT * FROM var WHERE impl = p_reference),
    rows AS (
        SELECT 1 AS ord, 'hit_rate' AS metric, '%' AS unit, 10.0::double precision AS tol, -1 AS bad_sign,
               100 * c.p_hit AS cv, 100 * r.p_hit AS rv, c.lk AS cn, r.lk AS rn,
               c.lk >= v_min_n AND r.lk >= v_min_n AND r.p_hit > 0 AS judged,
               100 * (c.p_hit / NULLIF(r.p_hit, 0) - 1) AS effect,
               ln(greatest(c.p_hit, 1e-12) / NULLIF(greatest(r.p_hit, 1e-12), 0)) AS l,
               sqrt(c.v_hit / power(greatest(c.p_hit, 1e-9), 2) + r.v_hit / power(greatest(r.p_hit, 1e-9), 2)) AS se,
               true AS log_scale,
               'relative difference of pooled hit rates, percent' AS note
          FROM c, r
        UNION ALL
        SELECT 2, 'error_rate', 'points', 0.5, 1,
               100 * c.p_err, 100 * r.p_err, c.ops, r.ops,
               c.ops >= v_min_n AND r.ops >= v_min_n,
               100 * (c.p_err - r.p_err), 100 * (c.p_err - r.p_err),
               100 * sqrt(c.v_err + r.v_err), false,
               'difference of error rates, percentage points'
          FROM c, r
        UNION ALL
        SELECT 2 + row_number() OVER (ORDER BY qc.qq)::integer,
               pg_catalog.format('p%s_response_time_ms', (qc.qq * 100)::integer), '%', 25.0, 1,
               qc.vals[1], qr.vals[1], c.lc, r.lc,
               c.lc >= v_min_n AND r.lc >= v_min_n AND c.lc * (1 - qc.qq) >= 10
                   AND r.lc * (1 - qr.qq) >= 10 AND qr.vals[1] > 0 AND qc.vals[1] IS NOT NULL,
               100 * (qc.vals[1] / NULLIF(qr.vals[1], 0) - 1),
               ln(greatest(qc.vals[1], 1e-6) / greatest(qr.vals[1], 1e-6)),
               sqrt(power((ln(greatest(qc.vals[3], 1e-6)) - ln(greatest(qc.vals[2], 1e-6))) / (2 * v_z), 2)
                    + power((ln(greatest(qr.vals[3], 1e-6)) - ln(greatest(qr.vals[2], 1e-6))) / (2 * v_z), 2)),
               true,
               'relative difference of the quantiles of the merged sketches, percent'
          FROM c, r
          JOIN q AS qr ON qr.impl = p_reference
          JOIN q AS qc ON qc.impl = p_candidate AND qc.qq = qr.qq
        UNION ALL
        SELECT 6, 'avg_response_time_ms', '%', 25.0, 1,
               c.mean_ms, r.mean_ms, c.lc, r.lc,
               c.lc >= v_min_n AND r.lc >= v_min_n AND r.mean_ms > 0,
               100 * (c.mean_ms / NULLIF(r.mean_ms, 0) - 1),
               ln(greatest(c.mean_ms, 1e-6) / greatest(r.mean_ms, 1e-6)),
               sqrt(coalesce(c.v_mean, 0) / power(greatest(c.mean_ms, 1e-6), 2)
                    + coalesce(r.v_mean, 0) / power(greatest(r.mean_ms, 1e-6), 2)),
               true,
               'relative difference of mean response times, percent'
          FROM c, r
    ), allm AS (
        SELECT x.ord, x.metric FROM (VALUES (1, 'hit_rate'), (2, 'error_rate'),
            (3, 'p50_response_time_ms'), (4, 'p95_response_time_ms'),
            (5, 'p99_response_time_ms'), (6, 'avg_response_time_ms')) AS x (ord, metric)
    ), ci AS (
        SELECT a.ord, a.metric, w.unit, w.tol, w.bad_sign, w.cv, w.rv, w.cn, w.rn, w.judged,
               w.effect, w.l, w.se, w.log_scale, w.note,
               CASE WHEN w.log_scale THEN 100 * (exp(w.l - v_z * w.se) - 1) ELSE w.l - v_z * w.se END AS lo,
               CASE WHEN w.log_scale THEN 100 * (exp(w.l + v_z * w.se) - 1) ELSE w.l + v_z * w.se END AS hi
          FROM allm AS a LEFT JOIN rows AS w ON w.metric = a.metric
    ), cls AS (
        SELECT ci.*,
               CASE WHEN NOT coalesce(ci.judged, false) OR ci.effect IS NULL THEN 'no_data'
                    WHEN ci.bad_sign * ci.effect > ci.tol AND (ci.lo > 0 OR ci.hi < 0) THEN 'worse'
                    WHEN -ci.bad_sign * ci.effect > ci.tol AND (ci.lo > 0 OR ci.hi < 0) THEN 'better'
                    ELSE 'equal' END AS classification
          FROM ci
    )
    SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
               'metric', cls.metric, 'classification', cls.classification,
               'candidate_value', round(cls.cv::numeric, 4), 'reference_value', round(cls.rv::numeric, 4),
               'effect', round(cls.effect::numeric, 3),
               'ci_low', round(cls.lo::numeric, 3), 'ci_high', round(cls.hi::numeric, 3),
               'tolerance', cls.tol, 'unit', coalesce(cls.unit, CASE WHEN cls.metric = 'error_rate' THEN 'points' ELSE '%' END),
               'candidate_n', coalesce(cls.cn, 0)::bigint, 'reference_n', coalesce(cls.rn, 0)::bigint,
               'note', coalesce(cls.note, 'no rows for one of the implementations in the window'))
               ORDER BY cls.ord),
           count(*) FILTER (WHERE cls.classification <> 'no_data'),
           count(*) FILTER (WHERE cls.classification IN ('equal', 'better')),
           pg_catalog.string_agg(pg_catalog.format('%s %s%s (%s CI %s..%s, tolerance %s)',
               cls.metric, CASE WHEN cls.effect >= 0 THEN '+' ELSE '' END,
               cachemon._fmt(cls.effect, 2) || CASE WHEN cls.metric = 'error_rate' THEN ' points' ELSE '%' END,
               round(100 * v_conf)::text || '%', cachemon._fmt(cls.lo, 2), cachemon._fmt(cls.hi, 2),
               cachemon._fmt(cls.tol, 1)), '; ' ORDER BY cls.ord)
               FILTER (WHERE cls.classification = 'worse'),
           pg_catalog.string_agg(cls.metric, ', ' ORDER BY cls.ord) FILTER (WHERE cls.classification = 'better'),
           bool_or(cls.metric = 'error_rate' AND cls.classification = 'worse'),
           bool_or(cls.metric = 'error_rate' AND cls.classification <> 'no_data')
      INTO v_metrics, v_judged, v_passed, v_worse, v_better, v_err_worse, v_err_worse
      FROM cls;
    -- (v_err_worse is assigned twice above: re-read both flags explicitly)
    SELECT bool_or(e ->> 'classification' = 'worse') INTO v_err_worse
      FROM pg_catalog.jsonb_array_elements(v_metrics) AS e WHERE e ->> 'metric' = 'error_rate';

    o_candidate := p_candidate;
    o_reference := p_reference;
    o_window_start := v_start;
    o_window_end := v_end;
    o_metrics := v_metrics;
    IF v_judged < 3 OR NOT EXISTS (
           SELECT 1 FROM pg_catalog.jsonb_array_elements(v_metrics) AS e
            WHERE e ->> 'metric' = 'error_rate' AND e ->> 'classification' <> 'no_data') THEN
        o_verdict := 'not_enough_data';
        o_score := CASE WHEN v_judged > 0 THEN round(100.0 * v_passed / v_judged, 1) END;
        o_evidence := pg_catalog.format(
            'Not enough traffic to judge %s against %s over %s to %s: %s of 6 metrics had at least %s requests on each side (and the error rate must be one of them).',
            p_candidate, p_reference,
            pg_catalog.to_char(v_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'),
            pg_catalog.to_char(v_end AT TIME ZONE 'UTC', 'HH24:MI "UTC"'), v_judged, v_min_n);
    ELSE
        o_score := round(100.0 * v_passed / v_judged, 1);
        o_verdict := CASE WHEN coalesce(v_err_worse, false) THEN 'not_ready'
                          WHEN o_score >= v_pass THEN 'ready'
                          WHEN o_score >= v_marginal THEN 'marginal'
                          ELSE 'not_ready' END;
        o_evidence := CASE
            WHEN v_worse IS NULL THEN pg_catalog.format(
                '%s is %s: %s of %s judged metrics are equal to or better than %s over %s minutes%s (score %s).',
                p_candidate, replace(o_verdict, '_', ' '), v_passed, v_judged, p_reference,
                (extract(epoch FROM v_end - v_start) / 60)::integer,
                coalesce(', better: ' || v_better, ''), o_score)
            ELSE pg_catalog.format(
                '%s is %s against %s over %s minutes (score %s, %s of %s judged metrics pass): worse %s.',
                p_candidate, replace(o_verdict, '_', ' '), p_reference,
                (extract(epoch FROM v_end - v_start) / 60)::integer, o_score, v_passed, v_judged,
                v_worse) END;
    END IF;
    RETURN NEXT;
END
$function$;

COMMENT ON FUNCTION cachemon._migration_verdict(text, text, interval, timestamptz) IS
    'Internal: the body of cachemon.migration_verdict (per-metric effects with confidence intervals, classification, score and verdict).';

REVOKE ALL ON FUNCTION cachemon._migration_verdict(text, text, interval, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._migration_verdict(text, text, interval, timestamptz)
    TO cachemon_reader, cachemon_admin;

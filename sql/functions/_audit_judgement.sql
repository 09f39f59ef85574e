CREATE OR REPLACE FUNCTION cachemon._audit_judgement(
    p_now timestamptz, p_window interval, p_stats cachemon._window_stat[],
    p_cusum cachemon._cusum_stat[])
RETURNS TABLE (group_state text, suppressed jsonb, finding cachemon._finding)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_window_end  timestamptz := pg_catalog.date_trunc('minute', p_now, 'UTC');
    v_base_k      integer := (extract(epoch FROM p_window) / 60)::integer;
    v_fn          record;
    v_rows        cachemon._finding[];
    v_all         cachemon._finding[] := '{}';
BEGIN
    /*
     * The auditor's judgement at p_now, without side effects: every enabled rule over the
     * window statistics p_stats (cachemon._window_stats of each window length of
     * cachemon._auditor_windows(p_window) and of p_window itself, all ending at p_now's
     * minute) and the sequential test p_cusum (cachemon._cusum_compute(p_now)), combined into
     * one row per implementation and rule: group_state ('breach', 'clear' or 'hold'), the
     * breaches of lesser metrics it hides (suppressed), and the finding that speaks for it.
     * run_auditor computes the statistics once, calls this, and keeps the findings
     * (streaks, open, escalate, resolve).
     *
     * - Rules are found in the catalog, not in a list: every function
     *   cachemon._rule_<rule>(timestamptz, interval, cachemon._window_stat[],
     *   cachemon._cusum_stat[]) RETURNS SETOF cachemon._finding whose row in
     *   cachemon._auditor_rules is enabled. A rule function without a row is skipped with a
     *   WARNING.
     * - Rules return one row per window and metric (details.window_minutes, details.enough).
     *   Per metric, the window deciding "clear" is p_window (else the shortest longer window
     *   with enough traffic); a breach in any window counts, except a breach in a longer
     *   window while the deciding window is clear (that is the past, not now). While the
     *   rule has a live finding for that implementation and the sequential test's reverse
     *   CUSUM for the metric (details.recovery) has reached auditor.cusum_h / 2 (or its
     *   statistic is 0), a deciding window longer than p_window is clear.
     * - A breach in a window longer than p_window counts only when the window begins at or
     *   after the implementation's last resolution (cachemon._last_resolution).
     * - Per (implementation, rule) the rows are combined: 'breach' if any metric breaches,
     *   'clear' if all judged metrics are clear, else 'hold'. The most severe breach row
     *   speaks for the finding; lesser breaching metrics of the same rule are listed in
     *   suppressed.
     */
    FOR v_fn IN
        SELECT p.proname::text AS proname, substr(p.proname, 7) AS rule, r.enabled
          FROM pg_catalog.pg_proc AS p
          LEFT JOIN cachemon._auditor_rules AS r ON r.rule = substr(p.proname, 7)
         WHERE p.pronamespace = 'cachemon'::regnamespace
           AND p.proname LIKE '\_rule\_%'
           AND p.prorettype = 'cachemon._finding'::regtype
           AND p.pronargs = 4
           AND p.proargtypes[0] = 'timestamptz'::regtype
           AND p.proargtypes[1] = 'interval'::regtype
           AND p.proargtypes[2] = 'cachemon._window_stat[]'::regtype
           AND p.proargtypes[3] = 'cachemon._cusum_stat[]'::regtype
         ORDER BY p.proname
    LOOP
        IF v_fn.enabled IS NULL THEN
            RAISE WARNING 'run_auditor: rule function cachemon.%(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) has no row in cachemon._auditor_rules; skipped',
                v_fn.proname;
            CONTINUE;
        END IF;
        CONTINUE WHEN NOT v_fn.enabled;
        EXECUTE pg_catalog.format('SELECT pg_catalog.array_agg(f) FROM %I.%I($1, $2, $3, $4) AS f',
                                  'cachemon', v_fn.proname)
           INTO v_rows USING p_now, p_window, p_stats, p_cusum;
        v_all := v_all || coalesce(v_rows, '{}');
    END LOOP;


    RETURN QUERY
        WITH f0 AS (
            SELECT u.*,
                   coalesce((u.details ->> 'window_minutes')::integer, v_base_k) AS k,
                   coalesce((u.details ->> 'enough')::boolean, u.state <> 'hold') AS enough
              FROM unnest(v_all) AS u
             WHERE u.implementation_type IS NOT NULL
        ), calm AS (
            -- Per (implementation, rule, metric) with a live finding of that rule: the
            -- sequential test's reverse CUSUM (details.recovery, the evidence for "as in the
            -- baseline" since its peak) has reached auditor.cusum_h / 2, or the statistic is
            -- back at 0. A window longer than auditor.window (the deciding window of a quiet
            -- hour: p99 at night needs 60 minutes) still holds the incident's minutes for up
            -- to an hour after it ended; once the minutes since favour the baseline that
            -- strongly, its breach is the past, and the metric is clear.
            SELECT f0.implementation_type, f0.rule, f0.metric
              FROM f0
             WHERE f0.details ->> 'test' = 'sequential'
               AND EXISTS (SELECT 1 FROM cachemon.cache_auditor_observations AS o
                            WHERE o.implementation_type = f0.implementation_type
                              AND o.rule = f0.rule AND o.resolved_at IS NULL)
             GROUP BY f0.implementation_type, f0.rule, f0.metric
            HAVING bool_and(coalesce((f0.details ->> 'cusum')::double precision, 1) = 0
                            OR coalesce((f0.details ->> 'recovery')::double precision, 0)
                               >= cachemon._setting('auditor.cusum_h')::double precision / 2)
        ), judge AS (
            -- Per (implementation, rule, metric) the window that decides "clear": auditor.window,
            -- else the shortest longer window with enough traffic; a longer one is clear
            -- while the sequential test is calm (above).
            SELECT DISTINCT ON (f0.implementation_type, f0.rule, f0.metric)
                   f0.implementation_type, f0.rule, f0.metric, f0.k AS judge_k,
                   CASE WHEN f0.k > v_base_k AND c.metric IS NOT NULL THEN 'clear'
                        ELSE f0.state END AS judge_state
              FROM f0
              LEFT JOIN calm AS c
                ON c.implementation_type = f0.implementation_type AND c.rule = f0.rule
               AND c.metric IS NOT DISTINCT FROM f0.metric
             WHERE f0.enough AND f0.k >= v_base_k
             ORDER BY f0.implementation_type, f0.rule, f0.metric, f0.k
        ), f1 AS (
            -- A breach in a window longer than the judging one counts only while the judging
            -- window is not clear (old evidence must not keep or reopen a finding).
            -- And a breach in any window longer than auditor.window (a long window, the judging
            -- window of a quiet implementation, the segment of the sequential test) counts only
            -- when it begins at or after the implementation's last resolution
            -- (cachemon._last_resolution, where the sequential test restarts too): those
            -- minutes were one incident, they must not open a second finding.
            SELECT f0.*, j.judge_k, j.judge_state,
                   f0.state = 'breach'
                   AND (j.judge_k IS NULL OR f0.k < j.judge_k
                        OR (f0.k = j.judge_k AND f0.k <= v_base_k) OR j.judge_state <> 'clear')
                   AND (f0.k <= v_base_k
                        OR v_window_end - pg_catalog.make_interval(mins => f0.k)
                           >= coalesce(lr.resolved_at, '-infinity')) AS counts
              FROM f0 LEFT JOIN judge AS j
                ON j.implementation_type = f0.implementation_type AND j.rule = f0.rule
               AND j.metric IS NOT DISTINCT FROM f0.metric
              LEFT JOIN cachemon._last_resolution(p_now) AS lr
                ON lr.implementation_type = f0.implementation_type
        ), ms AS (
            -- A metric is clear when its deciding window is, unless its sequential test is
            -- in 'hold' (the segment's value beyond the clear threshold, the statistic just
            -- below its level) while its excursion still grows (details.recent > 0): a
            -- 15-minute deciding window at night is mostly minutes from before the incident,
            -- and a threshold-level incident whose statistic dipped under its level for three
            -- minutes was resolved half-way (seed 2, hit rate -12% at 39 lookups a minute).
            SELECT f1.implementation_type, f1.rule, f1.metric,
                   CASE WHEN bool_or(f1.counts) THEN 'breach'
                        WHEN bool_and(f1.judge_state = 'clear')
                             AND NOT coalesce(bool_or(f1.details ->> 'test' = 'sequential'
                                                      AND f1.state = 'hold'
                                                      AND (f1.details ->> 'recent')::double precision > 0), false)
                        THEN 'clear'
                        ELSE 'hold' END AS mstate,
                   bool_or(f1.judge_state IS NOT NULL) AS has_judge
              FROM f1 GROUP BY f1.implementation_type, f1.rule, f1.metric
        ), f AS (
            SELECT f1.*, row_number() OVER (
                       PARTITION BY f1.implementation_type, f1.rule
                       ORDER BY f1.counts DESC, f1.severity = 'critical' DESC,
                                f1.severity = 'warning' DESC,
                                (f1.counts AND f1.details ->> 'test' IS NOT DISTINCT FROM 'sequential') DESC,
                                f1.k = coalesce(f1.judge_k, v_base_k) DESC,
                                abs(f1.score) DESC NULLS LAST, f1.k, f1.metric) AS rn
              FROM f1
        )
        SELECT CASE WHEN g.n_breach > 0 THEN 'breach' WHEN g.all_clear THEN 'clear' ELSE 'hold' END,
               sup.suppressed,
               ROW(top.implementation_type, top.rule, top.category, top.state, top.severity,
                   top.metric, top.observed_value, top.baseline_value, top.deviation_pct,
                   top.sample_size, top.score, top.message, top.recommendation,
                   top.details)::cachemon._finding
          FROM f AS top
          JOIN (SELECT ms.implementation_type, ms.rule,
                       count(*) FILTER (WHERE ms.mstate = 'breach') AS n_breach,
                       -- metrics that no window could judge (too little traffic for a p99,
                       -- no baseline value) neither hold nor clear the group
                       coalesce(bool_and(ms.mstate = 'clear') FILTER (WHERE ms.has_judge), false)
                           AS all_clear
                  FROM ms GROUP BY ms.implementation_type, ms.rule) AS g
            ON g.implementation_type = top.implementation_type AND g.rule = top.rule
          LEFT JOIN LATERAL (
                SELECT pg_catalog.jsonb_agg(DISTINCT pg_catalog.jsonb_build_object(
                           'metric', f.metric, 'severity', f.severity))
                           FILTER (WHERE f.counts AND f.rn > 1 AND f.metric IS DISTINCT FROM top.metric) AS suppressed
                  FROM f WHERE f.implementation_type = top.implementation_type AND f.rule = top.rule) AS sup
            ON true
         WHERE top.rn = 1
         ORDER BY top.implementation_type,
                  CASE WHEN g.n_breach > 0 THEN 0 ELSE 1 END,
                  top.severity = 'critical' DESC, top.severity = 'warning' DESC,
                  abs(top.score) DESC NULLS LAST, top.rule;
END
$function$;

COMMENT ON FUNCTION cachemon._audit_judgement(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) IS
    'Internal: the auditor''s judgement at p_now with no side effects: every enabled rule over the given window statistics (cachemon._window_stats per window) and sequential test (cachemon._cusum_compute), one row per implementation and rule with its state (breach, clear, hold), the suppressed lesser breaches and the finding that speaks for it. run_auditor keeps the findings.';

REVOKE ALL ON FUNCTION cachemon._audit_judgement(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._audit_judgement(timestamptz, interval, cachemon._window_stat[], cachemon._cusum_stat[]) TO cachemon_reader, cachemon_admin;

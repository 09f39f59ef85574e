CREATE OR REPLACE FUNCTION cachemon.run_auditor(p_now timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (
    evaluated integer,
    breaches integer,
    opened integer,
    updated integer,
    escalated integer,
    resolved integer,
    skipped text
)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_window      interval;
    v_window_end  timestamptz := pg_catalog.date_trunc('minute', p_now, 'UTC');
    v_open_after  integer;
    v_open_crit   integer;
    v_clear_after integer;
    v_fn          record;
    v_rows        cachemon._finding[];
    v_all         cachemon._finding[] := '{}';
    v_g           record;
    v_state       cachemon._audit_state;
    v_obs         cachemon.cache_auditor_observations;
    v_counts      boolean;
    v_breach_n    integer;
    v_clear_n     integer;
    v_since       timestamptz;
    v_severity    text;
    v_details     jsonb;
    v_base_k      integer;
    v_lead        cachemon.cache_auditor_observations;
    v_related     jsonb;
BEGIN
    /*
     * One evaluation of every enabled rule over the whole minutes of
     * [p_now - auditor.window, p_now), and the lifecycle of the findings:
     *
     * - Rules are found in the catalog, not in a list: every function
     *   cachemon._rule_<rule>(timestamptz, interval) RETURNS SETOF cachemon._finding whose
     *   row in cachemon._auditor_rules is enabled. A rule function without a row is skipped
     *   with a WARNING.
     * - Per (implementation, rule) the rows are combined: 'breach' if any row breaches,
     *   'clear' if all are clear, else 'hold'. The most severe breach row speaks for the
     *   finding; lesser rows of the same rule are suppressed and listed in
     *   details.suppressed (a critical p95 hides a warning on the average).
     * - _audit_state counts consecutive breached and clear evaluations. A second run for the
     *   same minute does not count again (tick may run more than once a minute).
     * - A finding opens when the breach streak reaches open_after (rule row or setting
     *   auditor.open_after), a critical one when it reaches auditor.open_after_critical
     *   (default 1) if that is smaller; there is at most one live (open or acknowledged) finding per
     *   (implementation, rule). A breach with a live finding updates it: last_seen_at,
     *   occurrences, values and message; severity only goes up (escalates in place), and an
     *   escalated acknowledged finding becomes open again (someone acknowledged a warning,
     *   not a critical). The finding resolves (resolved_by 'auditor') when the clear streak
     *   reaches clear_after; 'hold' (the hysteresis band, or too little traffic) breaks
     *   both streaks.
     *
     * Since revision 0007:
     * - Rules return one row per window and metric (details.window_minutes, details.enough).
     *   Per metric, the window deciding "clear" is auditor.window (else the shortest longer
     *   window with enough traffic); a breach in any window counts, except a breach in a
     *   longer window while the deciding window is clear (that is the past, not now). Since
     *   revision 0010, while the rule has a live finding for that implementation and the
     *   sequential test's reverse CUSUM for the metric (details.recovery) has reached
     *   auditor.cusum_h / 2 (or its statistic is 0), a deciding window longer than
     *   auditor.window is clear and its
     *   breach does not count: it still holds the incident's minutes (up to an hour for p99
     *   at night), and the finding would stay open that long and swallow the next incident.
     * - One incident, one finding: when a rule would open a finding while the implementation
     *   already has a live one (another rule) that breached within the last three
     *   auditor.window lengths, it opens nothing; it is listed in the live
     *   finding's details.related (and named in its message), and may raise its severity.
     *   The live finding resolves only when its own rule is clear and no related rule still
     *   breaches. An 'info' finding (a traffic surge) never leads a warning or critical one.
     * - Since revision 0009 the quality rules also return the sequential test's row
     *   (details.test = 'sequential', cachemon._cusum); it breaches only beyond the rule's
     *   threshold, its window is the minutes of its segment, and it opens like a critical
     *   breach (auditor.open_after_critical).
     * - A breach in a window longer than auditor.window that reaches back before the
     *   implementation's last resolution (cachemon._last_resolution, where the sequential
     *   test restarts too) does not count (no second finding for the minutes of an
     *   incident already closed; since 0009 also when that window is the deciding one of a
     *   quiet implementation, or the sequential test's segment).
     *
     * Runs from tick() every minute: it takes a try-lock and returns skipped when another
     * run holds it, and does nothing on a standby.
     */
    IF pg_catalog.pg_is_in_recovery() THEN
        RETURN QUERY SELECT 0, 0, 0, 0, 0, 0, 'database is in recovery (standby)'::text;
        RETURN;
    END IF;
    IF NOT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('cachemon.run_auditor')) THEN
        RETURN QUERY SELECT 0, 0, 0, 0, 0, 0, 'another run_auditor is running'::text;
        RETURN;
    END IF;
    -- Finite, at most a day ahead and at most retention.raw behind the clock (one rule).
    PERFORM cachemon._check_now(p_now);

    v_window := cachemon._setting('auditor.window')::interval;
    v_open_after := cachemon._setting('auditor.open_after')::integer;
    v_open_crit := coalesce(cachemon._setting('auditor.open_after_critical')::integer, v_open_after);
    v_clear_after := cachemon._setting('auditor.clear_after')::integer;
    IF v_window < interval '1 minute' OR v_window > interval '1 day' THEN
        RAISE EXCEPTION 'run_auditor: setting auditor.window must be between 1 minute and 1 day, got %', v_window
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_open_after < 1 OR v_clear_after < 1 OR v_open_crit < 1 THEN
        RAISE EXCEPTION 'run_auditor: settings auditor.open_after, auditor.open_after_critical and auditor.clear_after must be >= 1, got %, % and %',
            v_open_after, v_open_crit, v_clear_after USING ERRCODE = 'invalid_parameter_value';
    END IF;

    evaluated := 0; breaches := 0; opened := 0; updated := 0; escalated := 0; resolved := 0;

    -- Every window's statistics once per run (rules read them through _window_stats); the
    -- two temporary tables live for this call only.
    IF pg_catalog.to_regclass('pg_temp._cachemon_ws_keys') IS NULL THEN
        CREATE TEMPORARY TABLE _cachemon_ws_keys (
            p_from timestamptz, p_to timestamptz) ON COMMIT DROP;
    END IF;
    IF pg_catalog.to_regclass('pg_temp._cachemon_ws') IS NULL THEN
        CREATE TEMPORARY TABLE _cachemon_ws ON COMMIT DROP AS
            SELECT NULL::timestamptz AS p_from, NULL::timestamptz AS p_to, s.*
              FROM cachemon._window_stats_compute(NULL, NULL) AS s WITH NO DATA;
    END IF;
    TRUNCATE pg_temp._cachemon_ws_keys, pg_temp._cachemon_ws;
    INSERT INTO pg_temp._cachemon_ws
    SELECT v_window_end - pg_catalog.make_interval(mins => k.k), v_window_end, s.*
      FROM cachemon._auditor_windows(v_window) AS k (k)
     CROSS JOIN LATERAL cachemon._window_stats_compute(
         v_window_end - pg_catalog.make_interval(mins => k.k), v_window_end) AS s;
    INSERT INTO pg_temp._cachemon_ws_keys
    SELECT v_window_end - pg_catalog.make_interval(mins => k.k), v_window_end
      FROM cachemon._auditor_windows(v_window) AS k (k);

    -- The sequential test once per run too (three rules read it through cachemon._cusum).
    IF pg_catalog.to_regclass('pg_temp._cachemon_cusum_keys') IS NULL THEN
        CREATE TEMPORARY TABLE _cachemon_cusum_keys (p_now timestamptz) ON COMMIT DROP;
    END IF;
    IF pg_catalog.to_regclass('pg_temp._cachemon_cusum') IS NULL THEN
        CREATE TEMPORARY TABLE _cachemon_cusum ON COMMIT DROP AS
            SELECT NULL::timestamptz AS p_now, c.*
              FROM cachemon._cusum_compute(NULL) AS c WITH NO DATA;
    END IF;
    TRUNCATE pg_temp._cachemon_cusum_keys, pg_temp._cachemon_cusum;
    INSERT INTO pg_temp._cachemon_cusum SELECT p_now, c.* FROM cachemon._cusum_compute(p_now) AS c;
    INSERT INTO pg_temp._cachemon_cusum_keys VALUES (p_now);

    FOR v_fn IN
        SELECT p.proname::text AS proname, substr(p.proname, 7) AS rule, r.enabled
          FROM pg_catalog.pg_proc AS p
          LEFT JOIN cachemon._auditor_rules AS r ON r.rule = substr(p.proname, 7)
         WHERE p.pronamespace = 'cachemon'::regnamespace
           AND p.proname LIKE '\_rule\_%'
           AND p.prorettype = 'cachemon._finding'::regtype
           AND p.pronargs = 2
           AND p.proargtypes[0] = 'timestamptz'::regtype
           AND p.proargtypes[1] = 'interval'::regtype
         ORDER BY p.proname
    LOOP
        IF v_fn.enabled IS NULL THEN
            RAISE WARNING 'run_auditor: rule function cachemon.%(timestamptz, interval) has no row in cachemon._auditor_rules; skipped',
                v_fn.proname;
            CONTINUE;
        END IF;
        CONTINUE WHEN NOT v_fn.enabled;
        EXECUTE pg_catalog.format('SELECT pg_catalog.array_agg(f) FROM %I.%I($1, $2) AS f',
                                  'cachemon', v_fn.proname)
           INTO v_rows USING p_now, v_window;
        v_all := v_all || coalesce(v_rows, '{}');
    END LOOP;

    v_base_k := (extract(epoch FROM v_window) / 60)::integer;
    FOR v_g IN
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
        SELECT top.*,
               CASE WHEN g.n_breach > 0 THEN 'breach' WHEN g.all_clear THEN 'clear' ELSE 'hold' END
                   AS group_state,
               sup.suppressed
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
                  abs(top.score) DESC NULLS LAST, top.rule
    LOOP
        evaluated := evaluated + 1;
        IF v_g.group_state = 'breach' THEN
            breaches := breaches + 1;
        END IF;

        -- Streaks (persistence and hysteresis).
        SELECT s.* INTO v_state FROM cachemon._audit_state AS s
         WHERE s.implementation_type = v_g.implementation_type AND s.rule = v_g.rule
           FOR UPDATE;
        v_counts := v_state.rule IS NULL OR v_state.last_window_end <> v_window_end;
        IF NOT v_counts THEN
            v_breach_n := v_state.breach_streak;
            v_clear_n := v_state.clear_streak;
            v_since := v_state.breach_since;
        ELSIF v_g.group_state = 'breach' THEN
            v_breach_n := coalesce(v_state.breach_streak, 0) + 1;
            v_clear_n := 0;
            v_since := CASE WHEN v_state.breach_streak > 0 THEN v_state.breach_since ELSE p_now END;
        ELSIF v_g.group_state = 'clear' THEN
            v_breach_n := 0;
            v_clear_n := coalesce(v_state.clear_streak, 0) + 1;
            v_since := NULL;
        ELSE
            v_breach_n := 0;
            v_clear_n := 0;
            v_since := NULL;
        END IF;
        INSERT INTO cachemon._audit_state AS s
               (implementation_type, rule, last_window_end, last_state, breach_streak,
                clear_streak, breach_since, updated_at)
        VALUES (v_g.implementation_type, v_g.rule, v_window_end, v_g.group_state, v_breach_n,
                v_clear_n, v_since, p_now)
        ON CONFLICT (implementation_type, rule) DO UPDATE
           SET last_window_end = EXCLUDED.last_window_end, last_state = EXCLUDED.last_state,
               breach_streak = EXCLUDED.breach_streak, clear_streak = EXCLUDED.clear_streak,
               breach_since = EXCLUDED.breach_since, updated_at = EXCLUDED.updated_at;

        SELECT o.* INTO v_obs FROM cachemon.cache_auditor_observations AS o
         WHERE o.implementation_type = v_g.implementation_type AND o.rule = v_g.rule
           AND o.status <> 'resolved'
           FOR UPDATE;

        IF v_g.group_state = 'breach' THEN
            v_details := coalesce(v_g.details, '{}'::jsonb) || pg_catalog.jsonb_build_object(
                'state', v_g.state, 'sample_size', v_g.sample_size,
                'score', round(v_g.score::numeric, 3), 'window', v_window::text,
                'evaluated_at', p_now, 'suppressed', coalesce(v_g.suppressed, '[]'::jsonb));
            IF v_obs.id IS NOT NULL THEN
                v_severity := CASE WHEN 'critical' IN (v_obs.severity, v_g.severity) THEN 'critical'
                                   WHEN 'warning' IN (v_obs.severity, v_g.severity) THEN 'warning'
                                   ELSE 'info' END;
                UPDATE cachemon.cache_auditor_observations AS o
                   SET last_seen_at = greatest(o.last_seen_at, p_now),
                       occurrences = o.occurrences + CASE WHEN v_counts THEN 1 ELSE 0 END,
                       severity = v_severity,
                       metric = v_g.metric,
                       observed_value = v_g.observed_value,
                       baseline_value = v_g.baseline_value,
                       deviation_pct = v_g.deviation_pct,
                       message = left(v_g.message || cachemon._related_suffix(o.details), 2000),
                       recommendation = left(v_g.recommendation, 2000),
                       status = CASE WHEN v_severity <> o.severity THEN 'open' ELSE o.status END,
                       acknowledged_at = CASE WHEN v_severity <> o.severity THEN NULL ELSE o.acknowledged_at END,
                       acknowledged_by = CASE WHEN v_severity <> o.severity THEN NULL ELSE o.acknowledged_by END,
                       details = o.details || v_details
                           || pg_catalog.jsonb_build_object('lead_message', left(v_g.message, 2000))
                           || CASE WHEN v_severity <> o.severity THEN pg_catalog.jsonb_build_object(
                                  'escalated_at', p_now, 'escalated_from', o.severity,
                                  'previous_acknowledgement', CASE WHEN o.acknowledged_by IS NOT NULL
                                      THEN pg_catalog.jsonb_build_object('by', o.acknowledged_by,
                                                                         'at', o.acknowledged_at) END)
                              ELSE '{}'::jsonb END
                 WHERE o.id = v_obs.id;
                IF v_severity <> v_obs.severity THEN
                    escalated := escalated + 1;
                ELSE
                    updated := updated + 1;
                END IF;
            -- Strong evidence opens sooner: a critical breach (judged without the worst
            -- minute of its window, so one stalled minute never gets here), or a breach of
            -- the sequential test (whose threshold auditor.cusum_h already sets its false
            -- alarm rate, and which no single minute can reach) opens after
            -- auditor.open_after_critical evaluations (default 1); not within an hour after a
            -- person resolved a finding of this implementation and rule (a resolution by hand
            -- is respected for auditor.open_after evaluations).
            ELSIF v_breach_n >= (CASE WHEN (v_g.severity = 'critical'
                                            OR v_g.details ->> 'test' IS NOT DISTINCT FROM 'sequential')
                                       AND NOT EXISTS (
                          SELECT 1 FROM cachemon.cache_auditor_observations AS o
                           WHERE o.implementation_type = v_g.implementation_type
                             AND o.rule = v_g.rule AND o.status = 'resolved'
                             AND o.resolved_by IS DISTINCT FROM 'auditor'
                             AND o.resolved_at > p_now - interval '1 hour')
                      THEN least(coalesce((SELECT r.open_after FROM cachemon._auditor_rules AS r
                                            WHERE r.rule = v_g.rule), v_open_after), v_open_crit)
                      ELSE coalesce((SELECT r.open_after FROM cachemon._auditor_rules AS r
                                      WHERE r.rule = v_g.rule), v_open_after) END) THEN
                -- One incident, one finding: a live finding of the same implementation (another
                -- rule) leads; this rule is listed in its details.related and can raise its
                -- severity, but opens nothing of its own.
                SELECT o.* INTO v_lead FROM cachemon.cache_auditor_observations AS o
                 WHERE o.implementation_type = v_g.implementation_type AND o.status <> 'resolved'
                   AND (o.severity <> 'info' OR v_g.severity = 'info')
                   -- the same incident: the live finding breached within three windows
                   AND o.last_seen_at >= p_now - 3 * v_window
                 ORDER BY o.first_seen_at, o.id
                 LIMIT 1
                   FOR UPDATE;
                IF v_lead.id IS NOT NULL THEN
                    v_severity := CASE WHEN 'critical' IN (v_lead.severity, v_g.severity) THEN 'critical'
                                       WHEN 'warning' IN (v_lead.severity, v_g.severity) THEN 'warning'
                                       ELSE 'info' END;
                    v_related := coalesce(v_lead.details -> 'related', '{}'::jsonb)
                        || pg_catalog.jsonb_build_object(v_g.rule, pg_catalog.jsonb_build_object(
                               'severity', v_g.severity, 'category', v_g.category,
                               'metric', v_g.metric, 'observed_value', v_g.observed_value,
                               'baseline_value', v_g.baseline_value, 'message', left(v_g.message, 500),
                               'first_seen_at', coalesce(v_lead.details -> 'related' -> v_g.rule ->> 'first_seen_at',
                                                         p_now::text),
                               'last_seen_at', p_now));
                    UPDATE cachemon.cache_auditor_observations AS o
                       SET last_seen_at = greatest(o.last_seen_at, p_now),
                           severity = v_severity,
                           message = left(coalesce(o.details ->> 'lead_message', o.message)
                                          || cachemon._related_suffix(
                                                 pg_catalog.jsonb_build_object('related', v_related)), 2000),
                           status = CASE WHEN v_severity <> o.severity THEN 'open' ELSE o.status END,
                           acknowledged_at = CASE WHEN v_severity <> o.severity THEN NULL ELSE o.acknowledged_at END,
                           acknowledged_by = CASE WHEN v_severity <> o.severity THEN NULL ELSE o.acknowledged_by END,
                           details = o.details || pg_catalog.jsonb_build_object('related', v_related)
                               || CASE WHEN v_severity <> o.severity THEN pg_catalog.jsonb_build_object(
                                      'escalated_at', p_now, 'escalated_from', o.severity,
                                      'escalated_by_rule', v_g.rule)
                                  ELSE '{}'::jsonb END
                     WHERE o.id = v_lead.id;
                    IF v_severity <> v_lead.severity THEN
                        escalated := escalated + 1;
                    ELSE
                        updated := updated + 1;
                    END IF;
                    CONTINUE;
                END IF;
                INSERT INTO cachemon.cache_auditor_observations AS o
                       (implementation_type, rule, severity, category, status, metric,
                        observed_value, baseline_value, deviation_pct, message, recommendation,
                        first_seen_at, last_seen_at, occurrences, details)
                VALUES (v_g.implementation_type, v_g.rule, v_g.severity, v_g.category, 'open',
                        v_g.metric, v_g.observed_value, v_g.baseline_value, v_g.deviation_pct,
                        left(v_g.message, 2000), left(v_g.recommendation, 2000),
                        least(coalesce(v_since, p_now), p_now), p_now, greatest(v_breach_n, 1),
                        v_details || pg_catalog.jsonb_build_object('opened_at', p_now,
                            'lead_message', left(v_g.message, 2000)));
                opened := opened + 1;
            END IF;
        ELSIF v_g.group_state = 'clear' AND v_obs.id IS NOT NULL
              AND NOT EXISTS (
                  -- a grouped finding stays open while a rule listed in it still breaches
                  SELECT 1 FROM cachemon._audit_state AS st
                   WHERE st.implementation_type = v_g.implementation_type
                     AND st.last_state = 'breach'
                     AND v_obs.details -> 'related' ? st.rule)
              AND v_clear_n >= coalesce(
                      (SELECT r.clear_after FROM cachemon._auditor_rules AS r WHERE r.rule = v_g.rule),
                      v_clear_after) THEN
            UPDATE cachemon.cache_auditor_observations AS o
               SET status = 'resolved', resolved_at = greatest(p_now, o.last_seen_at),
                   resolved_by = 'auditor',
                   details = o.details || pg_catalog.jsonb_build_object(
                       'resolution', pg_catalog.format('condition clear for %s consecutive evaluations: %s',
                                                       v_clear_n, v_g.message))
             WHERE o.id = v_obs.id;
            resolved := resolved + 1;
        END IF;
    END LOOP;

    DROP TABLE pg_temp._cachemon_ws_keys, pg_temp._cachemon_ws, pg_temp._cachemon_cusum_keys,
        pg_temp._cachemon_cusum;
    skipped := NULL;
    RETURN NEXT;
END
$function$;

COMMENT ON FUNCTION cachemon.run_auditor(timestamptz) IS
    'Evaluate every enabled auditor rule (functions cachemon._rule_*) over the last auditor.window before p_now and keep findings in cache_auditor_observations: open after auditor.open_after breached evaluations (a critical breach after auditor.open_after_critical), one live finding per implementation and rule, escalate in place, resolve after auditor.clear_after clear evaluations. Returns counts; skipped says why nothing ran (another run holds the lock, or standby).';

REVOKE ALL ON FUNCTION cachemon.run_auditor(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.run_auditor(timestamptz) TO cachemon_admin;

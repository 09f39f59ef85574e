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
    v_stats       cachemon._window_stat[];
    v_cusum       cachemon._cusum_stat[];
    v_g           record;
    v_f           cachemon._finding;
    v_state       cachemon._audit_state;
    v_obs         cachemon.cache_auditor_observations;
    v_counts      boolean;
    v_breach_n    integer;
    v_clear_n     integer;
    v_since       timestamptz;
    v_severity    text;
    v_details     jsonb;
    v_lead        cachemon.cache_auditor_observations;
    v_related     jsonb;
BEGIN
    /*
     * One run of the auditor at p_now: its lifecycle around the judgement.
     *
     * - The statistics: every window of cachemon._auditor_windows(auditor.window) and
     *   auditor.window itself, ending at p_now's minute (cachemon._window_stats), and the
     *   sequential test (cachemon._cusum_compute), each computed once and passed to
     *   cachemon._audit_judgement, which runs the rules and returns one row per
     *   implementation and rule (breach, clear or hold, and the finding that speaks for it).
     *   No temporary table: the run needs no privilege beyond EXECUTE and its tables.
     * - _audit_state counts consecutive breached and clear evaluations. A second run for the
     *   same minute does not count again (tick may run more than once a minute).
     * - A finding opens when the breach streak reaches open_after (rule row or setting
     *   auditor.open_after); a critical breach, or a breach of the sequential test, when it
     *   reaches auditor.open_after_critical (default 1) if that is smaller, except within
     *   an hour after a person resolved a finding of that implementation and rule. There is
     *   at most one live (open or acknowledged) finding per (implementation, rule). A breach
     *   with a live finding updates it: last_seen_at, occurrences, values and message;
     *   severity only goes up (escalates in place), and an escalated acknowledged finding
     *   becomes open again. The finding resolves (resolved_by 'auditor') when the clear
     *   streak reaches clear_after; 'hold' breaks both streaks.
     * - One incident, one finding: when a rule would open a finding while the implementation
     *   already has a live one (another rule) that breached within the last three
     *   auditor.window lengths, it opens nothing; it is listed in the live finding's
     *   details.related (and named in its message), and may raise its severity. The live
     *   finding resolves only when its own rule is clear and no related rule still breaches.
     *   An 'info' finding (a traffic surge) never leads a warning or critical one.
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

    -- Every window's statistics and the sequential test once per run, passed to the
    -- judgement (and from it to the rules) as arrays.
    v_stats := ARRAY(
        SELECT s
          FROM (SELECT k.k FROM cachemon._auditor_windows(v_window) AS k (k)
                UNION SELECT (extract(epoch FROM v_window) / 60)::integer) AS k
         CROSS JOIN LATERAL cachemon._window_stats(
             v_window_end - pg_catalog.make_interval(mins => k.k), v_window_end) AS s);
    v_cusum := ARRAY(SELECT ROW(c.*)::cachemon._cusum_stat FROM cachemon._cusum_compute(p_now) AS c);

    FOR v_g IN
        SELECT j.group_state, j.suppressed, j.finding
          FROM cachemon._audit_judgement(p_now, v_window, v_stats, v_cusum) WITH ORDINALITY AS j
         ORDER BY j.ordinality
    LOOP
        v_f := v_g.finding;
        evaluated := evaluated + 1;
        IF v_g.group_state = 'breach' THEN
            breaches := breaches + 1;
        END IF;

        -- Streaks (persistence and hysteresis).
        SELECT s.* INTO v_state FROM cachemon._audit_state AS s
         WHERE s.implementation_type = v_f.implementation_type AND s.rule = v_f.rule
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
        VALUES (v_f.implementation_type, v_f.rule, v_window_end, v_g.group_state, v_breach_n,
                v_clear_n, v_since, p_now)
        ON CONFLICT (implementation_type, rule) DO UPDATE
           SET last_window_end = EXCLUDED.last_window_end, last_state = EXCLUDED.last_state,
               breach_streak = EXCLUDED.breach_streak, clear_streak = EXCLUDED.clear_streak,
               breach_since = EXCLUDED.breach_since, updated_at = EXCLUDED.updated_at;

        SELECT o.* INTO v_obs FROM cachemon.cache_auditor_observations AS o
         WHERE o.implementation_type = v_f.implementation_type AND o.rule = v_f.rule
           AND o.status <> 'resolved'
           FOR UPDATE;

        IF v_g.group_state = 'breach' THEN
            v_details := coalesce(v_f.details, '{}'::jsonb) || pg_catalog.jsonb_build_object(
                'state', v_f.state, 'sample_size', v_f.sample_size,
                'score', round(v_f.score::numeric, 3), 'window', v_window::text,
                'evaluated_at', p_now, 'suppressed', coalesce(v_g.suppressed, '[]'::jsonb));
            IF v_obs.id IS NOT NULL THEN
                v_severity := CASE WHEN 'critical' IN (v_obs.severity, v_f.severity) THEN 'critical'
                                   WHEN 'warning' IN (v_obs.severity, v_f.severity) THEN 'warning'
                                   ELSE 'info' END;
                UPDATE cachemon.cache_auditor_observations AS o
                   SET last_seen_at = greatest(o.last_seen_at, p_now),
                       occurrences = o.occurrences + CASE WHEN v_counts THEN 1 ELSE 0 END,
                       severity = v_severity,
                       metric = v_f.metric,
                       observed_value = v_f.observed_value,
                       baseline_value = v_f.baseline_value,
                       deviation_pct = v_f.deviation_pct,
                       message = left(v_f.message || cachemon._related_suffix(o.details), 2000),
                       recommendation = left(v_f.recommendation, 2000),
                       status = CASE WHEN v_severity <> o.severity THEN 'open' ELSE o.status END,
                       acknowledged_at = CASE WHEN v_severity <> o.severity THEN NULL ELSE o.acknowledged_at END,
                       acknowledged_by = CASE WHEN v_severity <> o.severity THEN NULL ELSE o.acknowledged_by END,
                       details = o.details || v_details
                           || pg_catalog.jsonb_build_object('lead_message', left(v_f.message, 2000))
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
            ELSIF v_breach_n >= (CASE WHEN (v_f.severity = 'critical'
                                            OR v_f.details ->> 'test' IS NOT DISTINCT FROM 'sequential')
                                       AND NOT EXISTS (
                          SELECT 1 FROM cachemon.cache_auditor_observations AS o
                           WHERE o.implementation_type = v_f.implementation_type
                             AND o.rule = v_f.rule AND o.status = 'resolved'
                             AND o.resolved_by IS DISTINCT FROM 'auditor'
                             AND o.resolved_at > p_now - interval '1 hour')
                      THEN least(coalesce((SELECT r.open_after FROM cachemon._auditor_rules AS r
                                            WHERE r.rule = v_f.rule), v_open_after), v_open_crit)
                      ELSE coalesce((SELECT r.open_after FROM cachemon._auditor_rules AS r
                                      WHERE r.rule = v_f.rule), v_open_after) END) THEN
                -- One incident, one finding: a live finding of the same implementation (another
                -- rule) leads; this rule is listed in its details.related and can raise its
                -- severity, but opens nothing of its own.
                SELECT o.* INTO v_lead FROM cachemon.cache_auditor_observations AS o
                 WHERE o.implementation_type = v_f.implementation_type AND o.status <> 'resolved'
                   AND (o.severity <> 'info' OR v_f.severity = 'info')
                   -- the same incident: the live finding breached within three windows
                   AND o.last_seen_at >= p_now - 3 * v_window
                 ORDER BY o.first_seen_at, o.id
                 LIMIT 1
                   FOR UPDATE;
                IF v_lead.id IS NOT NULL THEN
                    v_severity := CASE WHEN 'critical' IN (v_lead.severity, v_f.severity) THEN 'critical'
                                       WHEN 'warning' IN (v_lead.severity, v_f.severity) THEN 'warning'
                                       ELSE 'info' END;
                    v_related := coalesce(v_lead.details -> 'related', '{}'::jsonb)
                        || pg_catalog.jsonb_build_object(v_f.rule, pg_catalog.jsonb_build_object(
                               'severity', v_f.severity, 'category', v_f.category,
                               'metric', v_f.metric, 'observed_value', v_f.observed_value,
                               'baseline_value', v_f.baseline_value, 'message', left(v_f.message, 500),
                               'first_seen_at', coalesce(v_lead.details -> 'related' -> v_f.rule ->> 'first_seen_at',
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
                                      'escalated_by_rule', v_f.rule)
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
                VALUES (v_f.implementation_type, v_f.rule, v_f.severity, v_f.category, 'open',
                        v_f.metric, v_f.observed_value, v_f.baseline_value, v_f.deviation_pct,
                        left(v_f.message, 2000), left(v_f.recommendation, 2000),
                        least(coalesce(v_since, p_now), p_now), p_now, greatest(v_breach_n, 1),
                        v_details || pg_catalog.jsonb_build_object('opened_at', p_now,
                            'lead_message', left(v_f.message, 2000)));
                opened := opened + 1;
            END IF;
        ELSIF v_g.group_state = 'clear' AND v_obs.id IS NOT NULL
              AND NOT EXISTS (
                  -- a grouped finding stays open while a rule listed in it still breaches
                  SELECT 1 FROM cachemon._audit_state AS st
                   WHERE st.implementation_type = v_f.implementation_type
                     AND st.last_state = 'breach'
                     AND v_obs.details -> 'related' ? st.rule)
              AND v_clear_n >= coalesce(
                      (SELECT r.clear_after FROM cachemon._auditor_rules AS r WHERE r.rule = v_f.rule),
                      v_clear_after) THEN
            UPDATE cachemon.cache_auditor_observations AS o
               SET status = 'resolved', resolved_at = greatest(p_now, o.last_seen_at),
                   resolved_by = 'auditor',
                   details = o.details || pg_catalog.jsonb_build_object(
                       'resolution', pg_catalog.format('condition clear for %s consecutive evaluations: %s',
                                                       v_clear_n, v_f.message))
             WHERE o.id = v_obs.id;
            resolved := resolved + 1;
        END IF;
    END LOOP;

    skipped := NULL;
    RETURN NEXT;
END
$function$;

COMMENT ON FUNCTION cachemon.run_auditor(timestamptz) IS
    'Evaluate every enabled auditor rule (functions cachemon._rule_*) over the last auditor.window before p_now and keep findings in cache_auditor_observations: open after auditor.open_after breached evaluations (a critical breach after auditor.open_after_critical), one live finding per implementation and rule, escalate in place, resolve after auditor.clear_after clear evaluations. Returns counts; skipped says why nothing ran (another run holds the lock, or standby).';

REVOKE ALL ON FUNCTION cachemon.run_auditor(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.run_auditor(timestamptz) TO cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon._notify_outbox()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_kind text;
    v_at timestamptz;
    v_rank jsonb := '{"info": 0, "warning": 1, "critical": 2}';
    v_seq integer;
BEGIN
    /*
     * The outbox: AFTER INSERT OR UPDATE on cache_auditor_observations, in the transaction
     * that changed the finding (run_auditor's, acknowledge_observation's, ...). One row of
     * notify_events per state change, and only then:
     *   INSERT                          -> opened
     *   severity up / down              -> escalated / de-escalated (run_auditor reopens an
     *                                      acknowledged finding when its severity changes)
     *   status -> acknowledged          -> acknowledged
     *   status -> resolved              -> resolved
     * An update that changes neither severity nor status (a finding seen again, a re-run of
     * the same minute, a second tick racing the first) writes nothing. The sequence number is
     * the finding's highest earlier sequence plus one: the UPDATE that fired this trigger
     * holds the finding's row lock until its transaction ends, so two transactions never
     * number the same finding at once, and UNIQUE (observation_id, seq) turns any replay that
     * would repeat a number into nothing (ON CONFLICT DO NOTHING).
     *
     * Not SECURITY DEFINER: only cachemon_admin (and cachemon_jobs, its member) may change
     * findings, and cachemon_admin holds INSERT on notify_events; the writer and reader
     * roles can neither change a finding nor write the outbox. No role has EXECUTE; the
     * function refuses to run for any table but cache_auditor_observations (TG_RELID).
     */
    IF TG_RELID <> 'cachemon.cache_auditor_observations'::regclass OR TG_LEVEL <> 'ROW'
       OR TG_WHEN <> 'AFTER' OR TG_OP NOT IN ('INSERT', 'UPDATE') THEN
        RAISE EXCEPTION 'cachemon._notify_outbox: refuses to run as % % % trigger on %',
            TG_WHEN, TG_OP, TG_LEVEL, TG_RELID::regclass
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'It is the AFTER INSERT OR UPDATE row trigger of cachemon.cache_auditor_observations and of nothing else.';
    END IF;
    IF TG_OP = 'INSERT' THEN
        v_kind := CASE WHEN NEW.status = 'resolved' THEN 'resolved' ELSE 'opened' END;
        v_at := coalesce(NEW.resolved_at, NEW.last_seen_at);
    ELSIF NEW.status = 'resolved' AND OLD.status <> 'resolved' THEN
        v_kind := 'resolved';
        v_at := NEW.resolved_at;
    ELSIF NEW.status = 'resolved' THEN
        RETURN NULL;
    ELSIF NEW.severity <> OLD.severity THEN
        v_kind := CASE WHEN (v_rank ->> NEW.severity)::int > (v_rank ->> OLD.severity)::int
                       THEN 'escalated' ELSE 'de-escalated' END;
        v_at := NEW.last_seen_at;
    ELSIF NEW.status = 'acknowledged' AND OLD.status <> 'acknowledged' THEN
        v_kind := 'acknowledged';
        v_at := NEW.acknowledged_at;
    ELSE
        RETURN NULL;
    END IF;
    SELECT coalesce(max(e.seq), 0) + 1 INTO v_seq
      FROM cachemon.notify_events AS e WHERE e.observation_id = NEW.id;
    INSERT INTO cachemon.notify_events AS e
           (observation_id, seq, kind, at, severity, status, labels, finding)
    VALUES (NEW.id, v_seq, v_kind, coalesce(v_at, pg_catalog.now()), NEW.severity, NEW.status,
            pg_catalog.jsonb_build_object(
                'implementation', NEW.implementation_type, 'rule', NEW.rule,
                'severity', NEW.severity, 'category', NEW.category),
            pg_catalog.jsonb_build_object(
                'id', NEW.id, 'implementation_type', NEW.implementation_type,
                'rule', NEW.rule, 'severity', NEW.severity, 'category', NEW.category,
                'status', NEW.status, 'metric', NEW.metric,
                'observed_value', NEW.observed_value, 'baseline_value', NEW.baseline_value,
                'deviation_pct', NEW.deviation_pct, 'message', NEW.message,
                'recommendation', NEW.recommendation, 'first_seen_at', NEW.first_seen_at,
                'last_seen_at', NEW.last_seen_at, 'occurrences', NEW.occurrences,
                'acknowledged_at', NEW.acknowledged_at, 'acknowledged_by', NEW.acknowledged_by,
                'resolved_at', NEW.resolved_at, 'resolved_by', NEW.resolved_by,
                'evidence', NEW.details))
    ON CONFLICT ON CONSTRAINT notify_events_once DO NOTHING;
    -- A wake-up hint for `cachemon notify run` (no data: any role may LISTEN).
    PERFORM pg_catalog.pg_notify('cachemon_notify', '');
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION cachemon._notify_outbox() IS
    'Trigger (not SECURITY DEFINER: only cachemon_admin changes findings and it may write the outbox): one notify_events row per state change of a finding (opened, escalated, de-escalated, acknowledged, resolved), unique per (finding, seq); refuses any table but cache_auditor_observations.';

REVOKE ALL ON FUNCTION cachemon._notify_outbox() FROM PUBLIC;

DROP TRIGGER IF EXISTS cache_auditor_observations_notify ON cachemon.cache_auditor_observations;
CREATE TRIGGER cache_auditor_observations_notify
    AFTER INSERT OR UPDATE ON cachemon.cache_auditor_observations
    FOR EACH ROW EXECUTE FUNCTION cachemon._notify_outbox();

CREATE OR REPLACE FUNCTION cachemon.resolve_observation(
    observation_id bigint,
    resolved_by text,
    note text DEFAULT NULL,
    p_now timestamptz DEFAULT pg_catalog.now()
)
RETURNS cachemon.cache_auditor_observations
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_by  text := pg_catalog.btrim(resolve_observation.resolved_by);
    v_obs cachemon.cache_auditor_observations;
BEGIN
    /*
     * Inputs are checked (docs/security.md): p_now at most a day ahead of the database
     * clock and not before the finding's first_seen_at (cachemon._check_now), the name 1 to
     * 200 characters without control or bidi characters, which would reach terminals and
     * pages.
     *
     * A person closes a live finding: status 'resolved' with who, when and an optional note
     * (details.resolution_note). The rule's breach streak restarts, so if the condition
     * still holds a new finding opens only after auditor.open_after more breached
     * evaluations (also a critical one, for an hour after the resolution). Resolving a resolved finding changes nothing; an unknown id is an error.
     */
    IF v_by IS NULL OR v_by = '' OR pg_catalog.length(v_by) > 200
       OR v_by ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]' THEN
        RAISE EXCEPTION 'resolve_observation: resolved_by must be 1..200 characters without control or bidi characters, got %',
            coalesce(pg_catalog.quote_literal(pg_catalog.regexp_replace(
                pg_catalog.left(resolve_observation.resolved_by, 200), '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]', '?', 'g')), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_catalog.length(note) > 1000 OR note ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]' THEN
        RAISE EXCEPTION 'resolve_observation: note must be at most 1000 characters without control or bidi characters (got % characters)',
            pg_catalog.length(note) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT o.* INTO v_obs FROM cachemon.cache_auditor_observations AS o
     WHERE o.id = resolve_observation.observation_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'resolve_observation: observation_id % does not exist',
            coalesce(resolve_observation.observation_id::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM cachemon._check_now(p_now, v_obs.first_seen_at);
    IF v_obs.status = 'resolved' THEN
        RETURN v_obs;
    END IF;
    UPDATE cachemon.cache_auditor_observations AS o
       SET status = 'resolved', resolved_at = greatest(p_now, o.last_seen_at), resolved_by = v_by,
           details = o.details || CASE WHEN note IS NULL THEN '{}'::jsonb
                                       ELSE pg_catalog.jsonb_build_object('resolution_note', note) END
     WHERE o.id = v_obs.id
    RETURNING o.* INTO v_obs;
    UPDATE cachemon._audit_state AS s SET breach_streak = 0, breach_since = NULL
     WHERE s.implementation_type = v_obs.implementation_type AND s.rule = v_obs.rule;
    RETURN v_obs;
END
$function$;

COMMENT ON FUNCTION cachemon.resolve_observation(bigint, text, text, timestamptz) IS
    'Resolve a live auditor finding by hand, recording who, when and an optional note; returns the row. The rule must breach auditor.open_after more times to open a new finding.';

REVOKE ALL ON FUNCTION cachemon.resolve_observation(bigint, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.resolve_observation(bigint, text, text, timestamptz) TO cachemon_admin;

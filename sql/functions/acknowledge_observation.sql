CREATE OR REPLACE FUNCTION cachemon.acknowledge_observation(
    observation_id bigint,
    acknowledged_by text,
    p_now timestamptz DEFAULT pg_catalog.now()
)
RETURNS cachemon.cache_auditor_observations
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_by  text := pg_catalog.btrim(acknowledge_observation.acknowledged_by);
    v_obs cachemon.cache_auditor_observations;
BEGIN
    /*
     * Inputs are checked (docs/security.md): p_now at most a day ahead of the database
     * clock and not before the finding's first_seen_at (cachemon._check_now), the name 1 to
     * 200 characters without control or bidi characters, which would reach terminals and
     * pages.
     *
     * A person takes a live finding: status 'acknowledged', with who and when. The finding
     * keeps being updated by run_auditor and still resolves itself when the condition
     * clears; if it escalates (warning -> critical) it becomes open again. Acknowledging an
     * acknowledged finding changes nothing (the first acknowledgement stands); a resolved one
     * is an error, as is an unknown id.
     */
    IF v_by IS NULL OR v_by = '' OR pg_catalog.length(v_by) > 200
       OR v_by ~ '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]' THEN
        RAISE EXCEPTION 'acknowledge_observation: acknowledged_by must be 1..200 characters without control or bidi characters, got %',
            coalesce(pg_catalog.quote_literal(pg_catalog.regexp_replace(
                pg_catalog.left(acknowledge_observation.acknowledged_by, 200), '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]', '?', 'g')), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT o.* INTO v_obs FROM cachemon.cache_auditor_observations AS o
     WHERE o.id = acknowledge_observation.observation_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'acknowledge_observation: observation_id % does not exist',
            coalesce(acknowledge_observation.observation_id::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM cachemon._check_now(p_now, v_obs.first_seen_at);
    IF v_obs.status = 'resolved' THEN
        RAISE EXCEPTION 'acknowledge_observation: observation_id % is already resolved (at %, by %)',
            v_obs.id, v_obs.resolved_at, coalesce(v_obs.resolved_by, 'unknown')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_obs.status = 'acknowledged' THEN
        RETURN v_obs;
    END IF;
    UPDATE cachemon.cache_auditor_observations AS o
       SET status = 'acknowledged', acknowledged_by = v_by, acknowledged_at = p_now
     WHERE o.id = v_obs.id
    RETURNING o.* INTO v_obs;
    RETURN v_obs;
END
$function$;

COMMENT ON FUNCTION cachemon.acknowledge_observation(bigint, text, timestamptz) IS
    'Acknowledge a live auditor finding, recording who and when; returns the row. Idempotent on an acknowledged finding; an unknown id or a resolved finding is an error.';

REVOKE ALL ON FUNCTION cachemon.acknowledge_observation(bigint, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.acknowledge_observation(bigint, text, timestamptz) TO cachemon_admin;

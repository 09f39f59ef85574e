CREATE OR REPLACE FUNCTION cachemon.add_silence(
    p_matchers jsonb,
    p_ends_at timestamptz,
    p_created_by text,
    p_comment text,
    p_starts_at timestamptz DEFAULT NULL,
    p_now timestamptz DEFAULT pg_catalog.now())
RETURNS SETOF cachemon.notify_silences
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_now timestamptz := cachemon._check_now(p_now);
    v_start timestamptz := coalesce(p_starts_at, v_now);
BEGIN
    /*
     * A silence mutes firing messages of the findings its matchers select from starts_at
     * (default now) until ends_at, and then ends by itself. As in Alertmanager it needs at
     * least one matcher, who and why. A resolved message still goes out for a finding whose
     * firing message went out before (notify_flush). At most 90 days long.
     */
    IF p_ends_at IS NULL OR NOT pg_catalog.isfinite(p_ends_at) OR NOT pg_catalog.isfinite(v_start)
       OR p_ends_at <= v_start OR p_ends_at <= v_now OR p_ends_at - v_start > interval '90 days'
       OR v_start > v_now + interval '90 days' THEN
        RAISE EXCEPTION 'cachemon: silence from % until % must end after it starts and after now, within 90 days',
            v_start, coalesce(p_ends_at::text, 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_matchers IS NULL OR pg_catalog.jsonb_typeof(p_matchers) <> 'array'
       OR pg_catalog.jsonb_array_length(p_matchers) = 0 THEN
        RAISE EXCEPTION 'cachemon: a silence needs at least one matcher' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_created_by IS NULL OR pg_catalog.length(btrim(p_created_by)) NOT BETWEEN 1 AND 200
       OR p_comment IS NULL OR pg_catalog.length(btrim(p_comment)) NOT BETWEEN 1 AND 2000 THEN
        RAISE EXCEPTION 'cachemon: a silence needs created_by (1-200 characters) and comment (1-2000)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY INSERT INTO cachemon.notify_silences AS s (matchers, starts_at, ends_at, created_by, comment)
    VALUES (cachemon._notify_check_matchers('matchers', p_matchers), v_start, p_ends_at,
            btrim(p_created_by), btrim(p_comment))
    RETURNING s.*;
END
$function$;

COMMENT ON FUNCTION cachemon.add_silence(jsonb, timestamptz, text, text, timestamptz, timestamptz) IS
    'Create a silence: matchers (at least one), until ends_at (at most 90 days), who and why; it expires by itself.';

REVOKE ALL ON FUNCTION cachemon.add_silence(jsonb, timestamptz, text, text, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.add_silence(jsonb, timestamptz, text, text, timestamptz, timestamptz) TO cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon.expire_silence(
    p_id bigint,
    p_expired_by text,
    p_now timestamptz DEFAULT pg_catalog.now())
RETURNS SETOF cachemon.notify_silences
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_now timestamptz := cachemon._check_now(p_now);
BEGIN
    /*
     * Ends a silence now (ends_at = least(ends_at, now), starts_at no later), recording who.
     * Expiring an expired silence changes nothing and returns it.
     */
    IF p_expired_by IS NULL OR pg_catalog.length(btrim(p_expired_by)) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'cachemon: expired_by must be 1-200 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY UPDATE cachemon.notify_silences AS s
       SET ends_at = least(s.ends_at, v_now), starts_at = least(s.starts_at, v_now),
           expired_by = CASE WHEN s.ends_at > v_now THEN btrim(p_expired_by) ELSE s.expired_by END
     WHERE s.id = p_id
    RETURNING s.*;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'cachemon: silence % does not exist', coalesce(p_id::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$function$;

COMMENT ON FUNCTION cachemon.expire_silence(bigint, text, timestamptz) IS
    'End a silence now, recording who; idempotent.';

REVOKE ALL ON FUNCTION cachemon.expire_silence(bigint, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.expire_silence(bigint, text, timestamptz) TO cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon._auditor_outcome(p_failure text)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_before cachemon._auditor_health;
BEGIN
    /*
     * Records the outcome of one auditor run in cachemon._auditor_health and returns what
     * tick reports in its auditor field: 'ran', 'ran; recovered after failing since <t>:
     * <the last failure>' for the first success after failures, or 'failed: <p_failure>'
     * (p_failure: the error's message and SQLSTATE; NULL for a success). Times are the
     * database clock's (now()), not the tick's p_now.
     */
    SELECT h.* INTO v_before FROM cachemon._auditor_health AS h WHERE h.id FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO cachemon._auditor_health (id) VALUES (true) RETURNING * INTO v_before;
    END IF;
    IF p_failure IS NOT NULL THEN
        UPDATE cachemon._auditor_health AS h
           SET last_run_at = pg_catalog.now(), last_failure_at = pg_catalog.now(),
               failing_since = coalesce(h.failing_since, pg_catalog.now()),
               failure = left(p_failure, 2000)
         WHERE h.id;
        RETURN 'failed: ' || left(p_failure, 2000);
    END IF;
    UPDATE cachemon._auditor_health AS h
       SET last_run_at = pg_catalog.now(), last_success_at = pg_catalog.now(),
           failing_since = NULL, failure = NULL,
           recovered_at = CASE WHEN h.failure IS NOT NULL THEN pg_catalog.now() ELSE h.recovered_at END
     WHERE h.id;
    IF v_before.failure IS NOT NULL THEN
        RETURN pg_catalog.format('ran; recovered after failing since %s: %s',
                                 v_before.failing_since, left(v_before.failure, 500));
    END IF;
    RETURN 'ran';
END
$function$;

COMMENT ON FUNCTION cachemon._auditor_outcome(text) IS
    'Internal (tick): records one auditor run in cachemon._auditor_health (p_failure: the error, NULL for a success) and returns tick''s auditor field: ran, ran; recovered after failing since ..., or failed: ...';

REVOKE ALL ON FUNCTION cachemon._auditor_outcome(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._auditor_outcome(text) TO cachemon_admin;

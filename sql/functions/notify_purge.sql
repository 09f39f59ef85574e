CREATE OR REPLACE FUNCTION cachemon.notify_purge(
    p_keep interval DEFAULT '30 days',
    p_now timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (deliveries bigint, attempts bigint, log_rows bigint, events bigint)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_now timestamptz := cachemon._check_now(p_now);
    v_cut timestamptz;
BEGIN
    /*
     * SECURITY DEFINER: no role holds DELETE on notify_attempts (the attempts log is
     * append-only for everyone, cachemon_admin included); this function is the one way rows
     * leave it, and only by age. Its inputs are an interval checked to lie within
     * 1 day .. 10 years and p_now checked by _check_now; every name is schema-qualified and
     * the search_path fixed, so a caller's objects cannot take part.
     *
     * Removes what ended before p_now - p_keep: deliveries delivered or dead (no attempt
     * since) with their attempts, stage-log rows, and the outbox events of findings whose
     * last event is their resolution (a resolved finding never changes again, so its
     * sequence numbers are never needed). Pending deliveries, live findings' events and
     * anything newer stay.
     */
    IF p_keep IS NULL OR p_keep < interval '1 day' OR p_keep > interval '10 years' THEN
        RAISE EXCEPTION 'cachemon: keep % must lie within 1 day .. 10 years', coalesce(p_keep::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_cut := v_now - p_keep;
    WITH doomed AS (
        SELECT d.id FROM cachemon.notify_deliveries AS d
         WHERE d.status IN ('delivered', 'dead') AND d.created_at < v_cut
           AND NOT EXISTS (SELECT FROM cachemon.notify_attempts AS a
                            WHERE a.delivery_id = d.id AND a.recorded_at >= v_cut)
    ), gone_attempts AS (
        DELETE FROM cachemon.notify_attempts AS a USING doomed WHERE a.delivery_id = doomed.id
        RETURNING 1
    ), gone_deliveries AS (
        DELETE FROM cachemon.notify_deliveries AS d USING doomed WHERE d.id = doomed.id
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM gone_deliveries), (SELECT count(*) FROM gone_attempts)
      INTO deliveries, attempts;
    DELETE FROM cachemon.notify_log AS l WHERE l.at < v_cut;
    GET DIAGNOSTICS log_rows = ROW_COUNT;
    DELETE FROM cachemon.notify_events AS e
     WHERE e.routed_at IS NOT NULL
       AND e.observation_id IN (
           SELECT r.observation_id FROM cachemon.notify_events AS r
            WHERE r.kind = 'resolved' AND r.at < v_cut AND r.routed_at IS NOT NULL
              AND NOT EXISTS (SELECT FROM cachemon.notify_events AS later
                               WHERE later.observation_id = r.observation_id AND later.seq > r.seq));
    GET DIAGNOSTICS events = ROW_COUNT;
    DELETE FROM cachemon.notify_findings AS f
     WHERE NOT f.firing AND f.at < v_cut;
    RETURN NEXT;
END
$function$;

COMMENT ON FUNCTION cachemon.notify_purge(interval, timestamptz) IS
    'Remove notification history older than p_keep (default 30 days): ended deliveries with their attempts, stage-log rows, outbox events of resolved findings. SECURITY DEFINER because the attempts log is append-only for every role; inputs bounded.';

REVOKE ALL ON FUNCTION cachemon.notify_purge(interval, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.notify_purge(interval, timestamptz) TO cachemon_admin;

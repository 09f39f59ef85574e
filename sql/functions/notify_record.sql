CREATE OR REPLACE FUNCTION cachemon.notify_record(
    p_delivery_id bigint,
    p_worker text,
    p_attempt integer,
    p_started_at timestamptz,
    p_duration_ms double precision,
    p_status_code integer,
    p_error text,
    p_retry_after_s double precision DEFAULT NULL,
    p_permanent boolean DEFAULT false,
    p_now timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (outcome text, next_due_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_now timestamptz := cachemon._check_now(p_now);
    v_d cachemon.notify_deliveries;
    v_rc cachemon.notify_receivers;
    v_fresh boolean;
    v_delay double precision;
    v_error text := left(p_error, 2000);
BEGIN
    /*
     * A worker's result for one attempt, appended to notify_attempts, and what follows:
     *   2xx                              delivered
     *   429                              retry after Retry-After (0 s..1 day), else backoff
     *   5xx, no status (timeout, refused, reset)   retry after backoff
     *   p_permanent (refused before sending: a private address, a bad receiver)   dead
     *   any other status (4xx, 3xx)      dead, with the status as its reason
     * Backoff: backoff_s x 2^(attempt-1), at most backoff_max_s, times a jitter factor in
     * [0.5, 1). After max_attempts a retry becomes dead. A result from a worker whose lease
     * was lost (it expired and the delivery was taken again) is logged as stale and changes
     * nothing, except that a 2xx marks the delivery delivered: the message arrived.
     */
    IF p_status_code IS NOT NULL AND p_status_code NOT BETWEEN 100 AND 599 THEN
        RAISE EXCEPTION 'cachemon: status code % is not an HTTP status', p_status_code
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO v_d FROM cachemon.notify_deliveries AS d WHERE d.id = p_delivery_id FOR UPDATE;
    IF v_d.id IS NULL THEN
        RAISE EXCEPTION 'cachemon: delivery % does not exist', coalesce(p_delivery_id::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO v_rc FROM cachemon.notify_receivers AS r WHERE r.name = v_d.receiver;
    v_fresh := v_d.status = 'sending' AND v_d.lease_owner = p_worker AND v_d.attempts = p_attempt;
    IF p_status_code BETWEEN 200 AND 299 THEN
        outcome := CASE WHEN v_fresh THEN 'delivered' ELSE 'stale' END;
        UPDATE cachemon.notify_deliveries AS d
           SET status = 'delivered', delivered_at = coalesce(d.delivered_at, v_now),
               lease_owner = NULL, lease_until = NULL
         WHERE d.id = v_d.id AND d.status <> 'delivered';
    ELSIF NOT v_fresh THEN
        outcome := 'stale';
    ELSIF coalesce(p_permanent, false) OR (p_status_code IS NOT NULL AND p_status_code <> 429 AND p_status_code < 500) THEN
        outcome := 'dead';
    ELSIF v_d.attempts >= v_rc.max_attempts THEN
        outcome := 'dead';
        v_error := left(pg_catalog.format('gave up after %s attempts: %s', v_d.attempts,
                                          coalesce('HTTP ' || p_status_code, v_error, 'no answer')), 2000);
    ELSE
        outcome := 'retry';
        v_delay := CASE WHEN p_status_code = 429 AND p_retry_after_s IS NOT NULL
                        THEN least(greatest(p_retry_after_s, 0), 86400)
                        ELSE least(v_rc.backoff_max_s, v_rc.backoff_s * 2 ^ least(greatest(v_d.attempts - 1, 0), 40))
                             * (0.5 + pg_catalog.random() * 0.5) END;
        next_due_at := v_now + pg_catalog.make_interval(secs => v_delay);
    END IF;
    IF outcome = 'dead' THEN
        UPDATE cachemon.notify_deliveries AS d
           SET status = 'dead', lease_owner = NULL, lease_until = NULL,
               dead_reason = coalesce(v_error, 'HTTP ' || p_status_code, 'refused')
                             || CASE WHEN p_status_code IS NOT NULL AND v_error IS NOT NULL
                                     AND v_error NOT LIKE 'gave up%' THEN ' (HTTP ' || p_status_code || ')' ELSE '' END
         WHERE d.id = v_d.id;
    ELSIF outcome = 'retry' THEN
        UPDATE cachemon.notify_deliveries AS d
           SET status = 'pending', due_at = next_due_at, lease_owner = NULL, lease_until = NULL
         WHERE d.id = v_d.id;
    END IF;
    INSERT INTO cachemon.notify_attempts AS t
           (delivery_id, attempt, idempotency_key, worker, started_at, duration_ms, status_code,
            error, retry_after_s, outcome, next_due_at)
    VALUES (v_d.id, coalesce(p_attempt, v_d.attempts), v_d.idempotency_key, left(p_worker, 200),
            coalesce(p_started_at, v_now), p_duration_ms, p_status_code, v_error,
            p_retry_after_s, outcome, next_due_at);
    RETURN NEXT;
END
$function$;

COMMENT ON FUNCTION cachemon.notify_record(bigint, text, integer, timestamptz, double precision, integer, text, double precision, boolean, timestamptz) IS
    'Worker: append one attempt to notify_attempts and move the delivery on: 2xx delivered; 429 retry after Retry-After; 5xx or no answer retry with exponential backoff and jitter up to max_attempts; other statuses or permanent refusals dead with the reason.';

REVOKE ALL ON FUNCTION cachemon.notify_record(bigint, text, integer, timestamptz, double precision, integer, text, double precision, boolean, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.notify_record(bigint, text, integer, timestamptz, double precision, integer, text, double precision, boolean, timestamptz) TO cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon.notify_claim(
    p_worker text,
    p_limit integer DEFAULT 10,
    p_lease interval DEFAULT '1 minute',
    p_now timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (delivery_id bigint, idempotency_key uuid, attempt integer, receiver text,
               kind text, url text, password text, allow_private boolean,
               timeout_s double precision, options jsonb, payload jsonb,
               lease_until timestamptz)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_now timestamptz := cachemon._check_now(p_now);
BEGIN
    /*
     * A worker takes up to p_limit due deliveries for p_lease (FOR UPDATE SKIP LOCKED: two
     * workers never take the same one). A delivery waits while an earlier one of the same
     * group and receiver (order_key) is pending or being sent, so one finding's messages
     * arrive in order. First, every lease that expired without a result (the worker was
     * killed or hung) is logged as a lost attempt and its delivery is due again at once:
     * the message may have arrived, and is sent again with the same idempotency key.
     * Returns the receiver's URL and password: cachemon_admin only.
     */
    IF p_worker IS NULL OR pg_catalog.length(p_worker) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'cachemon: worker must be 1-200 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 1000 OR p_lease IS NULL
       OR p_lease NOT BETWEEN interval '1 second' AND interval '1 hour' THEN
        RAISE EXCEPTION 'cachemon: limit % (1..1000) or lease % (1 s..1 h) out of range',
            coalesce(p_limit::text, 'NULL'), coalesce(p_lease::text, 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH expired AS (
        SELECT d.id, d.lease_owner, d.lease_until, d.attempts, d.idempotency_key
          FROM cachemon.notify_deliveries AS d
         WHERE d.status = 'sending' AND d.lease_until <= v_now
         FOR UPDATE SKIP LOCKED
    ), freed AS (
        UPDATE cachemon.notify_deliveries AS d
           SET status = 'pending', due_at = v_now, lease_owner = NULL, lease_until = NULL
          FROM expired WHERE d.id = expired.id
        RETURNING d.id
    )
    INSERT INTO cachemon.notify_attempts AS t
           (delivery_id, attempt, idempotency_key, worker, started_at, error, outcome, next_due_at)
    SELECT x.id, x.attempts, x.idempotency_key, x.lease_owner, x.lease_until,
           pg_catalog.format('no result before the lease expired at %s (worker killed or hung); sending again', x.lease_until),
           'lost', v_now
      FROM expired AS x JOIN freed USING (id);

    RETURN QUERY
    WITH c AS (
        SELECT d.id FROM cachemon.notify_deliveries AS d
         WHERE d.status = 'pending' AND d.due_at <= v_now
           AND NOT EXISTS (SELECT FROM cachemon.notify_deliveries AS e
                            WHERE e.order_key = d.order_key AND e.id < d.id
                              AND e.status IN ('pending', 'sending'))
         ORDER BY d.due_at, d.id
         LIMIT p_limit
         FOR UPDATE SKIP LOCKED
    ), u AS (
        UPDATE cachemon.notify_deliveries AS d
           SET status = 'sending', lease_owner = p_worker, lease_until = v_now + p_lease,
               attempts = d.attempts + 1
          FROM c WHERE d.id = c.id
        RETURNING d.*
    )
    SELECT u.id, u.idempotency_key, u.attempts, u.receiver, r.kind, s.url, s.password,
           r.allow_private, r.timeout_s, r.options, u.payload, u.lease_until
      FROM u
      JOIN cachemon.notify_receivers AS r ON r.name = u.receiver
      JOIN cachemon._notify_secrets AS s ON s.receiver = u.receiver
     ORDER BY u.due_at, u.id;
END
$function$;

COMMENT ON FUNCTION cachemon.notify_claim(text, integer, interval, timestamptz) IS
    'Worker: lease up to p_limit due deliveries (FOR UPDATE SKIP LOCKED, in order per group), after logging expired leases as lost attempts and making them due again; returns receiver secrets (cachemon_admin only).';

REVOKE ALL ON FUNCTION cachemon.notify_claim(text, integer, interval, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.notify_claim(text, integer, interval, timestamptz) TO cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon.notify_release(p_worker text, p_now timestamptz DEFAULT pg_catalog.now())
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_now timestamptz := cachemon._check_now(p_now);
    v_n integer;
BEGIN
    /*
     * A worker that stops (SIGTERM) gives back the deliveries it leased and did not start
     * sending: due again at once, their attempt uncounted, for any worker to take.
     */
    UPDATE cachemon.notify_deliveries AS d
       SET status = 'pending', due_at = v_now, lease_owner = NULL, lease_until = NULL,
           attempts = greatest(d.attempts - 1, 0)
     WHERE d.status = 'sending' AND d.lease_owner = p_worker;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$function$;

COMMENT ON FUNCTION cachemon.notify_release(text, timestamptz) IS
    'Worker: give back every delivery this worker leased and did not send (due at once, attempt uncounted).';

REVOKE ALL ON FUNCTION cachemon.notify_release(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.notify_release(text, timestamptz) TO cachemon_admin;

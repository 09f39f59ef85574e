CREATE OR REPLACE FUNCTION cachemon._forget_ingested_batches(p_now timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_deleted bigint;
BEGIN
    /*
     * Batch ids are kept as long as raw events are (setting retention.raw) plus a day: a
     * retry of an older batch would be refused by the raw retention check anyway, so its id
     * is no longer needed to make the retry count once. Meant to be called by run_maintenance.
     */
    DELETE FROM cachemon._ingested_batches AS b
     WHERE b.received_at < p_now - cachemon._setting('retention.raw')::interval - interval '1 day';
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    RETURN v_deleted;
END
$function$;

COMMENT ON FUNCTION cachemon._forget_ingested_batches(timestamptz) IS
    'Internal (run by maintenance): delete ingested batch ids older than raw retention plus a day; returns how many.';

REVOKE ALL ON FUNCTION cachemon._forget_ingested_batches(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._forget_ingested_batches(timestamptz) TO cachemon_admin;

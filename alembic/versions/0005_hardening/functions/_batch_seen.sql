CREATE OR REPLACE FUNCTION cachemon._batch_seen(p_batch_id uuid, p_content_hash bytea)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_stored bytea;
    v_found  boolean;
BEGIN
    /*
     * How a batch id already in cachemon._ingested_batches compares with a retry of it:
     * 'same' (same content hash, see ingest_events), 'different', 'unknown' (stored by a path that keeps
     * no hash: the collector's COPY), or 'absent'. SECURITY DEFINER because ingest_events runs
     * as cachemon_writer, which may insert batch ids but not read them; this answers one
     * comparison for a batch id the caller already holds and returns nothing of the stored
     * row. Inputs: a uuid and an 8-byte hash, both checked.
     */
    IF p_batch_id IS NULL OR p_content_hash IS NULL OR pg_catalog.length(p_content_hash) <> 8 THEN
        RAISE EXCEPTION 'cachemon._batch_seen: a batch id and an 8-byte content hash are required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT b.content_hash, true INTO v_stored, v_found
      FROM cachemon._ingested_batches AS b WHERE b.batch_id = p_batch_id;
    RETURN CASE WHEN v_found IS NULL THEN 'absent'
                WHEN v_stored IS NULL THEN 'unknown'
                WHEN v_stored = p_content_hash THEN 'same'
                ELSE 'different' END;
END
$function$;

COMMENT ON FUNCTION cachemon._batch_seen(uuid, bytea) IS
    'Internal (ingest_events): compares a retried batch with the stored one by content hash: same, different, unknown (no hash kept) or absent. SECURITY DEFINER: the writer role may not read _ingested_batches; this returns one comparison and nothing of the row.';

REVOKE ALL ON FUNCTION cachemon._batch_seen(uuid, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._batch_seen(uuid, bytea) TO cachemon_writer, cachemon_admin;

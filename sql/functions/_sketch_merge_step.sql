CREATE OR REPLACE FUNCTION cachemon._sketch_merge_step(p_state cachemon.ddsketch, p_next cachemon.ddsketch)
RETURNS cachemon.ddsketch
LANGUAGE plpgsql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_merged cachemon.ddsketch;
BEGIN
    /*
     * Transition (and combine) function of cachemon.sketch_merge. It appends the next sketch's
     * keys and counts and compacts only when the state holds more than 8192 keys: appending is a
     * copy, compacting is a sort, so this keeps merging n sketches near O(total keys) instead of
     * one sort per row. The final function compacts what remains.
     */
    v_merged := ROW(p_state.zero_count + p_next.zero_count,
                    p_state.keys || p_next.keys,
                    p_state.counts || p_next.counts)::cachemon.ddsketch;
    IF pg_catalog.cardinality(v_merged.keys) > 8192 THEN
        v_merged := cachemon._sketch_compact(v_merged);
    END IF;
    RETURN v_merged;
END
$function$;

COMMENT ON FUNCTION cachemon._sketch_merge_step(cachemon.ddsketch, cachemon.ddsketch) IS
    'Internal: transition and combine function of the aggregate cachemon.sketch_merge.';

REVOKE ALL ON FUNCTION cachemon._sketch_merge_step(cachemon.ddsketch, cachemon.ddsketch) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._sketch_merge_step(cachemon.ddsketch, cachemon.ddsketch)
    TO cachemon_reader, cachemon_admin;

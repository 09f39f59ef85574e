CREATE OR REPLACE FUNCTION cachemon._related_suffix(p_details jsonb)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * The tail run_auditor appends to a finding's message when other rules were grouped
     * into it (details.related): " [with <rule> (<severity>), ...]", rules in name order;
     * empty when there are none.
     */
    SELECT coalesce(' [with ' || pg_catalog.string_agg(
               r.key || ' (' || coalesce(r.value ->> 'severity', '?') || ')', ', ' ORDER BY r.key)
               || ']', '')
      FROM pg_catalog.jsonb_each(
               CASE WHEN pg_catalog.jsonb_typeof(p_details -> 'related') = 'object'
                    THEN p_details -> 'related' ELSE '{}'::jsonb END) AS r;
$function$;

COMMENT ON FUNCTION cachemon._related_suffix(jsonb) IS
    'Internal: " [with rule (severity), ...]" naming the rules grouped into a finding (details.related), or empty.';

REVOKE ALL ON FUNCTION cachemon._related_suffix(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._related_suffix(jsonb) TO cachemon_reader, cachemon_admin;

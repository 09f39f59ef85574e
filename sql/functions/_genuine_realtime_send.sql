CREATE OR REPLACE FUNCTION cachemon._genuine_realtime_send()
RETURNS oid
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * Supabase's realtime.send(jsonb, text, text, boolean) is not an extension member, so
     * "genuine" means: the schema realtime and the function are both owned by a trusted
     * role, and the schema lets no untrusted role create objects in it (CREATE granted
     * neither to PUBLIC nor to any untrusted role). A trusted role is a superuser, one of
     * Supabase's own administrative roles, supabase_admin and supabase_realtime_admin, or the
     * owner of schema cachemon (who owns every cachemon function anyway; postgres on
     * Supabase). Off Supabase, a realtime.send planted by a role with CREATE on the
     * database is owned by that role and is ignored (NULL). Reads only the catalogs: no privilege on schema
     * realtime is needed (to_regprocedure raised "permission denied for schema realtime").
     * A role able to create a role named supabase_admin (CREATEROLE) is outside the threat
     * model: it can already grant itself cachemon_admin.
     */
    WITH trusted AS (
        SELECT r.oid
          FROM pg_catalog.pg_roles AS r
         WHERE r.rolsuper OR r.rolname IN ('supabase_admin', 'supabase_realtime_admin')
        UNION
        SELECT n.nspowner FROM pg_catalog.pg_namespace AS n WHERE n.nspname = 'cachemon'
    )
    SELECT p.oid
      FROM pg_catalog.pg_namespace AS n
      JOIN pg_catalog.pg_proc AS p ON p.pronamespace = n.oid
     WHERE n.nspname = 'realtime'
       AND p.proname = 'send'
       AND pg_catalog.array_to_string(p.proargtypes::pg_catalog.oid[], ',')
           = pg_catalog.array_to_string(
                 ARRAY['jsonb', 'text', 'text', 'boolean']::pg_catalog.regtype[]::pg_catalog.oid[], ',')
       AND n.nspowner IN (SELECT oid FROM trusted)
       AND p.proowner IN (SELECT oid FROM trusted)
       AND NOT EXISTS (
           SELECT FROM pg_catalog.aclexplode(coalesce(n.nspacl,
                                                      pg_catalog.acldefault('n', n.nspowner))) AS a
            WHERE a.privilege_type = 'CREATE'
              AND a.grantee NOT IN (SELECT oid FROM trusted))
     LIMIT 1
$function$;

COMMENT ON FUNCTION cachemon._genuine_realtime_send() IS
    'Internal: oid of Supabase''s realtime.send(jsonb, text, text, boolean) only when it and schema realtime are owned by a superuser, supabase_admin/supabase_realtime_admin or cachemon''s owner, and no other role may create in that schema; else NULL.';

REVOKE ALL ON FUNCTION cachemon._genuine_realtime_send() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._genuine_realtime_send() TO cachemon_admin;

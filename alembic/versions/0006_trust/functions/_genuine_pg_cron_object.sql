CREATE OR REPLACE FUNCTION cachemon._genuine_pg_cron_object(p_name text, p_argtypes regtype[] DEFAULT NULL)
RETURNS oid
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * cachemon never trusts an object outside its own schema and pg_catalog by name: where
     * pg_cron is absent, any role with CREATE on the database can create a schema "cron" with
     * a table "job_run_details" (and a trigger on it) or a function "schedule", and whatever
     * it planted would run as the caller. This returns the oid of the table p_name (p_argtypes
     * NULL) or of the function p_name(p_argtypes) only when that object is a member of the
     * installed extension pg_cron (pg_depend deptype 'e' on its pg_extension row) and lives in
     * schema cron, itself a member of that extension; else NULL. pg_cron is not a trusted extension, so only a
     * superuser can have installed it. Reads only the catalogs, so it needs no privilege on
     * schema cron and never raises "permission denied for schema".
     */
    SELECT d.objid
      FROM pg_catalog.pg_extension AS e
      JOIN pg_catalog.pg_depend AS d
        ON d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
       AND d.refobjid = e.oid
       AND d.deptype = 'e'
      LEFT JOIN pg_catalog.pg_class AS c
        ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND c.oid = d.objid
      LEFT JOIN pg_catalog.pg_proc AS p
        ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND p.oid = d.objid
      JOIN pg_catalog.pg_namespace AS n ON n.nspname = 'cron'
     WHERE e.extname = 'pg_cron'
       AND EXISTS (SELECT FROM pg_catalog.pg_depend AS s
                    WHERE s.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
                      AND s.objid = n.oid
                      AND s.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
                      AND s.refobjid = e.oid
                      AND s.deptype = 'e')
       AND CASE WHEN p_argtypes IS NULL
                THEN c.relname = p_name AND c.relkind = 'r'
                     AND c.relnamespace = n.oid
                ELSE p.proname = p_name AND p.pronamespace = n.oid
                     AND pg_catalog.array_to_string(p.proargtypes::pg_catalog.oid[], ',')
                         = pg_catalog.array_to_string(p_argtypes::pg_catalog.oid[], ',')
           END
     LIMIT 1
$function$;

COMMENT ON FUNCTION cachemon._genuine_pg_cron_object(text, regtype[]) IS
    'Internal: oid of table cron.<name> (argtypes NULL) or function cron.<name>(argtypes) only if it belongs to the installed extension pg_cron (pg_depend), else NULL; never trusts a planted schema cron.';

REVOKE ALL ON FUNCTION cachemon._genuine_pg_cron_object(text, regtype[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._genuine_pg_cron_object(text, regtype[]) TO cachemon_admin;

-- Remove every object of schema cachemon except Alembic's version table (env.py drops that
-- table and the schema once the version row is gone). Roles stay: they are cluster-wide.
DO $downgrade$
DECLARE
    v_obj record;
BEGIN
    FOR v_obj IN
        SELECT c.relname
          FROM pg_catalog.pg_class AS c
         WHERE c.relnamespace = 'cachemon'::regnamespace
           AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
           AND c.relname <> 'alembic_version'
           AND NOT c.relispartition
    LOOP
        EXECUTE pg_catalog.format('DROP TABLE IF EXISTS cachemon.%I CASCADE', v_obj.relname);
    END LOOP;
    FOR v_obj IN
        SELECT p.oid::regprocedure AS sig, p.prokind
          FROM pg_catalog.pg_proc AS p
         WHERE p.pronamespace = 'cachemon'::regnamespace
         ORDER BY p.prokind = 'a' DESC
    LOOP
        EXECUTE pg_catalog.format('DROP %s IF EXISTS %s CASCADE',
            CASE v_obj.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
            v_obj.sig);
    END LOOP;
    FOR v_obj IN
        SELECT t.typname
          FROM pg_catalog.pg_type AS t
         WHERE t.typnamespace = 'cachemon'::regnamespace
           AND t.typtype IN ('c', 'd', 'e')
           AND NOT EXISTS (SELECT FROM pg_catalog.pg_class AS c WHERE c.oid = t.typrelid AND c.relkind <> 'c')
    LOOP
        EXECUTE pg_catalog.format('DROP TYPE IF EXISTS cachemon.%I CASCADE', v_obj.typname);
    END LOOP;
    FOR v_obj IN
        SELECT s.relname FROM pg_catalog.pg_class AS s
         WHERE s.relnamespace = 'cachemon'::regnamespace AND s.relkind = 'S'
    LOOP
        EXECUTE pg_catalog.format('DROP SEQUENCE IF EXISTS cachemon.%I CASCADE', v_obj.relname);
    END LOOP;
END
$downgrade$;

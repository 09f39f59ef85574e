CREATE OR REPLACE FUNCTION cachemon._fmt(p_value double precision, p_decimals integer)
RETURNS text
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * Numbers for auditor messages: thousands separated by ',' and a '.' decimal point
     * whatever lc_numeric says ("1,240", "52.1"), "n/a" for NULL.
     */
    SELECT CASE WHEN p_value IS NULL THEN 'n/a'
                WHEN p_value = 'NaN'::double precision THEN 'n/a'
                ELSE pg_catalog.ltrim(pg_catalog.to_char(
                    pg_catalog.round(p_value::numeric, greatest(p_decimals, 0)),
                    'FM999,999,999,999,990' || CASE WHEN p_decimals > 0
                        THEN '.' || pg_catalog.repeat('0', p_decimals) ELSE '' END))
           END;
$function$;

COMMENT ON FUNCTION cachemon._fmt(double precision, integer) IS
    'Internal: a number formatted for auditor messages (1,240 / 52.1), n/a for NULL.';

REVOKE ALL ON FUNCTION cachemon._fmt(double precision, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._fmt(double precision, integer) TO cachemon_reader, cachemon_admin;

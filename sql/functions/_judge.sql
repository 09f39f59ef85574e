CREATE OR REPLACE FUNCTION cachemon._judge(
    p_deviation double precision,
    p_significant boolean,
    p_enough boolean,
    p_rule cachemon._auditor_rules,
    OUT state text,
    OUT severity text
)
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * The verdict every rule gives the same way. Too little traffic or no value: 'hold'
     * (the rule cannot judge, so nothing opens and nothing clears). At or beyond the
     * warning threshold and statistically significant: 'breach', 'critical' from the
     * critical threshold on. Below the (lower) clear threshold: 'clear'. Anything between,
     * or beyond the threshold but not significant: 'hold'. That band is the hysteresis.
     */
    SELECT CASE WHEN NOT coalesce(p_enough, false) OR p_deviation IS NULL THEN 'hold'
                WHEN p_deviation >= p_rule.warning_threshold AND coalesce(p_significant, false)
                    THEN 'breach'
                WHEN p_deviation < p_rule.clear_threshold THEN 'clear'
                ELSE 'hold' END,
           CASE WHEN coalesce(p_enough, false) AND p_deviation >= p_rule.warning_threshold
                     AND coalesce(p_significant, false)
                THEN CASE WHEN p_deviation >= p_rule.critical_threshold
                          THEN 'critical' ELSE 'warning' END END;
$function$;

COMMENT ON FUNCTION cachemon._judge(double precision, boolean, boolean, cachemon._auditor_rules) IS
    'Internal: a rule''s verdict (state breach/hold/clear and severity) from a deviation, its significance and whether there was enough traffic.';

REVOKE ALL ON FUNCTION cachemon._judge(double precision, boolean, boolean, cachemon._auditor_rules) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._judge(double precision, boolean, boolean, cachemon._auditor_rules)
    TO cachemon_reader, cachemon_admin;

CREATE OR REPLACE FUNCTION cachemon._auditor_rule(p_rule text)
RETURNS cachemon._auditor_rules
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_rule cachemon._auditor_rules;
BEGIN
    /* One place that reads a rule's thresholds, so a missing row is a clear error. */
    SELECT r.* INTO v_rule FROM cachemon._auditor_rules AS r WHERE r.rule = p_rule;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'auditor rule % has no row in cachemon._auditor_rules',
            pg_catalog.quote_literal(p_rule)
            USING ERRCODE = 'undefined_object',
                  HINT = 'SELECT rule, enabled FROM cachemon._auditor_rules lists the rules';
    END IF;
    RETURN v_rule;
END
$function$;

COMMENT ON FUNCTION cachemon._auditor_rule(text) IS
    'Internal: the row of cachemon._auditor_rules for a rule (thresholds, params); an unknown rule is an error.';

REVOKE ALL ON FUNCTION cachemon._auditor_rule(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._auditor_rule(text) TO cachemon_reader, cachemon_admin;

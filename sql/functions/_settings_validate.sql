CREATE OR REPLACE FUNCTION cachemon._settings_validate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_rule cachemon._setting_rules;
    v_pair record;
    v_ok boolean;
BEGIN
    /*
     * Runs only as the trigger it was written for: the deferred AFTER INSERT OR UPDATE
     * constraint trigger, FOR EACH ROW, on cachemon._settings. Attached to any other table (a
     * caller's table whose columns have types of the caller's, with implicit casts
     * into what the body computes), it would run the caller's functions with this function's
     * rights: it refuses before reading NEW. No role has EXECUTE on it (firing a trigger
     * checks no EXECUTE; only the owner creates the triggers).
     */
    IF TG_RELID <> 'cachemon._settings'::pg_catalog.regclass::pg_catalog.oid
       OR TG_LEVEL <> 'ROW' OR TG_WHEN <> 'AFTER' OR NOT (TG_OP = 'INSERT' OR TG_OP = 'UPDATE') THEN
        RAISE EXCEPTION 'cachemon._settings_validate: refuses to run as % % % trigger on %',
            TG_WHEN, TG_OP, TG_LEVEL, TG_RELID::pg_catalog.regclass
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'It is the deferred AFTER INSERT OR UPDATE row constraint trigger of cachemon._settings and of nothing else.';
    END IF;
    /*
     * Constraint trigger on cachemon._settings (AFTER INSERT OR UPDATE, FOR EACH ROW,
     * DEFERRABLE INITIALLY DEFERRED: checked at commit, so several settings may change in
     * one transaction and only the end state must hold). Reads the setting's rule in
     * cachemon._setting_rules: the value must read as its kind and lie within
     * [min_value, max_value]; then every cross-key rule (not_above) of the whole table is
     * checked, e.g. retention.raw <= retention.1min <= retention.1hour, without which
     * maintenance trims minutes that raw events still hold and a late event rebuilds an
     * hour from a fraction of its minutes. Whichever way a setting is written (UPDATE by an
     * admin, a migration, the owner), a value out of its rule is refused, naming the setting,
     * the value and the rule. An interval never holds months or years (as _check_interval
     * refuses them elsewhere): '1 mon' of retention is 28 to 31 days depending on the date,
     * so "raw at most as long as 1-minute" would hold on paper and break on real dates. A
     * setting is never renamed (only its value changes; a foreign key from its rule forbids
     * it too). Invoker rights: reading the rules needs only SELECT.
     */
    -- A setting keeps its name: every function reads it by name, so a renamed setting
    -- (which its rule, a foreign key, also forbids) would stop ingest, tick and the verdict.
    IF TG_OP = 'UPDATE' AND NEW.name IS DISTINCT FROM OLD.name THEN
        RAISE EXCEPTION 'cachemon setting % may not be renamed (to %): only its value may change',
            OLD.name, NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'UPDATE cachemon._settings SET value = ... WHERE name = ...';
    END IF;
    SELECT r.* INTO v_rule FROM cachemon._setting_rules AS r WHERE r.name = NEW.name;
    IF FOUND THEN
        BEGIN
            v_ok := CASE v_rule.kind
                WHEN 'interval' THEN
                    pg_catalog.date_part('year', NEW.value::interval) = 0
                    AND pg_catalog.date_part('month', NEW.value::interval) = 0
                    AND NEW.value::interval BETWEEN coalesce(v_rule.min_value::interval, NEW.value::interval)
                                            AND coalesce(v_rule.max_value::interval, NEW.value::interval)
                WHEN 'integer' THEN
                    NEW.value ~ '^\s*[+-]?[0-9]+\s*$'
                    AND NEW.value::bigint BETWEEN coalesce(v_rule.min_value::bigint, NEW.value::bigint)
                                              AND coalesce(v_rule.max_value::bigint, NEW.value::bigint)
                WHEN 'number' THEN
                    NEW.value::double precision BETWEEN coalesce(v_rule.min_value::double precision, '-Infinity')
                                                    AND coalesce(v_rule.max_value::double precision, 'Infinity')
                    AND NEW.value::double precision NOT IN ('Infinity', '-Infinity', 'NaN')
                WHEN 'integers' THEN
                    NEW.value ~ '^\s*\{\s*[0-9]{1,9}(\s*,\s*[0-9]{1,9}){0,19}\s*\}\s*$'
                    AND NOT EXISTS (
                        SELECT FROM pg_catalog.unnest(NEW.value::bigint[]) AS e(v)
                         WHERE e.v < coalesce(v_rule.min_value::bigint, e.v)
                            OR e.v > coalesce(v_rule.max_value::bigint, e.v))
                WHEN 'boolean' THEN NEW.value::boolean IS NOT NULL
                ELSE true
            END;
        EXCEPTION WHEN data_exception THEN
            v_ok := false;
        END;
        IF NOT v_ok THEN
            RAISE EXCEPTION 'cachemon setting % = % is invalid: it must be % from % to %',
                NEW.name, pg_catalog.quote_literal(NEW.value), CASE v_rule.kind
                    WHEN 'integer' THEN 'an integer' WHEN 'number' THEN 'a number'
                    WHEN 'integers' THEN 'a list of 1 to 20 integers such as {2,5,15}, each'
                    WHEN 'boolean' THEN 'true or false'
                    WHEN 'interval' THEN 'an interval in days, hours or minutes (no months or years, whose length depends on the calendar)'
                    ELSE 'an ' || v_rule.kind END,
                coalesce(v_rule.min_value, '(no minimum)'), coalesce(v_rule.max_value, '(no maximum)')
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'The rules are in cachemon._setting_rules.';
        END IF;
    END IF;

    FOR v_pair IN
        SELECT r.name, r.kind, r.not_above, a.value AS low, b.value AS high
          FROM cachemon._setting_rules AS r
          JOIN cachemon._settings AS a ON a.name = r.name
          JOIN cachemon._settings AS b ON b.name = r.not_above
         WHERE r.not_above IS NOT NULL
    LOOP
        v_ok := CASE v_pair.kind
            WHEN 'interval' THEN v_pair.low::interval <= v_pair.high::interval
            WHEN 'integer' THEN v_pair.low::bigint <= v_pair.high::bigint
            WHEN 'number' THEN v_pair.low::double precision <= v_pair.high::double precision
            ELSE true
        END;
        IF NOT v_ok THEN
            RAISE EXCEPTION 'cachemon setting % = % may not exceed % = %',
                v_pair.name, pg_catalog.quote_literal(v_pair.low),
                v_pair.not_above, pg_catalog.quote_literal(v_pair.high)
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'Retention must not shrink from raw events to 1-minute to 1-hour rows: a rollup row must outlive the rows it is built from.',
                      HINT = 'Change both settings in one transaction if needed; the rules are in cachemon._setting_rules.';
        END IF;
    END LOOP;
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION cachemon._settings_validate() IS
    'Trigger (deferred constraint trigger on _settings, and only there; no role has EXECUTE): a setting''s value must match its row in _setting_rules (kind, min_value, max_value; intervals without months or years) and every not_above invariant must hold (e.g. retention.raw <= retention.1min <= retention.1hour); a setting may not be renamed.';

-- Nobody but the owner may attach it (CREATE TRIGGER needs EXECUTE; firing does not).
REVOKE ALL ON FUNCTION cachemon._settings_validate() FROM PUBLIC, cachemon_writer, cachemon_reader, cachemon_admin;

DROP TRIGGER IF EXISTS _settings_validate ON cachemon._settings;
CREATE CONSTRAINT TRIGGER _settings_validate
    AFTER INSERT OR UPDATE ON cachemon._settings
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION cachemon._settings_validate();

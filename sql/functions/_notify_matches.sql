CREATE OR REPLACE FUNCTION cachemon._notify_matches(p_matchers jsonb, p_labels jsonb)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    /*
     * Alertmanager's matchers over a finding's labels (implementation, rule, severity,
     * category): every matcher must hold; an empty list matches everything. Operators
     * = != =~ !~; regular expressions are anchored at both ends as in Alertmanager. A label
     * the finding lacks reads as the empty string. The matchers were checked when stored
     * (cachemon._notify_check_matchers), so a malformed one never reaches this function.
     */
    SELECT coalesce(bool_and(
               CASE m ->> 'op'
                   WHEN '=' THEN coalesce(p_labels ->> (m ->> 'name'), '') = (m ->> 'value')
                   WHEN '!=' THEN coalesce(p_labels ->> (m ->> 'name'), '') <> (m ->> 'value')
                   WHEN '=~' THEN coalesce(p_labels ->> (m ->> 'name'), '') ~ ('^(?:' || (m ->> 'value') || ')$')
                   WHEN '!~' THEN coalesce(p_labels ->> (m ->> 'name'), '') !~ ('^(?:' || (m ->> 'value') || ')$')
               END), true)
      FROM pg_catalog.jsonb_array_elements(p_matchers) AS m
$function$;

COMMENT ON FUNCTION cachemon._notify_matches(jsonb, jsonb) IS
    'Internal: whether labels satisfy every matcher {name, op (= != =~ !~), value} of a route, silence or inhibit rule (regexes anchored, as in Alertmanager); [] matches all.';

REVOKE ALL ON FUNCTION cachemon._notify_matches(jsonb, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._notify_matches(jsonb, jsonb) TO cachemon_admin, cachemon_reader;

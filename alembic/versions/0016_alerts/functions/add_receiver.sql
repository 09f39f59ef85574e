CREATE OR REPLACE FUNCTION cachemon.add_receiver(
    p_name text,
    p_kind text,
    p_url text,
    p_password text DEFAULT NULL,
    p_options jsonb DEFAULT '{}'::jsonb,
    p_send_resolved boolean DEFAULT true,
    p_allow_private boolean DEFAULT false,
    p_timeout_s double precision DEFAULT 10,
    p_max_attempts integer DEFAULT 30,
    p_backoff_s double precision DEFAULT 1,
    p_backoff_max_s double precision DEFAULT 600)
RETURNS SETOF cachemon.notify_receivers
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_endpoint text;
BEGIN
    /*
     * Creates or replaces a receiver. The URL (which carries a Slack or webhook token) and
     * the SMTP password go to _notify_secrets (cachemon_admin only); notify_receivers keeps
     * the endpoint without secrets. Options are the receiver's non-secret settings:
     * dashboard_url (links in messages); for email: from, to (a list), subject_prefix.
     */
    IF p_name IS NULL OR p_name !~ '^[a-z0-9][a-z0-9_.-]{0,62}$' THEN
        RAISE EXCEPTION 'cachemon: receiver name % must be 1-63 lowercase letters, digits, _ . -',
            coalesce(p_name, 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_kind IS NULL OR p_kind NOT IN ('webhook', 'alertmanager', 'email', 'slack') THEN
        RAISE EXCEPTION 'cachemon: receiver kind % is not one of webhook, alertmanager, email, slack',
            coalesce(p_kind, 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_endpoint := cachemon._notify_check_url(p_kind, p_url, p_allow_private);
    IF p_options IS NULL OR pg_catalog.jsonb_typeof(p_options) <> 'object'
       OR pg_catalog.length(p_options::text) > 4000
       OR EXISTS (SELECT FROM pg_catalog.jsonb_object_keys(p_options) AS k
                   WHERE k NOT IN ('dashboard_url', 'from', 'to', 'subject_prefix')) THEN
        RAISE EXCEPTION 'cachemon: options % must be an object with only dashboard_url, from, to, subject_prefix',
            left(coalesce(p_options::text, 'NULL'), 200) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_kind = 'email' AND (pg_catalog.jsonb_typeof(p_options -> 'to') IS DISTINCT FROM 'array'
        OR pg_catalog.jsonb_array_length(p_options -> 'to') = 0
        OR pg_catalog.jsonb_typeof(p_options -> 'from') IS DISTINCT FROM 'string') THEN
        RAISE EXCEPTION 'cachemon: an email receiver needs options from (text) and to (a non-empty list)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (p_options ->> 'dashboard_url') IS NOT NULL AND (p_options ->> 'dashboard_url') !~ '^https?://[^[:space:][:cntrl:]"<>]+$' THEN
        RAISE EXCEPTION 'cachemon: options.dashboard_url % is not an http(s) URL',
            left(p_options ->> 'dashboard_url', 200) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.jsonb_array_elements_text(
                   CASE WHEN pg_catalog.jsonb_typeof(p_options -> 'to') = 'array' THEN p_options -> 'to' ELSE '[]' END) AS a
                WHERE a !~ '^[^[:space:][:cntrl:]<>,@]+@[^[:space:][:cntrl:]<>,@]+$')
       OR (p_options ->> 'from') ~ '[[:cntrl:]<>,]' THEN
        RAISE EXCEPTION 'cachemon: options.from and options.to must be plain e-mail addresses'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO cachemon.notify_receivers AS r
           (name, kind, endpoint, send_resolved, allow_private, timeout_s, max_attempts,
            backoff_s, backoff_max_s, options)
    VALUES (p_name, p_kind, v_endpoint, coalesce(p_send_resolved, true),
            coalesce(p_allow_private, false), p_timeout_s, p_max_attempts, p_backoff_s,
            p_backoff_max_s, p_options)
    ON CONFLICT (name) DO UPDATE
       SET kind = excluded.kind, endpoint = excluded.endpoint,
           send_resolved = excluded.send_resolved, allow_private = excluded.allow_private,
           timeout_s = excluded.timeout_s, max_attempts = excluded.max_attempts,
           backoff_s = excluded.backoff_s, backoff_max_s = excluded.backoff_max_s,
           options = excluded.options;
    INSERT INTO cachemon._notify_secrets AS s (receiver, url, password)
    VALUES (p_name, p_url, p_password)
    ON CONFLICT (receiver) DO UPDATE SET url = excluded.url, password = excluded.password;
    RETURN QUERY SELECT * FROM cachemon.notify_receivers AS r WHERE r.name = p_name;
END
$function$;

COMMENT ON FUNCTION cachemon.add_receiver(text, text, text, text, jsonb, boolean, boolean, double precision, integer, double precision, double precision) IS
    'Create or replace a notification receiver (webhook, alertmanager, email, slack); the URL and password are stored readable by cachemon_admin only; private and metadata hosts need p_allow_private.';

REVOKE ALL ON FUNCTION cachemon.add_receiver(text, text, text, text, jsonb, boolean, boolean, double precision, integer, double precision, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.add_receiver(text, text, text, text, jsonb, boolean, boolean, double precision, integer, double precision, double precision) TO cachemon_admin;

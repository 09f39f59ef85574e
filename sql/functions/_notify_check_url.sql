CREATE OR REPLACE FUNCTION cachemon._notify_check_url(p_kind text, p_url text, p_allow_private boolean)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_m text[];
    v_host text;
    v_ip inet;
BEGIN
    /*
     * Checks a receiver URL and returns its endpoint without secrets (scheme://host:port),
     * the part cachemon_reader may see. http(s) for webhook, alertmanager and slack;
     * smtp (STARTTLS optional, ?starttls=1) or smtps for email. No control characters or
     * spaces. A host that is a literal private, loopback, link-local (the cloud metadata
     * address 169.254.169.254), shared, multicast or unspecified address, or a name such
     * as localhost or metadata.google.internal, is refused unless p_allow_private: an admin
     * must say so explicitly (tests do for 127.0.0.1). Names are resolved by the worker,
     * which applies the same rule to every address a name resolves to before it connects.
     */
    IF p_url IS NULL OR pg_catalog.length(p_url) > 2000 OR p_url ~ '[[:cntrl:][:space:]]' THEN
        RAISE EXCEPTION 'cachemon: url must be at most 2000 characters without spaces or control characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_m := regexp_match(p_url,
        '^(https?|smtps?)://(?:[^@/?#]*@)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?(?:[/?#].*)?$');
    IF v_m IS NULL THEN
        RAISE EXCEPTION 'cachemon: url is not an absolute http(s) or smtp(s) URL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (p_kind = 'email') <> (v_m[1] IN ('smtp', 'smtps')) THEN
        RAISE EXCEPTION 'cachemon: a % receiver takes % URLs, not %', p_kind,
            CASE WHEN p_kind = 'email' THEN 'smtp:// or smtps://' ELSE 'http:// or https://' END,
            v_m[1] || '://' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_m[1] IN ('http', 'https') AND p_url ~ '^https?://[^/?#]*@' THEN
        RAISE EXCEPTION 'cachemon: url must not carry a user or password before the host'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_m[3] IS NOT NULL AND v_m[3]::integer NOT BETWEEN 1 AND 65535 THEN
        RAISE EXCEPTION 'cachemon: url port % is out of range', v_m[3]
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_host := lower(trim(both '[]' from v_m[2]));
    BEGIN
        v_ip := v_host::inet;
    EXCEPTION WHEN invalid_text_representation THEN
        v_ip := NULL;
    END;
    IF NOT coalesce(p_allow_private, false) AND (
        v_host IN ('localhost', 'metadata', 'metadata.google.internal', 'instance-data')
        OR v_host LIKE '%.localhost' OR v_host LIKE '%.internal' OR v_host LIKE '%.local'
        OR (v_ip IS NOT NULL AND (
            v_ip <<= ANY (ARRAY['0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8',
                               '169.254.0.0/16', '172.16.0.0/12', '192.0.0.0/24',
                               '192.168.0.0/16', '198.18.0.0/15', '224.0.0.0/3',
                               '::/128', '::1/128', '::ffff:0:0/96', 'fc00::/7', 'fe80::/10',
                               'ff00::/8']::inet[])
            OR v_ip = ANY (ARRAY['0.0.0.0', '::']::inet[])))) THEN
        RAISE EXCEPTION 'cachemon: url host % is a private, loopback, link-local or metadata address', v_host
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'An admin may allow it explicitly (allow_private => true, --allow-private).';
    END IF;
    RETURN v_m[1] || '://' || v_m[2] || coalesce(':' || v_m[3], '');
END
$function$;

COMMENT ON FUNCTION cachemon._notify_check_url(text, text, boolean) IS
    'Internal: validates a receiver URL for its kind (http(s), or smtp(s) for email), refuses private, loopback, link-local and metadata hosts unless allowed, and returns the endpoint without secrets (scheme://host:port).';

REVOKE ALL ON FUNCTION cachemon._notify_check_url(text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._notify_check_url(text, text, boolean) TO cachemon_admin;

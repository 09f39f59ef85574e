CREATE OR REPLACE FUNCTION cachemon._check_interval(
    p_function text,
    p_parameter text,
    p_value interval,
    p_min interval,
    p_max interval
)
RETURNS interval
LANGUAGE plpgsql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * Validation of a user-given interval of the read API (time_window, resolution): not
     * NULL, no months or years (their length depends on the calendar, so a bucket of '1 month'
     * has no fixed width), between p_min and p_max. The error names the function and the
     * parameter, so a psql user or an RPC client sees which argument is wrong. Returns the
     * value, so callers can validate where they assign.
     */
    IF p_value IS NULL THEN
        RAISE EXCEPTION '%: % must not be NULL', p_function, p_parameter
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_catalog.date_part('year', p_value) <> 0 OR pg_catalog.date_part('month', p_value) <> 0 THEN
        RAISE EXCEPTION '%: % must be given in days, hours or minutes, not months or years (got %)',
            p_function, p_parameter, p_value
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_value < p_min OR p_value > p_max THEN
        RAISE EXCEPTION '%: % must be between % and % (got %)',
            p_function, p_parameter, p_min, p_max, p_value
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN p_value;
END
$function$;

COMMENT ON FUNCTION cachemon._check_interval(text, text, interval, interval, interval) IS
    'Internal: raises invalid_parameter_value naming the function and parameter unless the interval is not NULL, has no months or years and lies in [p_min, p_max]; returns it.';

REVOKE ALL ON FUNCTION cachemon._check_interval(text, text, interval, interval, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._check_interval(text, text, interval, interval, interval)
    TO cachemon_reader, cachemon_admin;

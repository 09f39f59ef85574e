CREATE OR REPLACE FUNCTION cachemon._check_now(p_now timestamptz, p_earliest timestamptz DEFAULT NULL)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_raw interval := cachemon._setting('retention.raw')::interval;
    v_lo timestamptz := coalesce(p_earliest, pg_catalog.now() - v_raw);
    v_hi timestamptz := pg_catalog.now() + interval '1 day';
BEGIN
    /*
     * The one bound on the p_now argument of every function that takes one (tick,
     * run_maintenance, acknowledge_observation, resolve_observation; compute_baseline and
     * run_auditor call it too). A time more than a day ahead of the database clock, or
     * further back than raw retention, is a typo or a broken clock, never a schedule:
     * run_maintenance('infinity') would loop over endless partitions, and
     * run_maintenance(now() + '1 year') would drop every partition. Returns p_now, so a
     * caller writes v_now := cachemon._check_now(p_now).
     *
     * p_earliest replaces the lower bound where the record acted on sets it: a finding may
     * be acknowledged or resolved at any time from its first_seen_at on (its own history,
     * which raw retention does not bound), never before it existed.
     */
    IF p_now IS NULL OR NOT pg_catalog.isfinite(p_now) OR p_now < v_lo OR p_now > v_hi THEN
        RAISE EXCEPTION 'cachemon: p_now % is outside the accepted range [%, %]',
            coalesce(p_now::text, 'NULL'), v_lo, v_hi
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = CASE WHEN p_earliest IS NULL THEN pg_catalog.format(
                      'Functions taking p_now accept at most 1 day ahead of the database clock and at most retention.raw = %s behind it.',
                      v_raw)
                      ELSE 'p_now may be at most 1 day ahead of the database clock and not before the record it acts on.' END,
                  HINT = 'Leave p_now out to use the database clock (now()).';
    END IF;
    RETURN p_now;
END
$function$;

COMMENT ON FUNCTION cachemon._check_now(timestamptz, timestamptz) IS
    'Internal: returns p_now when it lies within [now() - retention.raw (or p_earliest when given), now() + 1 day], else raises invalid_parameter_value; every function taking p_now calls it first.';

REVOKE ALL ON FUNCTION cachemon._check_now(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._check_now(timestamptz, timestamptz) TO cachemon_admin, cachemon_reader;

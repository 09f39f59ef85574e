CREATE OR REPLACE FUNCTION cachemon._cusum(p_now timestamptz)
RETURNS TABLE (
    implementation_type text,
    metric text,
    design text,
    statistic double precision,
    threshold double precision,
    segment_start timestamptz,
    segment_minutes integer,
    events double precision,
    exceedances double precision,
    expected_exceedances double precision,
    observed double precision,
    base double precision,
    recent double precision,
    recovery double precision
)
LANGUAGE plpgsql
STABLE
ROWS 16
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    /*
     * The auditor's sequential test (one-sided CUSUM per implementation and metric; the
     * statistics are described at cachemon._cusum_compute), for a reader. run_auditor
     * computes it once per run and passes the rows to the three rules that judge it
     * (error_rate, hit_rate_drop, response_time) as cachemon._cusum_stat[].
     */
    RETURN QUERY SELECT * FROM cachemon._cusum_compute(p_now);
END
$function$;

COMMENT ON FUNCTION cachemon._cusum(timestamptz) IS
    'Internal: the auditor''s sequential test per implementation and metric (error_rate, hit_rate, p50/p95/p99_response_time_ms): the one-sided CUSUM of per-minute log-likelihood ratios (threshold breached vs baseline), its segment and the segment''s value, the level to reach (threshold: greatest(auditor.cusum_h, auditor.cusum_h / 2 + the segment''s strongest minute)) and the reverse CUSUM since the peak (recovery), as of p_now. A rule breaches on it when statistic >= threshold, recent > 0 (still growing) and the segment''s value without its worst minute is beyond the rule''s threshold; run_auditor reads recovery >= auditor.cusum_h / 2 as an incident that is over.';

REVOKE ALL ON FUNCTION cachemon._cusum(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon._cusum(timestamptz) TO cachemon_reader, cachemon_admin;

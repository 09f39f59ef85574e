CREATE OR REPLACE FUNCTION cachemon._mark_edge_buckets()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_lo      timestamptz;
    v_hi      timestamptz;
    v_max_rt  double precision;
    v_ceiling double precision;
    v_oldest  timestamptz;
    v_newest  timestamptz;
    v_clash   record;
BEGIN
    /*
     * AFTER INSERT or DELETE, for each statement on cachemon.cache_metrics_edge: queues the
     * (minute, implementation) buckets the statement touched in cachemon._dirty_buckets, in
     * the statement's own transaction, so tick() merges edge rows exactly as it merges raw
     * events (the invariant of docs/rollups.md holds for both). On INSERT it first refuses,
     * with an error naming the field and the value (nothing of the statement is stored):
     * - a bucket outside [now - retention.raw, now + ingest.max_future], the window raw
     *   events are accepted in (tick() discards marks of older days);
     * - a latency_max above ingest.max_response_time_ms;
     * - a scale change inside one minute: rows of one source, minute, implementation and
     *   event type with different scales (a process's histogram keeps its scale within a
     *   minute; two scales there mean a confused or hostile sender).
     *
     * SECURITY DEFINER, so that the queue has no writer but the ingest triggers (and admins),
     * and so that the scale check can read the stored rows of the same key, which the writer
     * may not; it returns nothing of them. Its only inputs are the statement's transition
     * table, rows that already passed cachemon._edge_check and the table's CHECKs. Nobody
     * may execute it directly; it refuses to run for any other table or event.
     */
    IF TG_RELID <> 'cachemon.cache_metrics_edge'::regclass OR TG_WHEN <> 'AFTER'
       OR TG_LEVEL <> 'STATEMENT' OR TG_OP NOT IN ('INSERT', 'DELETE') THEN
        RAISE EXCEPTION 'cachemon._mark_edge_buckets: refuses to run as % % % trigger on %',
            TG_WHEN, TG_OP, TG_LEVEL, TG_RELID::regclass
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'It is the AFTER INSERT and AFTER DELETE statement trigger of cachemon.cache_metrics_edge and of nothing else.';
    END IF;
    IF TG_OP = 'DELETE' THEN
        INSERT INTO cachemon._dirty_buckets (bucket, implementation_type)
        SELECT DISTINCT o.bucket, o.implementation_type FROM edge_old_rows AS o;
        RETURN NULL;
    END IF;

    SELECT pg_catalog.min(n.bucket), pg_catalog.max(n.bucket), pg_catalog.max(n.latency_max)
      INTO v_lo, v_hi, v_max_rt FROM edge_new_rows AS n;
    IF v_lo IS NULL THEN
        RETURN NULL;
    END IF;
    v_oldest := pg_catalog.now() - cachemon._setting('retention.raw')::interval;
    v_newest := pg_catalog.now() + cachemon._setting('ingest.max_future')::interval;
    IF v_lo + interval '1 minute' <= v_oldest OR v_hi > v_newest THEN
        RAISE EXCEPTION 'cachemon: edge row field "bucket" has value % outside the accepted range [%, %]',
            CASE WHEN v_lo + interval '1 minute' <= v_oldest THEN v_lo ELSE v_hi END, v_oldest, v_newest
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Minutes older than the raw retention (retention.raw) or more than ingest.max_future ahead of the database clock are refused; nothing of this statement was stored.';
    END IF;
    v_ceiling := cachemon._setting('ingest.max_response_time_ms')::double precision;
    IF v_max_rt > v_ceiling THEN
        RAISE EXCEPTION 'cachemon: edge row field "latency_max" has value % above the accepted maximum %', v_max_rt, v_ceiling
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'ingest.max_response_time_ms caps response times at ingest; nothing of this statement was stored.';
    END IF;

    SELECT k.source, k.bucket, k.implementation_type, k.event_type,
           pg_catalog.array_agg(DISTINCT e.scale ORDER BY e.scale) AS scales
      INTO v_clash
      FROM (SELECT DISTINCT n.source, n.bucket, n.implementation_type, n.event_type
              FROM edge_new_rows AS n) AS k
      JOIN cachemon.cache_metrics_edge AS e
        ON e.source = k.source AND e.bucket = k.bucket
       AND e.implementation_type = k.implementation_type AND e.event_type = k.event_type
     GROUP BY k.source, k.bucket, k.implementation_type, k.event_type
    HAVING pg_catalog.count(DISTINCT e.scale) > 1
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'cachemon: edge row (source=%, bucket=%, implementation_type=%, event_type=%) field "scale" changes inside one minute: %',
            pg_catalog.quote_literal(pg_catalog.left(v_clash.source, 128)), v_clash.bucket,
            pg_catalog.quote_literal(v_clash.implementation_type), v_clash.event_type, v_clash.scales
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'All rows of one source, minute, implementation and event type must have one scale; nothing of this statement was stored.';
    END IF;

    INSERT INTO cachemon._dirty_buckets (bucket, implementation_type)
    SELECT DISTINCT n.bucket, n.implementation_type FROM edge_new_rows AS n;
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION cachemon._mark_edge_buckets() IS
    'Trigger (AFTER INSERT/DELETE, each statement on cache_metrics_edge): queues the touched (minute, implementation) buckets for tick(); on INSERT refuses minutes outside [now - retention.raw, now + ingest.max_future], latency_max above ingest.max_response_time_ms and a scale change inside one minute of one source and key. SECURITY DEFINER: the queue takes marks from the ingest triggers only, and the scale check reads stored rows the writer may not; inputs are rows that passed every check. Nobody may execute it; refuses any other table.';

REVOKE ALL ON FUNCTION cachemon._mark_edge_buckets() FROM PUBLIC;

DROP TRIGGER IF EXISTS cache_metrics_edge_mark_inserted ON cachemon.cache_metrics_edge;
CREATE TRIGGER cache_metrics_edge_mark_inserted
    AFTER INSERT ON cachemon.cache_metrics_edge
    REFERENCING NEW TABLE AS edge_new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cachemon._mark_edge_buckets();

DROP TRIGGER IF EXISTS cache_metrics_edge_mark_deleted ON cachemon.cache_metrics_edge;
CREATE TRIGGER cache_metrics_edge_mark_deleted
    AFTER DELETE ON cachemon.cache_metrics_edge
    REFERENCING OLD TABLE AS edge_old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cachemon._mark_edge_buckets();

CREATE OR REPLACE FUNCTION cachemon._mark_dirty_buckets()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_lo timestamptz;
    v_hi timestamptz;
    v_max_rt double precision;
    v_ceiling double precision;
    v_oldest timestamptz;
    v_newest timestamptz;
BEGIN
    /*
     * Runs only as the trigger it was written for: AFTER INSERT or AFTER DELETE, FOR EACH
     * STATEMENT, on cachemon.cache_metrics. Attached to any other table (a caller's temporary
     * table whose recorded_at is a type of the caller's with an implicit cast into
     * timestamptz, say), this SECURITY DEFINER body would evaluate the caller's cast function
     * as its owner, or forge queue marks from rows that are not events: it refuses before
     * reading anything. No role has EXECUTE on it either (firing a trigger checks no
     * EXECUTE; only the owner creates the triggers).
     */
    IF TG_RELID <> 'cachemon.cache_metrics'::pg_catalog.regclass::pg_catalog.oid
       OR TG_LEVEL <> 'STATEMENT' OR TG_WHEN <> 'AFTER' OR TG_OP NOT IN ('INSERT', 'DELETE') THEN
        RAISE EXCEPTION 'cachemon._mark_dirty_buckets: refuses to run as % % % trigger on %',
            TG_WHEN, TG_OP, TG_LEVEL, TG_RELID::pg_catalog.regclass
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'It is the AFTER INSERT / AFTER DELETE statement trigger of cachemon.cache_metrics and of nothing else.';
    END IF;
    /*
     * Statement-level AFTER INSERT / AFTER DELETE trigger on cachemon.cache_metrics (the
     * partitioned parent: INSERT, COPY and ingest_events all fire it). It appends the distinct
     * (minute, implementation) pairs the statement touched to cachemon._dirty_buckets, in the
     * statement's own transaction, so a mark commits (or rolls back) exactly with its rows:
     * the invariant tick() relies on (docs/rollups.md, "Why no mark is lost").
     *
     * Inserted events older than the raw retention window ('retention.raw') or further ahead
     * than 'ingest.max_future' are refused with an error naming the value and the accepted
     * range: the first would be dropped with its partition, the second has no partition yet.
     *
     * A response time above 'ingest.max_response_time_ms' (an admin's ceiling below the
     * column's own limit of one day) is refused the same way, whatever path inserted it.
     *
     * One pass over the transition table (a hash aggregate per minute and implementation) and
     * one small insert; the bounds are checked on the aggregate. Rows written straight into a
     * partition do not fire this statement trigger: only the parent is granted to cachemon
     * roles.
     *
     * SECURITY DEFINER, so that the queue has no writer but this trigger (and admins):
     * cachemon_writer has no privilege on cachemon._dirty_buckets, because a forged mark could
     * make tick() delete a minute's row or hold real minutes back. Its only inputs are the
     * statement's transition table, rows that already passed every CHECK of cache_metrics,
     * and their recorded_at range is checked here before the statement may commit.
     */
    IF TG_OP = 'INSERT' THEN
        WITH b AS (
            SELECT pg_catalog.date_bin('1 minute', n.recorded_at, '2000-01-01 00:00:00+00') AS bucket,
                   n.implementation_type,
                   pg_catalog.min(n.recorded_at) AS lo,
                   pg_catalog.max(n.recorded_at) AS hi,
                   pg_catalog.max(n.response_time_ms) AS max_rt
              FROM new_rows AS n
             GROUP BY 1, 2
        ), marked AS (
            INSERT INTO cachemon._dirty_buckets (bucket, implementation_type)
            SELECT b.bucket, b.implementation_type FROM b
        )
        SELECT pg_catalog.min(b.lo), pg_catalog.max(b.hi), pg_catalog.max(b.max_rt)
          INTO v_lo, v_hi, v_max_rt FROM b;

        v_ceiling := cachemon._setting('ingest.max_response_time_ms')::double precision;
        IF v_max_rt > v_ceiling THEN
            RAISE EXCEPTION 'cachemon: response_time_ms % is above the accepted maximum %', v_max_rt, v_ceiling
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'ingest.max_response_time_ms caps response times at ingest; nothing of this statement was stored.',
                      HINT = 'An admin may raise the setting up to 86400000 (one day) in cachemon._settings.';
        END IF;

        IF v_lo IS NOT NULL THEN
            v_oldest := pg_catalog.now() - cachemon._setting('retention.raw')::interval;
            v_newest := pg_catalog.now() + cachemon._setting('ingest.max_future')::interval;
            IF v_lo < v_oldest OR v_hi > v_newest THEN
                RAISE EXCEPTION 'cachemon: recorded_at % is outside the accepted range [%, %]',
                    CASE WHEN v_lo < v_oldest THEN v_lo ELSE v_hi END, v_oldest, v_newest
                    USING ERRCODE = 'invalid_parameter_value',
                          DETAIL = pg_catalog.format(
                              'Events older than the raw retention (retention.raw = %s) or more than ingest.max_future = %s ahead of the database clock are refused; nothing of this statement was stored.',
                              cachemon._setting('retention.raw'), cachemon._setting('ingest.max_future')),
                          HINT = 'Check the clock of the application; an admin may change the settings in cachemon._settings.';
            END IF;
        END IF;
    ELSE
        -- Deleted rows mark their minutes only within the range an insert accepts: a minute
        -- before the kept raw days has nothing left to recompute from (tick would discard its
        -- mark), and none lies ahead of ingest.max_future.
        v_oldest := pg_catalog.now() - cachemon._setting('retention.raw')::interval;
        v_newest := pg_catalog.now() + cachemon._setting('ingest.max_future')::interval;
        INSERT INTO cachemon._dirty_buckets (bucket, implementation_type)
        SELECT DISTINCT pg_catalog.date_bin('1 minute', o.recorded_at, '2000-01-01 00:00:00+00'),
               o.implementation_type
          FROM old_rows AS o
         WHERE o.recorded_at >= v_oldest AND o.recorded_at <= v_newest;
    END IF;
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION cachemon._mark_dirty_buckets() IS
    'Trigger (AFTER INSERT / AFTER DELETE, FOR EACH STATEMENT, on cache_metrics only; it refuses any other table, level, timing or operation, and no role has EXECUTE): queues the (minute, implementation) buckets a statement inserted into or deleted from cache_metrics for tick(), and refuses events outside [now - retention.raw, now + ingest.max_future] or slower than ingest.max_response_time_ms; deleted rows outside that range mark nothing. SECURITY DEFINER: the queue takes marks from this trigger only (the writer role has no privilege on it); its inputs are rows of cache_metrics that passed every CHECK.';

-- Nobody but the owner may attach it (CREATE TRIGGER needs EXECUTE; firing does not).
REVOKE ALL ON FUNCTION cachemon._mark_dirty_buckets() FROM PUBLIC, cachemon_writer, cachemon_reader, cachemon_admin;

DROP TRIGGER IF EXISTS cache_metrics_mark_inserted ON cachemon.cache_metrics;
CREATE TRIGGER cache_metrics_mark_inserted
    AFTER INSERT ON cachemon.cache_metrics
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cachemon._mark_dirty_buckets();

DROP TRIGGER IF EXISTS cache_metrics_mark_deleted ON cachemon.cache_metrics;
CREATE TRIGGER cache_metrics_mark_deleted
    AFTER DELETE ON cachemon.cache_metrics
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cachemon._mark_dirty_buckets();

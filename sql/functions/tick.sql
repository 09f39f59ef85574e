CREATE OR REPLACE FUNCTION cachemon.tick(p_now timestamptz DEFAULT pg_catalog.now())
RETURNS cachemon.tick_result
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- The rollup statements have large, uncertain cost estimates (row counts of a LATERAL per
-- run), which would make PostgreSQL JIT-compile them: 50-400 ms of compilation for a
-- statement that runs in tens of milliseconds. A tick is short work done every minute.
SET jit = off
AS $function$
DECLARE
    v_started timestamptz := pg_catalog.clock_timestamp();
    v_now timestamptz;
    v_result cachemon.tick_result;
    v_cap integer;
    v_buckets timestamptz[];
    v_impls text[];
    v_oldest_kept timestamptz;
    v_recent timestamptz;
    v_todo int4range[];
    v_range int4range;
    v_lo integer;
    v_hi integer;
    v_mid integer;
    v_minutes integer;
    v_hours integer;
    v_error text;
    v_state text;
BEGIN
    /*
     * One rollup step, run every minute (pg_cron job cachemon-tick or `cachemon scheduler`).
     *
     * 1. Refuses a p_now far from the database clock (cachemon._check_now). Skips on a
     *    standby (status 'standby') and when another tick holds the advisory lock (status
     *    'busy': pg_try_advisory_xact_lock, so ticks never queue behind each other).
     * 2. Claims at most 'tick.max_buckets' distinct (minute, implementation) buckets of
     *    cachemon._dirty_buckets by deleting their marks: first the minutes of the hour up to
     *    p_now, newest first, then all others (older, or ahead of p_now) oldest first. A
     *    backfill of old minutes never holds the current minute (nor the auditor, which
     *    leaves queued minutes out) behind it; old minutes go oldest first, before retention
     *    reaches them. Marks of days whose raw events retention has dropped (or is about to
     *    drop) are discarded, not recomputed: recomputing them would delete rows the raw
     *    events no longer back.
     * 3. Recomputes those minutes from raw rows (cachemon._rollup_minutes: exact percentiles
     *    and the latency sketch), then the hours they belong to from the minutes and the UTC
     *    days of those hours from the hours (cachemon._rollup_merge, one shape for both), all
     *    stored by cachemon._rollup_store.
     * 4. Isolation: step 3 runs in a subtransaction. When it fails (a value no domain
     *    should admit, a broken trigger, ...), the claimed buckets are split in halves and
     *    retried until the failing buckets stand alone; every other bucket advances. A failing
     *    bucket is queued again (a later tick retries it once the cause is fixed), counted in
     *    buckets_failed, its first error in failure, and reported with a WARNING.
     * 5. Calls cachemon.run_auditor(p_now) when that function exists (looked up with
     *    to_regprocedure, so this revision does not depend on the auditor's), unless this
     *    tick rolled up nothing and the auditor already judged the minute of p_now (a row
     *    of _audit_state with that last_window_end): its windows end at that minute and
     *    their minute rows are unchanged, and a second run in a minute counts nothing again.
     *    An idle tick then costs the claim, not the auditor (whose cost grows with the
     *    traffic of its windows); a person's resolve or a new baseline is judged at the next
     *    minute. Result auditor = 'skipped: minute already judged'. A run that failed left
     *    _audit_state as it was, so the next tick runs the auditor again.
     *    An error of the auditor is caught in a subtransaction: the rollups of this tick
     *    still commit, the status is 'auditor_failed', the auditor field says
     *    'failed: <error>' (and a WARNING), and cachemon._auditor_health records it
     *    (cachemon._auditor_outcome); the next run that succeeds says
     *    'ran; recovered after failing since ...'.
     *
     * Invariant (docs/rollups.md): every committed raw row is reflected in its 1-minute row,
     * or a committed mark of its bucket is queued. A mark commits with its rows; a tick
     * deletes only marks visible to its claim statement, and reads raw rows in a later
     * statement, whose snapshot (READ COMMITTED) contains every row of those marks. A mark
     * committed after the claim stays queued, so the next tick recomputes its bucket. Ticks
     * are serialized by the lock, so a later write of a bucket never uses an older snapshot.
     * The order of the claim does not matter to it: a bucket not claimed keeps its marks.
     * Run tick in READ COMMITTED (the default): under REPEATABLE READ a concurrent tick's
     * write makes it fail with a serialization error rather than lose anything.
     *
     * Work is proportional to the claimed buckets, never to the size of the tables.
     */
    v_now := cachemon._check_now(p_now);
    v_result := ROW('done', 0, 0, 0, 0, NULL, 'absent', 0, 0, NULL)::cachemon.tick_result;
    IF pg_catalog.pg_is_in_recovery() THEN
        v_result.status := 'standby';
        v_result.auditor := 'skipped';
        RETURN v_result;
    END IF;
    IF NOT pg_catalog.pg_try_advisory_xact_lock(1667326824, 1953063787) THEN  -- 'cach', 'tick'
        v_result.status := 'busy';
        v_result.auditor := 'skipped';
        SELECT pg_catalog.count(*), pg_catalog.min(q.bucket)
          INTO v_result.buckets_left, v_result.oldest_pending
          FROM (SELECT DISTINCT d.bucket, d.implementation_type FROM cachemon._dirty_buckets AS d) AS q;
        v_result.duration_ms :=
            1000 * pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() - v_started);
        RETURN v_result;
    END IF;

    v_cap := cachemon._setting('tick.max_buckets')::integer;
    v_oldest_kept := pg_catalog.date_trunc(
        'day', v_now - cachemon._setting('retention.raw')::interval, 'UTC');

    -- Claim: delete every visible mark of at most v_cap distinct buckets, the recent ones
    -- (the hour up to p_now) newest first, then the others oldest first (see step 2 above).
    -- Each branch reads the index on (bucket, implementation_type) and stops at its limit.
    v_recent := v_now - interval '1 hour';
    WITH pick AS (
        (SELECT DISTINCT d.bucket, d.implementation_type
           FROM cachemon._dirty_buckets AS d
          WHERE d.bucket >= v_recent AND d.bucket <= v_now
          ORDER BY d.bucket DESC, d.implementation_type DESC
          LIMIT v_cap)
        UNION ALL
        (SELECT DISTINCT d.bucket, d.implementation_type
           FROM cachemon._dirty_buckets AS d
          WHERE d.bucket < v_recent OR d.bucket > v_now
          ORDER BY d.bucket, d.implementation_type
          LIMIT v_cap)
        LIMIT v_cap
    ), gone AS (
        DELETE FROM cachemon._dirty_buckets AS d
         USING pick AS p
         WHERE d.bucket = p.bucket AND d.implementation_type = p.implementation_type
        RETURNING 1
    )
    SELECT (SELECT pg_catalog.array_agg(p.bucket ORDER BY p.bucket, p.implementation_type)
              FROM pick AS p WHERE p.bucket >= v_oldest_kept),
           (SELECT pg_catalog.array_agg(p.implementation_type ORDER BY p.bucket, p.implementation_type)
              FROM pick AS p WHERE p.bucket >= v_oldest_kept),
           (SELECT pg_catalog.count(*) FROM gone)
      INTO v_buckets, v_impls, v_result.marks_claimed;

    IF v_buckets IS NOT NULL THEN
        v_todo := ARRAY[pg_catalog.int4range(1, pg_catalog.cardinality(v_buckets), '[]')];
        WHILE pg_catalog.cardinality(v_todo) > 0 LOOP
            v_range := v_todo[pg_catalog.cardinality(v_todo)];
            v_todo := v_todo[1:pg_catalog.cardinality(v_todo) - 1];
            v_lo := pg_catalog.lower(v_range);
            v_hi := pg_catalog.upper(v_range) - 1;
            BEGIN
                v_minutes := cachemon._rollup_minutes(v_buckets[v_lo:v_hi], v_impls[v_lo:v_hi]);
                v_hours := cachemon._rollup_merge('hour', v_buckets[v_lo:v_hi], v_impls[v_lo:v_hi]);
                PERFORM cachemon._rollup_merge('day', v_buckets[v_lo:v_hi], v_impls[v_lo:v_hi]);
                v_result.minutes_done := v_result.minutes_done + v_minutes;
                v_result.hours_done := v_result.hours_done + v_hours;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_error = MESSAGE_TEXT, v_state = RETURNED_SQLSTATE;
                IF v_lo < v_hi THEN
                    v_mid := (v_lo + v_hi) / 2;
                    v_todo := v_todo || pg_catalog.int4range(v_mid + 1, v_hi, '[]')
                                     || pg_catalog.int4range(v_lo, v_mid, '[]');
                ELSE
                    INSERT INTO cachemon._dirty_buckets (bucket, implementation_type)
                    VALUES (v_buckets[v_lo], v_impls[v_lo]);
                    v_result.buckets_failed := v_result.buckets_failed + 1;
                    v_result.failure := coalesce(v_result.failure, pg_catalog.format(
                        'bucket %s %s: %s (SQLSTATE %s)', v_buckets[v_lo], v_impls[v_lo], v_error, v_state));
                    RAISE WARNING 'cachemon.tick: bucket % of % failed to roll up and stays queued: % (SQLSTATE %)',
                        v_buckets[v_lo], v_impls[v_lo], v_error, v_state;
                END IF;
            END;
        END LOOP;
    END IF;

    SELECT pg_catalog.count(*), pg_catalog.min(q.bucket)
      INTO v_result.buckets_left, v_result.oldest_pending
      FROM (SELECT DISTINCT d.bucket, d.implementation_type FROM cachemon._dirty_buckets AS d) AS q;

    IF pg_catalog.to_regprocedure('cachemon.run_auditor(timestamptz)') IS NULL THEN
        NULL;
    ELSIF v_buckets IS NULL AND EXISTS (
            SELECT FROM cachemon._audit_state AS s
             WHERE s.last_window_end >= pg_catalog.date_trunc('minute', v_now, 'UTC')) THEN
        -- Nothing rolled up and this minute already judged: the auditor's input (the minute
        -- rows of windows ending at this minute) is what its last run read.
        v_result.auditor := 'skipped: minute already judged';
    ELSE
        BEGIN
            EXECUTE 'SELECT cachemon.run_auditor($1)' USING v_now;
            v_error := NULL;
        EXCEPTION WHEN OTHERS THEN
            v_error := pg_catalog.format('%s (SQLSTATE %s)', SQLERRM, SQLSTATE);
            v_result.status := 'auditor_failed';
            RAISE WARNING 'cachemon.tick: run_auditor failed: %', v_error;
        END;
        -- One place every surface reads (cachemon._auditor_health); a failure to record it
        -- is reported too, never hidden.
        BEGIN
            v_result.auditor := cachemon._auditor_outcome(v_error);
        EXCEPTION WHEN OTHERS THEN
            v_result.status := 'auditor_failed';
            v_result.auditor := pg_catalog.format('failed: %s; and its outcome was not recorded: %s (SQLSTATE %s)',
                                                  coalesce(v_error, 'no error'), SQLERRM, SQLSTATE);
            RAISE WARNING 'cachemon.tick: %', v_result.auditor;
        END;
    END IF;

    v_result.duration_ms :=
        1000 * pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() - v_started);
    RETURN v_result;
END
$function$;

COMMENT ON FUNCTION cachemon.tick(timestamptz) IS
    'Roll up (p_now within [now() - retention.raw, now() + 1 day]): recompute the queued (minute, implementation) buckets from raw events into cache_metrics_1min (exact percentiles, latency sketch), their hours into cache_metrics_1hour (merged sketches) and the days of those hours into _cache_metrics_1day, then call cachemon.run_auditor(p_now) if it exists (not when nothing was rolled up and the minute of p_now was already judged). At most tick.max_buckets buckets per call, the hour up to p_now newest first, then the others oldest first (a backfill never delays the current minute); a bucket that fails is reported (buckets_failed, failure, a WARNING) and stays queued while the others advance; skips on a standby or while another tick runs (status busy). A failing auditor makes the status auditor_failed, with the error in the auditor field, recorded in cachemon._auditor_health. Returns a cachemon.tick_result.';

REVOKE ALL ON FUNCTION cachemon.tick(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.tick(timestamptz) TO cachemon_admin;

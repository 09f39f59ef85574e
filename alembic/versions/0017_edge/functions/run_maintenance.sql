CREATE OR REPLACE FUNCTION cachemon.run_maintenance(p_now timestamptz DEFAULT pg_catalog.now())
RETURNS cachemon.maintenance_result
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- Every lock this function takes is waited for at most this long (a queued lock request
-- blocks the ingests behind it); a step that cannot get its lock is skipped and retried by the
-- next run.
SET lock_timeout = '1s'
AS $function$
DECLARE
    v_now timestamptz := cachemon._check_now(p_now);
    v_result cachemon.maintenance_result;
    v_raw interval := cachemon._setting('retention.raw')::interval;
    v_premake interval := GREATEST(cachemon._setting('partitions.premake')::interval,
                                   interval '4 days',
                                   cachemon._setting('ingest.max_future')::interval + interval '1 day');
    v_cutoff timestamptz := v_now - v_raw;
    v_day date;
    v_name text;
    v_from timestamptz;
    v_to timestamptz;
    v_count bigint;
    v_dropped_upto timestamptz;
    v_skipped text[] := '{}';
BEGIN
    /*
     * Partitions and retention, run hourly (pg_cron job cachemon-maintenance or
     * `cachemon scheduler`). p_now must lie near the database clock (cachemon._check_now:
     * at most a day ahead, at most retention.raw behind), so a typo cannot drop every
     * partition or loop over endless days. Same guards as tick: nothing on a standby, and a
     * try-lock so two runs never overlap (status 'busy').
     *
     * Locks. INSERTs into cache_metrics hold ROW EXCLUSIVE on the parent; every lock taken
     * here is held until this function's transaction commits, so the steps are ordered to
     * keep the parent free for ingest until the very end, and each waits at most
     * lock_timeout (1 s) for its lock (a waiting request blocks the ingests queued behind it):
     *
     * 1. Premake daily partitions cachemon.cache_metrics_pYYYYMMDD (UTC days) from the day
     *    holding p_now - retention.raw through p_now + partitions.premake (never less than 4
     *    days, and always beyond ingest.max_future). Each is created as a plain table, filled
     *    with the default partition's rows of its day if any, then attached: ATTACH PARTITION
     *    takes only SHARE UPDATE EXCLUSIVE on the parent, which ingest does not wait for
     *    (ACCESS EXCLUSIVE goes to the new table and the default partition only).
     * 2. Deletes cache_metrics_1min / _1hour rows past retention.1min / retention.1hour, the
     *    internal day rows (_cache_metrics_1day) of days past retention.1hour (the day the
     *    cutoff cuts is rebuilt from its remaining hours), stored batch ids past raw retention
     *    plus a day (_forget_ingested_batches), edge rows (cache_metrics_edge) of UTC days
     *    that ended before p_now - retention.raw, and old cron.job_run_details rows
     *    (cachemon._purge_cron_history). Row locks only.
     * 3. Reports rows still in the default partition (e.g. older than any kept day).
     * 4. Last, drops whole partitions whose day ended before p_now - retention.raw (never a
     *    DELETE of raw rows), and the queued marks of those days. DROP takes ACCESS EXCLUSIVE
     *    on the parent, held to commit: it is the last step, so ingest waits at most for the
     *    drops themselves (catalog work; the files go at commit). A step whose lock is not
     *    granted within lock_timeout is skipped (status 'partial', a WARNING) and retried by
     *    the next run.
     *
     * SECURITY DEFINER because creating, attaching and dropping partitions needs ownership of
     * cache_metrics, which cachemon_admin (the only grantee) does not have. Its one input,
     * p_now, is bounded by cachemon._check_now.
     */
    v_result := ROW('done', '{}', '{}', 0, 0, 0, 0, 0, 0)::cachemon.maintenance_result;
    IF pg_catalog.pg_is_in_recovery() THEN
        v_result.status := 'standby';
        RETURN v_result;
    END IF;
    IF NOT pg_catalog.pg_try_advisory_xact_lock(1667326824, 1835101812) THEN  -- 'cach', 'mant'
        v_result.status := 'busy';
        RETURN v_result;
    END IF;

    -- 1. Premake: create, fill from the default partition, attach (one step per day).
    FOR v_day IN
        SELECT d::date
          FROM pg_catalog.generate_series((v_cutoff AT TIME ZONE 'UTC')::date::timestamp,
                                          ((v_now + v_premake) AT TIME ZONE 'UTC')::date::timestamp,
                                          interval '1 day') AS d
    LOOP
        v_name := 'cache_metrics_p' || pg_catalog.to_char(v_day, 'YYYYMMDD');
        CONTINUE WHEN pg_catalog.to_regclass(pg_catalog.format('cachemon.%I', v_name)) IS NOT NULL;
        v_from := v_day::timestamp AT TIME ZONE 'UTC';
        v_to := (v_day + 1)::timestamp AT TIME ZONE 'UTC';
        BEGIN
            EXECUTE pg_catalog.format(
                'CREATE TABLE cachemon.%I (LIKE cachemon.cache_metrics INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                v_name);
            EXECUTE pg_catalog.format('ALTER TABLE cachemon.%I ENABLE ROW LEVEL SECURITY', v_name);
            EXECUTE pg_catalog.format('REVOKE ALL ON cachemon.%I FROM PUBLIC', v_name);
            IF EXISTS (SELECT FROM cachemon.cache_metrics_default AS d
                        WHERE d.recorded_at >= v_from AND d.recorded_at < v_to) THEN
                EXECUTE pg_catalog.format(
                    'WITH moved AS (DELETE FROM cachemon.cache_metrics_default'
                    ' WHERE recorded_at >= $1 AND recorded_at < $2 RETURNING *)'
                    ' INSERT INTO cachemon.%I SELECT * FROM moved', v_name)
                    USING v_from, v_to;
                GET DIAGNOSTICS v_count = ROW_COUNT;
                v_result.rows_moved := v_result.rows_moved + v_count;
            END IF;
            EXECUTE pg_catalog.format(
                'ALTER TABLE cachemon.cache_metrics ATTACH PARTITION cachemon.%I FOR VALUES FROM (%L) TO (%L)',
                v_name, v_from, v_to);
            v_result.partitions_created := v_result.partitions_created || v_name;
        EXCEPTION WHEN lock_not_available THEN
            v_skipped := v_skipped || ('create ' || v_name);
        END;
    END LOOP;

    -- 2. Rollup retention.
    DELETE FROM cachemon.cache_metrics_1min AS m
     WHERE m.bucket < v_now - cachemon._setting('retention.1min')::interval;
    GET DIAGNOSTICS v_result.minute_rows_deleted = ROW_COUNT;
    DELETE FROM cachemon.cache_metrics_1hour AS h
     WHERE h.bucket < v_now - cachemon._setting('retention.1hour')::interval;
    GET DIAGNOSTICS v_result.hour_rows_deleted = ROW_COUNT;
    -- Day rows follow the hours: days that ended before the cutoff go; the day the cutoff
    -- cuts is rebuilt from its remaining hours, so every day row stays the merge of its
    -- hourly rows (a summary reaching back there reads the same as from the hours).
    -- Not reported in maintenance_result (an internal table; the result type is the contract).
    DELETE FROM cachemon._cache_metrics_1day AS d
     WHERE d.bucket + interval '1 day' <= v_now - cachemon._setting('retention.1hour')::interval;
    PERFORM cachemon._rollup_days(pg_catalog.array_agg(d.bucket), pg_catalog.array_agg(d.implementation_type))
       FROM cachemon._cache_metrics_1day AS d
      WHERE d.bucket < v_now - cachemon._setting('retention.1hour')::interval;
    -- Edge rows (pre-aggregated raw events) follow raw retention by whole UTC days, as the
    -- partitions do; the marks their delete queues are of days tick() discards. Not reported
    -- in maintenance_result (the result type is the contract).
    DELETE FROM cachemon.cache_metrics_edge AS e
     WHERE e.bucket < pg_catalog.date_bin('1 day', v_cutoff, '2000-01-01 00:00:00+00');
    -- Batch ids (kept as long as a retry could still be accepted) and pg_cron history.
    v_result.batch_ids_deleted := cachemon._forget_ingested_batches(v_now);
    v_result.cron_runs_deleted := cachemon._purge_cron_history(v_now);

    -- 3. What is left in the default partition.
    SELECT pg_catalog.count(*) INTO v_result.default_rows_left FROM cachemon.cache_metrics_default;
    IF v_result.default_rows_left > 0 THEN
        RAISE NOTICE 'cachemon.run_maintenance: % rows remain in cachemon.cache_metrics_default (outside every kept day)',
            v_result.default_rows_left;
    END IF;

    -- 4. Drop expired days, last (see above), one step each.
    FOR v_name, v_to IN
        SELECT c.relname,
               (pg_catalog.to_date(pg_catalog.substr(c.relname, 16), 'YYYYMMDD') + 1)::timestamp
                   AT TIME ZONE 'UTC'
          FROM pg_catalog.pg_inherits AS i
          JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'cachemon.cache_metrics'::regclass
           AND c.relname ~ '^cache_metrics_p[0-9]{8}$'
         ORDER BY c.relname
    LOOP
        CONTINUE WHEN v_to > v_cutoff;
        BEGIN
            EXECUTE pg_catalog.format('DROP TABLE cachemon.%I', v_name);
            v_result.partitions_dropped := v_result.partitions_dropped || v_name;
            v_dropped_upto := GREATEST(v_dropped_upto, v_to);
        EXCEPTION WHEN lock_not_available THEN
            v_skipped := v_skipped || ('drop ' || v_name);
        END;
    END LOOP;
    IF v_dropped_upto IS NOT NULL THEN
        DELETE FROM cachemon._dirty_buckets AS d WHERE d.bucket < v_dropped_upto;
    END IF;

    IF pg_catalog.cardinality(v_skipped) > 0 THEN
        v_result.status := 'partial';
        RAISE WARNING 'cachemon.run_maintenance: skipped (lock not granted within lock_timeout, retried next run): %',
            pg_catalog.array_to_string(v_skipped, ', ');
    END IF;
    RETURN v_result;
END
$function$;

COMMENT ON FUNCTION cachemon.run_maintenance(timestamptz) IS
    'Partitions and retention (p_now within [now() - retention.raw, now() + 1 day]): premakes daily partitions of cache_metrics (moving rows out of the default partition), drops days past retention.raw, trims cache_metrics_1min/_1hour (and the internal _cache_metrics_1day), edge rows past raw retention, stored batch ids and cron.job_run_details. Partition DDL in short steps, each waiting at most lock_timeout = 1s (status partial when one is skipped); drops come last so ingest is blocked only by them. SECURITY DEFINER: partition DDL needs the table owner; p_now is bounded. Returns a cachemon.maintenance_result.';

REVOKE ALL ON FUNCTION cachemon.run_maintenance(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.run_maintenance(timestamptz) TO cachemon_admin;

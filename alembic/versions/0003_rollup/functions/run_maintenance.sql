CREATE OR REPLACE FUNCTION cachemon.run_maintenance(p_now timestamptz DEFAULT pg_catalog.now())
RETURNS cachemon.maintenance_result
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '30s'
AS $function$
DECLARE
    v_result cachemon.maintenance_result;
    v_raw interval := cachemon._setting('retention.raw')::interval;
    v_premake interval := GREATEST(cachemon._setting('partitions.premake')::interval,
                                   interval '4 days',
                                   cachemon._setting('ingest.max_future')::interval + interval '1 day');
    v_cutoff timestamptz := p_now - v_raw;
    v_day date;
    v_name text;
    v_from timestamptz;
    v_to timestamptz;
    v_count bigint;
    v_dropped_upto timestamptz;
BEGIN
    /*
     * Partitions and retention, run hourly (pg_cron job cachemon-maintenance or
     * `cachemon scheduler`). Same guards as tick: nothing on a standby, and a try-lock so two
     * runs never overlap (status 'busy').
     *
     * 1. Daily partitions cachemon.cache_metrics_pYYYYMMDD (UTC days) from the day holding
     *    p_now - retention.raw through p_now + partitions.premake (never less than 4 days, and
     *    always beyond ingest.max_future), so every event the ingest trigger accepts has one.
     *    When the default partition holds rows of a day being created, they are moved into the
     *    new table before it is attached (a plain CREATE ... PARTITION OF would fail on them).
     * 2. Drops whole partitions whose day ended before p_now - retention.raw (never a DELETE
     *    of raw rows), and the queued marks of those days (their raw rows are gone; the 1-minute
     *    rows stay until their own retention).
     * 3. Deletes cache_metrics_1min / _1hour rows past retention.1min / retention.1hour, and
     *    the internal day rows (_cache_metrics_1day) of days past retention.1hour (the day
     *    the cutoff cuts is rebuilt from its remaining hours).
     * 4. Deletes stored batch ids past raw retention plus a day (_forget_ingested_batches) and
     *    old cron.job_run_details rows (cachemon._purge_cron_history).
     * 5. Reports rows still in the default partition (e.g. older than any kept day).
     *
     * SECURITY DEFINER because creating, attaching and dropping partitions needs ownership of
     * cache_metrics, which cachemon_admin (the only grantee) does not have. lock_timeout bounds
     * the wait for the parent's lock behind a long ingest.
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

    -- 1. Premake.
    FOR v_day IN
        SELECT d::date
          FROM pg_catalog.generate_series((v_cutoff AT TIME ZONE 'UTC')::date::timestamp,
                                          ((p_now + v_premake) AT TIME ZONE 'UTC')::date::timestamp,
                                          interval '1 day') AS d
    LOOP
        v_name := 'cache_metrics_p' || pg_catalog.to_char(v_day, 'YYYYMMDD');
        CONTINUE WHEN pg_catalog.to_regclass(pg_catalog.format('cachemon.%I', v_name)) IS NOT NULL;
        v_from := v_day::timestamp AT TIME ZONE 'UTC';
        v_to := (v_day + 1)::timestamp AT TIME ZONE 'UTC';
        IF EXISTS (SELECT FROM cachemon.cache_metrics_default AS d
                    WHERE d.recorded_at >= v_from AND d.recorded_at < v_to) THEN
            EXECUTE pg_catalog.format(
                'CREATE TABLE cachemon.%I (LIKE cachemon.cache_metrics INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                v_name);
            EXECUTE pg_catalog.format(
                'WITH moved AS (DELETE FROM cachemon.cache_metrics_default'
                ' WHERE recorded_at >= $1 AND recorded_at < $2 RETURNING *)'
                ' INSERT INTO cachemon.%I SELECT * FROM moved', v_name)
                USING v_from, v_to;
            GET DIAGNOSTICS v_count = ROW_COUNT;
            v_result.rows_moved := v_result.rows_moved + v_count;
            EXECUTE pg_catalog.format(
                'ALTER TABLE cachemon.cache_metrics ATTACH PARTITION cachemon.%I FOR VALUES FROM (%L) TO (%L)',
                v_name, v_from, v_to);
        ELSE
            EXECUTE pg_catalog.format(
                'CREATE TABLE cachemon.%I PARTITION OF cachemon.cache_metrics FOR VALUES FROM (%L) TO (%L)',
                v_name, v_from, v_to);
        END IF;
        EXECUTE pg_catalog.format('ALTER TABLE cachemon.%I ENABLE ROW LEVEL SECURITY', v_name);
        EXECUTE pg_catalog.format('REVOKE ALL ON cachemon.%I FROM PUBLIC', v_name);
        v_result.partitions_created := v_result.partitions_created || v_name;
    END LOOP;

    -- 2. Drop expired days.
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
        EXECUTE pg_catalog.format('DROP TABLE cachemon.%I', v_name);
        v_result.partitions_dropped := v_result.partitions_dropped || v_name;
        v_dropped_upto := GREATEST(v_dropped_upto, v_to);
    END LOOP;
    IF v_dropped_upto IS NOT NULL THEN
        DELETE FROM cachemon._dirty_buckets AS d WHERE d.bucket < v_dropped_upto;
    END IF;

    -- 3. Rollup retention.
    DELETE FROM cachemon.cache_metrics_1min AS m
     WHERE m.bucket < p_now - cachemon._setting('retention.1min')::interval;
    GET DIAGNOSTICS v_result.minute_rows_deleted = ROW_COUNT;
    DELETE FROM cachemon.cache_metrics_1hour AS h
     WHERE h.bucket < p_now - cachemon._setting('retention.1hour')::interval;
    GET DIAGNOSTICS v_result.hour_rows_deleted = ROW_COUNT;
    -- Day rows follow the hours: days that ended before the cutoff go; the day the cutoff
    -- cuts is rebuilt from its remaining hours, so every day row stays the merge of its
    -- hourly rows (a summary reaching back there reads the same as from the hours).
    -- Not reported in maintenance_result (an internal table; the result type is the contract).
    DELETE FROM cachemon._cache_metrics_1day AS d
     WHERE d.bucket + interval '1 day' <= p_now - cachemon._setting('retention.1hour')::interval;
    PERFORM cachemon._rollup_days(pg_catalog.array_agg(d.bucket), pg_catalog.array_agg(d.implementation_type))
       FROM cachemon._cache_metrics_1day AS d
      WHERE d.bucket < p_now - cachemon._setting('retention.1hour')::interval;

    -- 4. Batch ids (kept as long as a retry could still be accepted) and pg_cron history.
    v_result.batch_ids_deleted := cachemon._forget_ingested_batches(p_now);
    v_result.cron_runs_deleted := cachemon._purge_cron_history(p_now);

    -- 5. What is left in the default partition.
    SELECT pg_catalog.count(*) INTO v_result.default_rows_left FROM cachemon.cache_metrics_default;
    IF v_result.default_rows_left > 0 THEN
        RAISE NOTICE 'cachemon.run_maintenance: % rows remain in cachemon.cache_metrics_default (outside every kept day)',
            v_result.default_rows_left;
    END IF;
    RETURN v_result;
END
$function$;

COMMENT ON FUNCTION cachemon.run_maintenance(timestamptz) IS
    'Partitions and retention: premakes daily partitions of cache_metrics (moving rows out of the default partition), drops days past retention.raw, trims cache_metrics_1min/_1hour (and the internal _cache_metrics_1day), stored batch ids and cron.job_run_details. SECURITY DEFINER: partition DDL needs the table owner. Returns a cachemon.maintenance_result.';

REVOKE ALL ON FUNCTION cachemon.run_maintenance(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.run_maintenance(timestamptz) TO cachemon_admin;

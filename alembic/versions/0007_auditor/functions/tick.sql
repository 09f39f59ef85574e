CREATE OR REPLACE FUNCTION cachemon.tick(p_now timestamptz DEFAULT pg_catalog.now())
RETURNS cachemon.tick_result
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- The rollup statements have large, uncertain cost estimates (row counts of a LATERAL per
-- run), which would make PostgreSQL JIT-compile them: 50-400 ms of compilation for a
-- statement that runs in tens of milliseconds. A tick is short work done every minute.
AS $function$
DECLARE
    v_started timestamptz := pg_catalog.clock_timestamp();
    v_result cachemon.tick_result;
    v_cap integer;
    v_buckets timestamptz[];
    v_impls text[];
    v_ln_gamma double precision := cachemon._sketch_ln_gamma();
    v_rows bigint;
BEGIN
    /*
     * One rollup step, run every minute (pg_cron job cachemon-tick or `cachemon scheduler`).
     *
     * 1. Skips on a standby (status 'standby') and when another tick holds the advisory lock
     *    (status 'busy': pg_try_advisory_xact_lock, so ticks never queue behind each other).
     * 2. Claims at most 'tick.max_buckets' distinct (minute, implementation) buckets of
     *    cachemon._dirty_buckets, oldest first, by deleting their marks.
     * 3. Recomputes those minutes from raw rows (one index range scan per run of nearby
     *    marked minutes; exact
     *    percentile_cont p50/p95/p99 and the latency sketch in the same pass) and upserts
     *    them into cache_metrics_1min; a bucket without raw rows left loses its row.
     * 4. Recomputes the hours those minutes belong to from cache_metrics_1min (sums, maxima,
     *    merged sketches; hourly percentiles from the merged sketch) into cache_metrics_1hour.
     * 4b. Recomputes the UTC days of those hours from cache_metrics_1hour into the internal
     *    cachemon._cache_metrics_1day (cachemon._rollup_days: sums, maxima, merged sketches).
     * 5. Calls cachemon.run_auditor(p_now) when that function exists (looked up with
     *    to_regprocedure, so this revision does not depend on the auditor's). An error of the
     *    auditor is caught in a subtransaction and reported in the result's auditor field
     *    (and as a WARNING): the rollups of this tick still commit.
     *
     * Invariant (docs/rollups.md): every committed raw row is reflected in its 1-minute row,
     * or a committed mark of its bucket is queued. A mark commits with its rows; a tick
     * deletes only marks visible to its claim statement, and reads raw rows in a later
     * statement, whose snapshot (READ COMMITTED) contains every row of those marks. A mark
     * committed after the claim stays queued, so the next tick recomputes its bucket. Ticks
     * are serialized by the lock, so a later write of a bucket never uses an older snapshot.
     * Run tick in READ COMMITTED (the default): under REPEATABLE READ a concurrent tick's
     * write makes it fail with a serialization error rather than lose anything.
     *
     * Work is proportional to the claimed buckets, never to the size of the tables.
     */
    v_result := ROW('done', 0, 0, 0, 0, NULL, 'absent', 0)::cachemon.tick_result;
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
    IF v_cap < 1 THEN
        RAISE EXCEPTION 'cachemon setting tick.max_buckets must be >= 1 (value=%)', v_cap
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Claim: delete every visible mark of the oldest v_cap distinct buckets.
    WITH pick AS (
        SELECT DISTINCT d.bucket, d.implementation_type
          FROM cachemon._dirty_buckets AS d
         ORDER BY d.bucket, d.implementation_type
         LIMIT v_cap
    ), gone AS (
        DELETE FROM cachemon._dirty_buckets AS d
         USING pick AS p
         WHERE d.bucket = p.bucket AND d.implementation_type = p.implementation_type
        RETURNING 1
    )
    SELECT (SELECT pg_catalog.array_agg(p.bucket ORDER BY p.bucket, p.implementation_type) FROM pick AS p),
           (SELECT pg_catalog.array_agg(p.implementation_type ORDER BY p.bucket, p.implementation_type) FROM pick AS p),
           (SELECT pg_catalog.count(*) FROM gone)
      INTO v_buckets, v_impls, v_result.marks_claimed;

    IF v_buckets IS NOT NULL THEN
        -- Minutes, from raw rows. The sketch key is sketch_key() written inline (see there).
        WITH k AS (
            SELECT u.bucket, u.implementation_type
              FROM ROWS FROM (pg_catalog.unnest(v_buckets), pg_catalog.unnest(v_impls)) AS u(bucket, implementation_type)
        ), runs AS (
            -- Gaps and islands: marked minutes of an implementation less than 10 minutes
            -- apart form one run, read with one index range scan (LATERAL ... OFFSET 0 keeps
            -- the nested loop, so each run reads only its index range and the partitions it
            -- cannot touch are pruned at run time). A backlog of a whole day is then one scan
            -- per implementation; a lone late minute is one small range.
            SELECT r.implementation_type, pg_catalog.min(r.bucket) AS lo,
                   pg_catalog.max(r.bucket) + interval '1 minute' AS hi
              FROM (SELECT g.implementation_type, g.bucket,
                           pg_catalog.sum(g.starts) OVER (PARTITION BY g.implementation_type
                                                          ORDER BY g.bucket) AS run
                      FROM (SELECT k.implementation_type, k.bucket,
                                   CASE WHEN k.bucket - pg_catalog.lag(k.bucket) OVER (
                                            PARTITION BY k.implementation_type ORDER BY k.bucket)
                                            <= interval '10 minutes'
                                        THEN 0 ELSE 1 END AS starts
                              FROM k) AS g) AS r
             GROUP BY r.implementation_type, r.run
        ), raw AS (
            SELECT x.bucket, x.implementation_type, x.event_type, x.rt, x.cache_size
              FROM runs
             CROSS JOIN LATERAL (
                SELECT pg_catalog.date_bin('1 minute', m.recorded_at, '2000-01-01 00:00:00+00') AS bucket,
                       m.implementation_type, m.event_type, m.response_time_ms AS rt, m.cache_size
                  FROM cachemon.cache_metrics AS m
                 WHERE m.implementation_type = runs.implementation_type
                   AND m.recorded_at >= runs.lo
                   AND m.recorded_at < runs.hi
                OFFSET 0
             ) AS x
             WHERE (x.bucket, x.implementation_type) IN (SELECT k.bucket, k.implementation_type FROM k)
        ), stats AS (
            -- One sorted group aggregate over the raw rows, as the bare percentile_cont query
            -- does: the exact statistics, the three percentiles in one ordered-set call, and
            -- the keys of the positive latencies (one array per minute, unsorted); the sketch
            -- is compacted per minute in the upsert (a small hash aggregate over that
            -- minute's keys, instead of a second aggregate and sort over all raw rows).
            SELECT r.bucket, r.implementation_type,
                   pg_catalog.count(*) FILTER (WHERE r.event_type = 'hit') AS hits,
                   pg_catalog.count(*) FILTER (WHERE r.event_type = 'miss') AS misses,
                   pg_catalog.count(*) FILTER (WHERE r.event_type = 'set') AS sets,
                   pg_catalog.count(*) FILTER (WHERE r.event_type = 'evict') AS evictions,
                   pg_catalog.count(*) FILTER (WHERE r.event_type = 'error') AS errors,
                   pg_catalog.count(*) AS total_events,
                   pg_catalog.count(r.rt) AS latency_count,
                   coalesce(pg_catalog.sum(r.rt), 0) AS latency_sum,
                   pg_catalog.max(r.rt) AS max_rt,
                   pg_catalog.percentile_cont(ARRAY[0.5, 0.95, 0.99]::double precision[])
                       WITHIN GROUP (ORDER BY r.rt) AS pct,
                   pg_catalog.count(*) FILTER (WHERE r.rt = 0) AS zero_count,
                   pg_catalog.array_agg(pg_catalog.ceil(pg_catalog.ln(r.rt) / v_ln_gamma)::integer)
                       FILTER (WHERE r.rt > 0) AS all_keys,
                   pg_catalog.count(r.cache_size) AS cache_size_count,
                   coalesce(pg_catalog.sum(r.cache_size), 0) AS cache_size_sum,
                   pg_catalog.max(r.cache_size) AS max_cache_size
              FROM raw AS r
             GROUP BY r.bucket, r.implementation_type
        ), up AS (
            INSERT INTO cachemon.cache_metrics_1min AS t (
                bucket, implementation_type, hits, misses, sets, evictions, errors, total_events,
                hit_rate, error_rate, avg_response_time_ms, p50_response_time_ms,
                p95_response_time_ms, p99_response_time_ms, max_response_time_ms,
                avg_cache_size, max_cache_size, latency_count, latency_sum, cache_size_count,
                cache_size_sum, latency_sketch, updated_at)
            SELECT s.bucket, s.implementation_type, s.hits, s.misses, s.sets, s.evictions,
                   s.errors, s.total_events,
                   cachemon.calculate_hit_rate(s.hits, s.misses),
                   100::numeric * s.errors / NULLIF(s.hits + s.misses + s.sets + s.errors, 0),
                   s.latency_sum / NULLIF(s.latency_count, 0),
                   s.pct[1], s.pct[2], s.pct[3], s.max_rt,
                   (s.cache_size_sum / NULLIF(s.cache_size_count, 0))::double precision,
                   s.max_cache_size, s.latency_count, s.latency_sum, s.cache_size_count,
                   s.cache_size_sum,
                   CASE WHEN s.latency_count > 0 THEN
                       ROW(s.zero_count, coalesce(sk.keys, '{}'), coalesce(sk.counts, '{}'))::cachemon.ddsketch
                   END,
                   pg_catalog.clock_timestamp()
              FROM stats AS s
             CROSS JOIN LATERAL (
                -- The minute's sketch: its keys counted and sorted (sketch_from_values' form).
                SELECT pg_catalog.array_agg(g.key ORDER BY g.key) AS keys,
                       pg_catalog.array_agg(g.n ORDER BY g.key) AS counts
                  FROM (SELECT u.key, pg_catalog.count(*) AS n
                          FROM pg_catalog.unnest(s.all_keys) AS u(key)
                         GROUP BY u.key) AS g
             ) AS sk
            ON CONFLICT (bucket, implementation_type) DO UPDATE SET
                hits = EXCLUDED.hits, misses = EXCLUDED.misses, sets = EXCLUDED.sets,
                evictions = EXCLUDED.evictions, errors = EXCLUDED.errors,
                total_events = EXCLUDED.total_events, hit_rate = EXCLUDED.hit_rate,
                error_rate = EXCLUDED.error_rate,
                avg_response_time_ms = EXCLUDED.avg_response_time_ms,
                p50_response_time_ms = EXCLUDED.p50_response_time_ms,
                p95_response_time_ms = EXCLUDED.p95_response_time_ms,
                p99_response_time_ms = EXCLUDED.p99_response_time_ms,
                max_response_time_ms = EXCLUDED.max_response_time_ms,
                avg_cache_size = EXCLUDED.avg_cache_size, max_cache_size = EXCLUDED.max_cache_size,
                latency_count = EXCLUDED.latency_count, latency_sum = EXCLUDED.latency_sum,
                cache_size_count = EXCLUDED.cache_size_count,
                cache_size_sum = EXCLUDED.cache_size_sum,
                latency_sketch = EXCLUDED.latency_sketch, updated_at = EXCLUDED.updated_at
            RETURNING 1
        ), emptied AS (
            DELETE FROM cachemon.cache_metrics_1min AS t
             USING k
             WHERE t.bucket = k.bucket AND t.implementation_type = k.implementation_type
               AND NOT EXISTS (SELECT FROM stats AS s
                                WHERE s.bucket = k.bucket
                                  AND s.implementation_type = k.implementation_type)
            RETURNING 1
        )
        SELECT (SELECT pg_catalog.count(*) FROM up) + (SELECT pg_catalog.count(*) FROM emptied)
          INTO v_rows;
        v_result.minutes_done := v_rows;

        -- Hours, from the minutes (this transaction's writes included).
        WITH h AS (
            SELECT DISTINCT pg_catalog.date_bin('1 hour', u.bucket, '2000-01-01 00:00:00+00') AS bucket,
                   u.implementation_type
              FROM ROWS FROM (pg_catalog.unnest(v_buckets), pg_catalog.unnest(v_impls)) AS u(bucket, implementation_type)
        ), mins AS MATERIALIZED (
            -- The minutes of those hours, read once (index range per hour).
            SELECT h.bucket AS hour, m.*
              FROM h
              JOIN cachemon.cache_metrics_1min AS m
                ON m.implementation_type = h.implementation_type
               AND m.bucket >= h.bucket
               AND m.bucket < h.bucket + interval '1 hour'
        ), agg AS (
            SELECT m.hour AS bucket, m.implementation_type,
                   pg_catalog.sum(m.hits)::bigint AS hits,
                   pg_catalog.sum(m.misses)::bigint AS misses,
                   pg_catalog.sum(m.sets)::bigint AS sets,
                   pg_catalog.sum(m.evictions)::bigint AS evictions,
                   pg_catalog.sum(m.errors)::bigint AS errors,
                   pg_catalog.sum(m.total_events)::bigint AS total_events,
                   pg_catalog.sum(m.latency_count)::bigint AS latency_count,
                   pg_catalog.sum(m.latency_sum) AS latency_sum,
                   pg_catalog.max(m.max_response_time_ms) AS max_rt,
                   pg_catalog.sum(m.cache_size_count)::bigint AS cache_size_count,
                   pg_catalog.sum(m.cache_size_sum) AS cache_size_sum,
                   pg_catalog.max(m.max_cache_size) AS max_cache_size,
                   pg_catalog.count(m.latency_sketch) AS sketches,
                   pg_catalog.sum((m.latency_sketch).zero_count)::bigint AS zero_count
              FROM mins AS m
             GROUP BY m.hour, m.implementation_type
        ), merged AS (
            -- The merge of the minutes' sketches as one flat aggregate: every (key, count) of
            -- every minute of the hour, summed by key (what cachemon.sketch_merge returns,
            -- without a PL/pgSQL call per minute).
            SELECT g.hour, g.implementation_type,
                   pg_catalog.array_agg(g.key ORDER BY g.key) AS keys,
                   pg_catalog.array_agg(g.n ORDER BY g.key) AS counts
              FROM (SELECT m.hour, m.implementation_type, u.key, pg_catalog.sum(u.n)::bigint AS n
                      FROM mins AS m
                     CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest((m.latency_sketch).keys),
                                                   pg_catalog.unnest((m.latency_sketch).counts)) AS u(key, n)
                     GROUP BY m.hour, m.implementation_type, u.key) AS g
             GROUP BY g.hour, g.implementation_type
        ), q AS (
            SELECT a.*, sk.sketch,
                   cachemon.sketch_quantiles(sk.sketch, ARRAY[0.5, 0.95, 0.99]) AS pct
              FROM agg AS a
              LEFT JOIN merged AS mg
                ON mg.hour = a.bucket AND mg.implementation_type = a.implementation_type
             CROSS JOIN LATERAL (
                SELECT CASE WHEN a.sketches > 0 THEN
                           ROW(a.zero_count, coalesce(mg.keys, '{}'), coalesce(mg.counts, '{}'))::cachemon.ddsketch
                       END AS sketch
             ) AS sk
        ), up AS (
            INSERT INTO cachemon.cache_metrics_1hour AS t (
                bucket, implementation_type, hits, misses, sets, evictions, errors, total_events,
                hit_rate, error_rate, avg_response_time_ms, p50_response_time_ms,
                p95_response_time_ms, p99_response_time_ms, max_response_time_ms,
                avg_cache_size, max_cache_size, latency_count, latency_sum, cache_size_count,
                cache_size_sum, latency_sketch, updated_at)
            SELECT q.bucket, q.implementation_type, q.hits, q.misses, q.sets, q.evictions,
                   q.errors, q.total_events,
                   cachemon.calculate_hit_rate(q.hits, q.misses),
                   100::numeric * q.errors / NULLIF(q.hits + q.misses + q.sets + q.errors, 0),
                   q.latency_sum / NULLIF(q.latency_count, 0),
                   q.pct[1], q.pct[2], q.pct[3], q.max_rt,
                   (q.cache_size_sum / NULLIF(q.cache_size_count, 0))::double precision,
                   q.max_cache_size, q.latency_count, q.latency_sum, q.cache_size_count,
                   q.cache_size_sum, q.sketch, pg_catalog.clock_timestamp()
              FROM q
            ON CONFLICT (bucket, implementation_type) DO UPDATE SET
                hits = EXCLUDED.hits, misses = EXCLUDED.misses, sets = EXCLUDED.sets,
                evictions = EXCLUDED.evictions, errors = EXCLUDED.errors,
                total_events = EXCLUDED.total_events, hit_rate = EXCLUDED.hit_rate,
                error_rate = EXCLUDED.error_rate,
                avg_response_time_ms = EXCLUDED.avg_response_time_ms,
                p50_response_time_ms = EXCLUDED.p50_response_time_ms,
                p95_response_time_ms = EXCLUDED.p95_response_time_ms,
                p99_response_time_ms = EXCLUDED.p99_response_time_ms,
                max_response_time_ms = EXCLUDED.max_response_time_ms,
                avg_cache_size = EXCLUDED.avg_cache_size, max_cache_size = EXCLUDED.max_cache_size,
                latency_count = EXCLUDED.latency_count, latency_sum = EXCLUDED.latency_sum,
                cache_size_count = EXCLUDED.cache_size_count,
                cache_size_sum = EXCLUDED.cache_size_sum,
                latency_sketch = EXCLUDED.latency_sketch, updated_at = EXCLUDED.updated_at
            RETURNING 1
        ), emptied AS (
            DELETE FROM cachemon.cache_metrics_1hour AS t
             USING h
             WHERE t.bucket = h.bucket AND t.implementation_type = h.implementation_type
               AND NOT EXISTS (SELECT FROM agg AS a
                                WHERE a.bucket = h.bucket
                                  AND a.implementation_type = h.implementation_type)
            RETURNING 1
        )
        SELECT (SELECT pg_catalog.count(*) FROM up) + (SELECT pg_catalog.count(*) FROM emptied)
          INTO v_rows;
        v_result.hours_done := v_rows;

        -- Days, from the hours just written (same transaction): the pre-merged level the
        -- summary reads for the whole days of long windows.
        PERFORM cachemon._rollup_days(v_buckets, v_impls);
    END IF;

    SELECT pg_catalog.count(*), pg_catalog.min(q.bucket)
      INTO v_result.buckets_left, v_result.oldest_pending
      FROM (SELECT DISTINCT d.bucket, d.implementation_type FROM cachemon._dirty_buckets AS d) AS q;

    IF pg_catalog.to_regprocedure('cachemon.run_auditor(timestamptz)') IS NOT NULL THEN
        BEGIN
            EXECUTE 'SELECT cachemon.run_auditor($1)' USING p_now;
            v_result.auditor := 'ran';
        EXCEPTION WHEN OTHERS THEN
            v_result.auditor := 'failed: ' || SQLERRM;
            RAISE WARNING 'cachemon.tick: run_auditor failed: % (SQLSTATE %)', SQLERRM, SQLSTATE;
        END;
    END IF;

    v_result.duration_ms :=
        1000 * pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() - v_started);
    RETURN v_result;
END
$function$;

COMMENT ON FUNCTION cachemon.tick(timestamptz) IS
    'Roll up: recompute the queued (minute, implementation) buckets from raw events into cache_metrics_1min (exact percentiles, latency sketch), their hours into cache_metrics_1hour (merged sketches) and the days of those hours into _cache_metrics_1day, then call cachemon.run_auditor(p_now) if it exists. At most tick.max_buckets buckets per call; skips on a standby or while another tick runs (status busy). Returns a cachemon.tick_result.';

REVOKE ALL ON FUNCTION cachemon.tick(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachemon.tick(timestamptz) TO cachemon_admin;

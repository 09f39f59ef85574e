"""Shared SQL for the rollup tests: an independent recomputation of the rollups from raw rows."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg

Conn = psycopg.Connection[dict[str, Any]]

# Every 1-minute row recomputed from raw rows with plain aggregates (percentile_cont one
# percentile at a time, sketches with sketch_from_values), compared with cache_metrics_1min.
# Returns one row per difference. Floats are compared with a relative tolerance of 1e-9
# (the order of a float sum may differ between plans); counts and sketches exactly.
MINUTE_MISMATCHES = """
WITH expected AS (
    SELECT date_bin('1 minute', recorded_at, '2000-01-01 00:00:00+00') AS bucket,
           implementation_type,
           count(*) FILTER (WHERE event_type = 'hit') AS hits,
           count(*) FILTER (WHERE event_type = 'miss') AS misses,
           count(*) FILTER (WHERE event_type = 'set') AS sets,
           count(*) FILTER (WHERE event_type = 'evict') AS evictions,
           count(*) FILTER (WHERE event_type = 'error') AS errors,
           count(*) AS total_events,
           avg(response_time_ms) AS avg_rt,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY response_time_ms) AS p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY response_time_ms) AS p95,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY response_time_ms) AS p99,
           max(response_time_ms) AS max_rt,
           avg(cache_size)::double precision AS avg_cs,
           max(cache_size) AS max_cs,
           cachemon.sketch_from_values(array_agg(response_time_ms)) AS sketch
      FROM cachemon.cache_metrics
     GROUP BY 1, 2
)
SELECT coalesce(e.bucket, m.bucket) AS bucket,
       coalesce(e.implementation_type, m.implementation_type) AS implementation_type,
       e.total_events AS expected_events, m.total_events AS stored_events
  FROM expected AS e
  FULL JOIN cachemon.cache_metrics_1min AS m
    ON m.bucket = e.bucket AND m.implementation_type = e.implementation_type
 WHERE e.bucket IS NULL OR m.bucket IS NULL
    OR (e.hits, e.misses, e.sets, e.evictions, e.errors, e.total_events)
       IS DISTINCT FROM (m.hits, m.misses, m.sets, m.evictions, m.errors, m.total_events)
    OR m.hit_rate IS DISTINCT FROM 100::numeric * e.hits / NULLIF(e.hits + e.misses, 0)
    OR m.error_rate IS DISTINCT FROM
       100::numeric * e.errors / NULLIF(e.hits + e.misses + e.sets + e.errors, 0)
    OR m.latency_sketch IS DISTINCT FROM e.sketch
    OR m.max_response_time_ms IS DISTINCT FROM e.max_rt
    OR m.max_cache_size IS DISTINCT FROM e.max_cs
    OR NOT (abs(coalesce(m.avg_response_time_ms, -1) - coalesce(e.avg_rt, -1))
            <= 1e-9 * greatest(1, abs(e.avg_rt)))
    OR NOT (abs(coalesce(m.avg_cache_size, -1) - coalesce(e.avg_cs, -1))
            <= 1e-9 * greatest(1, abs(e.avg_cs)))
    OR m.p50_response_time_ms IS DISTINCT FROM e.p50
    OR m.p95_response_time_ms IS DISTINCT FROM e.p95
    OR m.p99_response_time_ms IS DISTINCT FROM e.p99
"""

# Every hourly row recomputed as the merge of its minutes.
HOUR_MISMATCHES = """
WITH expected AS (
    SELECT date_bin('1 hour', bucket, '2000-01-01 00:00:00+00') AS bucket, implementation_type,
           sum(hits) AS hits, sum(misses) AS misses, sum(sets) AS sets,
           sum(evictions) AS evictions, sum(errors) AS errors, sum(total_events) AS total_events,
           sum(latency_count) AS latency_count, sum(latency_sum) AS latency_sum,
           max(max_response_time_ms) AS max_rt, max(max_cache_size) AS max_cs,
           cachemon.sketch_merge(latency_sketch) AS sketch
      FROM cachemon.cache_metrics_1min
     GROUP BY 1, 2
)
SELECT coalesce(e.bucket, h.bucket) AS bucket,
       coalesce(e.implementation_type, h.implementation_type) AS implementation_type
  FROM expected AS e
  FULL JOIN cachemon.cache_metrics_1hour AS h
    ON h.bucket = e.bucket AND h.implementation_type = e.implementation_type
 WHERE e.bucket IS NULL OR h.bucket IS NULL
    OR (e.hits, e.misses, e.sets, e.evictions, e.errors, e.total_events, e.latency_count)
       IS DISTINCT FROM (h.hits, h.misses, h.sets, h.evictions, h.errors, h.total_events,
                         h.latency_count)
    OR h.latency_sketch IS DISTINCT FROM e.sketch
    OR h.max_response_time_ms IS DISTINCT FROM e.max_rt
    OR h.max_cache_size IS DISTINCT FROM e.max_cs
    OR NOT (abs(h.latency_sum - e.latency_sum) <= 1e-9 * greatest(1, abs(e.latency_sum)))
    OR h.p95_response_time_ms IS DISTINCT FROM cachemon.sketch_quantile(e.sketch, 0.95)
    OR h.p50_response_time_ms IS DISTINCT FROM cachemon.sketch_quantile(e.sketch, 0.5)
    OR h.p99_response_time_ms IS DISTINCT FROM cachemon.sketch_quantile(e.sketch, 0.99)
"""

# Every hourly row whose hour still has raw rows, recomputed from those raw rows (not from the
# minutes): counts, hit_rate and error_rate exactly (the contract's definitions, in numeric),
# the averages with a relative tolerance of 1e-9. Hours whose raw rows retention removed are
# checked against their minutes only (HOUR_MISMATCHES).
HOUR_RAW_MISMATCHES = """
WITH raw AS (
    SELECT date_bin('1 hour', recorded_at, '2000-01-01 00:00:00+00') AS bucket,
           implementation_type,
           count(*) FILTER (WHERE event_type = 'hit') AS hits,
           count(*) FILTER (WHERE event_type = 'miss') AS misses,
           count(*) FILTER (WHERE event_type = 'set') AS sets,
           count(*) FILTER (WHERE event_type = 'evict') AS evictions,
           count(*) FILTER (WHERE event_type = 'error') AS errors,
           count(*) AS total_events,
           avg(response_time_ms) AS avg_rt,
           avg(cache_size)::double precision AS avg_cs
      FROM cachemon.cache_metrics
     GROUP BY 1, 2
)
SELECT r.bucket, r.implementation_type, h.hit_rate, h.error_rate,
       h.avg_response_time_ms, r.avg_rt, h.avg_cache_size, r.avg_cs
  FROM raw AS r
  LEFT JOIN cachemon.cache_metrics_1hour AS h
    ON h.bucket = r.bucket AND h.implementation_type = r.implementation_type
 WHERE h.bucket IS NULL
    OR (r.hits, r.misses, r.sets, r.evictions, r.errors, r.total_events)
       IS DISTINCT FROM (h.hits, h.misses, h.sets, h.evictions, h.errors, h.total_events)
    OR h.hit_rate IS DISTINCT FROM 100::numeric * r.hits / NULLIF(r.hits + r.misses, 0)
    OR h.error_rate IS DISTINCT FROM
       100::numeric * r.errors / NULLIF(r.hits + r.misses + r.sets + r.errors, 0)
    OR NOT (abs(coalesce(h.avg_response_time_ms, -1) - coalesce(r.avg_rt, -1))
            <= 1e-9 * greatest(1, abs(r.avg_rt)))
    OR NOT (abs(coalesce(h.avg_cache_size, -1) - coalesce(r.avg_cs, -1))
            <= 1e-9 * greatest(1, abs(r.avg_cs)))
"""

# Every row of the internal day level recomputed as the merge of its hourly rows (UTC days).
DAY_MISMATCHES = """
WITH expected AS (
    SELECT date_bin('1 day', bucket, '2000-01-01 00:00:00+00') AS bucket, implementation_type,
           sum(hits) AS hits, sum(misses) AS misses, sum(sets) AS sets,
           sum(evictions) AS evictions, sum(errors) AS errors, sum(total_events) AS total_events,
           sum(latency_count) AS latency_count, sum(latency_sum) AS latency_sum,
           sum(cache_size_count) AS cache_size_count, sum(cache_size_sum) AS cache_size_sum,
           max(max_response_time_ms) AS max_rt, max(max_cache_size) AS max_cs,
           cachemon.sketch_merge(latency_sketch) AS sketch
      FROM cachemon.cache_metrics_1hour
     GROUP BY 1, 2
)
SELECT coalesce(e.bucket, d.bucket) AS bucket,
       coalesce(e.implementation_type, d.implementation_type) AS implementation_type
  FROM expected AS e
  FULL JOIN cachemon._cache_metrics_1day AS d
    ON d.bucket = e.bucket AND d.implementation_type = e.implementation_type
 WHERE e.bucket IS NULL OR d.bucket IS NULL
    OR (e.hits, e.misses, e.sets, e.evictions, e.errors, e.total_events, e.latency_count,
        e.cache_size_count, e.cache_size_sum)
       IS DISTINCT FROM (d.hits, d.misses, d.sets, d.evictions, d.errors, d.total_events,
                         d.latency_count, d.cache_size_count, d.cache_size_sum)
    OR d.latency_sketch IS DISTINCT FROM e.sketch
    OR d.max_response_time_ms IS DISTINCT FROM e.max_rt
    OR d.max_cache_size IS DISTINCT FROM e.max_cs
    OR NOT (abs(d.latency_sum - e.latency_sum) <= 1e-9 * greatest(1, abs(e.latency_sum)))
"""

EVENT_TYPES = ("hit", "miss", "set", "evict", "error")


def ingest(conn: Conn, events: Any, batch_id: uuid.UUID | None = None) -> int:
    """Store ``events`` (a JSON-able list) through cachemon.ingest_events; returns the count."""
    row = conn.execute(
        "SELECT cachemon.ingest_events(%s::jsonb, %s) AS n", (json.dumps(events), batch_id)
    ).fetchone()
    assert row is not None
    return int(row["n"])


def insert_events(
    conn: Conn, events: Sequence[tuple[datetime, str, str, float | None, int | None]]
) -> None:
    """One INSERT statement of (recorded_at, implementation_type, event_type, rt, size) rows."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO cachemon.cache_metrics"
            " (recorded_at, implementation_type, event_type, response_time_ms, cache_size)"
            " SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[],"
            " %s::double precision[], %s::bigint[])",
            [list(col) for col in zip(*events, strict=True)] if events else [[], [], [], [], []],
        )


def tick_until_idle(conn: Conn, limit: int = 1000) -> int:
    """Tick until the queue is empty; the number of ticks."""
    for n in range(1, limit + 1):
        row = conn.execute("SELECT status, buckets_left FROM cachemon.tick()").fetchone()
        assert row is not None
        if row["status"] == "done" and row["buckets_left"] == 0:
            return n
    raise AssertionError("queue never emptied")


def minute_mismatches(conn: Conn) -> list[dict[str, Any]]:
    return conn.execute(MINUTE_MISMATCHES).fetchall()


def hour_mismatches(conn: Conn) -> list[dict[str, Any]]:
    """Hours that differ from the merge of their minutes, or from their raw rows."""
    return conn.execute(HOUR_MISMATCHES).fetchall() + conn.execute(HOUR_RAW_MISMATCHES).fetchall()


def day_mismatches(conn: Conn) -> list[dict[str, Any]]:
    return conn.execute(DAY_MISMATCHES).fetchall()


def db_now(conn: Conn) -> datetime:
    row = conn.execute("SELECT now() AS now").fetchone()
    assert row is not None
    now: datetime = row["now"]
    return now


def minute_floor(ts: datetime) -> datetime:
    return ts.replace(second=0, microsecond=0)


ONE_MINUTE = timedelta(minutes=1)

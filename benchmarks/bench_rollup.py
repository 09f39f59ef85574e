"""Rollup benchmarks: figures beside references measured in the same run.

    .venv/bin/python benchmarks/bench_rollup.py                      # full sizes (the issue's)
    .venv/bin/python benchmarks/bench_rollup.py --events 100000 --large 300000 --day-rows 100000

Without --database-url it starts a throwaway local cluster (orchestrator.localpg) and removes
it at the end. It creates (and drops) database ``cachemon_bench``.

1. Rolling up N new events (1-minute rows with exact percentiles and sketches, then hours) in
   one tick, vs one bare ``percentile_cont(...) GROUP BY minute, implementation`` over the same
   rows.
2. A tick with nothing new at a small and at a large raw table (median of 30).
3. Retention of one day of raw rows: the partition drop (run_maintenance) vs DELETE + VACUUM.
4. get_cache_performance_summary over 1 hour, 1 day and 30 days (30 days of rollups; the
   copied hours' day level built with cachemon._rollup_days, tick's own helper).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.rows import dict_row

from orchestrator import dbversions, localpg

DB = "cachemon_bench"
Conn = psycopg.Connection[dict[str, Any]]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def median_ms(fn: Callable[[], object], runs: int) -> float:
    return statistics.median(timed(fn) for _ in range(runs))


@contextmanager
def server(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    root = Path(tempfile.mkdtemp(prefix="cachemon-bench-"))
    try:
        cluster = localpg.start(root, fast=True)
        yield cluster.url("postgres")
    finally:
        localpg.destroy(root)
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(base_url: str) -> str:
    parts = urlsplit(base_url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {DB}")
    url = urlunsplit(parts._replace(path="/" + DB))
    dbversions.upgrade(url)
    return url


def load(conn: Conn, rows: int, start_sql: str, span_sql: str) -> None:
    """``rows`` events spread evenly over [start, start + span), two implementations, through
    the parent table (so the marking trigger runs), in chunks of 500k."""
    done = 0
    while done < rows:
        n = min(500_000, rows - done)
        conn.execute(
            f"""
            INSERT INTO cachemon.cache_metrics
                (recorded_at, implementation_type, event_type, response_time_ms, cache_size)
            SELECT {start_sql} + ({span_sql}) * ((g + %(off)s)::double precision / %(total)s),
                   CASE WHEN g %% 2 = 0 THEN 'legacy' ELSE 'new' END,
                   (ARRAY['hit','hit','hit','miss','set','evict','error'])[1 + g %% 7],
                   CASE WHEN g %% 50 = 0 THEN NULL
                        ELSE round((exp(random() * 5) * (1 + g %% 3))::numeric, 3)::float8 END,
                   g %% 10000
              FROM generate_series(0, %(n)s - 1) AS g
            """,
            {"off": done, "total": rows, "n": n},
        )
        done += n


def tick_until_idle(conn: Conn) -> None:
    while True:
        r = conn.execute("SELECT status, buckets_left FROM cachemon.tick()").fetchone()
        assert r is not None
        if r["status"] == "done" and r["buckets_left"] == 0:
            return


def reset(conn: Conn) -> None:
    conn.execute(
        "TRUNCATE cachemon.cache_metrics, cachemon.cache_metrics_1min,"
        " cachemon.cache_metrics_1hour, cachemon._cache_metrics_1day, cachemon._dirty_buckets"
    )


def bench_rollup(conn: Conn, events: int) -> None:
    reset(conn)
    conn.execute("UPDATE cachemon._settings SET value = '1000000' WHERE name = 'tick.max_buckets'")
    load(conn, events, "now() - interval '24 hours'", "interval '24 hours'")
    conn.execute("VACUUM ANALYZE cachemon.cache_metrics")
    bare_sql = """
        SELECT date_bin('1 minute', recorded_at, '2000-01-01 00:00:00+00') AS minute,
               implementation_type,
               percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time_ms)
          FROM cachemon.cache_metrics
         GROUP BY 1, 2
    """
    conn.execute(bare_sql).fetchall()  # warm the cache
    bare = min(timed(lambda: conn.execute(bare_sql).fetchall()) for _ in range(3))
    # tick's minute step runs with work_mem 64MB (its sort stays in memory): the bare query
    # with the same memory is the stricter reference.
    conn.execute("SET work_mem = '64MB'")
    bare64 = min(timed(lambda: conn.execute(bare_sql).fetchall()) for _ in range(3))
    conn.execute("RESET work_mem")
    buckets = conn.execute(
        "SELECT count(*) AS n FROM (SELECT DISTINCT bucket, implementation_type"
        " FROM cachemon._dirty_buckets) AS q"
    ).fetchone()
    result: dict[str, Any] = {}

    def one_tick() -> None:
        row = conn.execute("SELECT * FROM cachemon.tick()").fetchone()
        assert row is not None
        result.update(row)

    tick = timed(one_tick)
    assert result["buckets_left"] == 0
    print(f"1. rollup of {events:,} new events ({buckets and buckets['n']:,} minute buckets):")
    print(f"   bare percentile_cont GROUP BY minute, implementation  {bare:9.1f} ms")
    print(f"   the same bare query at work_mem 64MB (tick's)         {bare64:9.1f} ms")
    print(
        f"   tick (minutes + sketches + {result['hours_done']} hours)"
        f"               {tick:9.1f} ms   ratio {tick / bare:.2f}x (target <= 2.5x),"
        f" {tick / bare64:.2f}x the 64MB bare"
    )


def bench_empty_tick(conn: Conn, small: int, large: int) -> None:
    reset(conn)
    figures: list[float] = []
    auditor: list[float] = []
    for size in (small, large):
        have = conn.execute("SELECT count(*) AS n FROM cachemon.cache_metrics").fetchone()
        assert have is not None
        load(conn, size - have["n"], "now() - interval '6 days'", "interval '6 days 23 hours'")
        tick_until_idle(conn)
        conn.execute("VACUUM ANALYZE")
        figures.append(median_ms(lambda: conn.execute("SELECT cachemon.tick()"), 30))
        # What the first tick of each minute adds: the auditor over its windows.
        auditor.append(median_ms(lambda: conn.execute("SELECT cachemon.run_auditor()"), 10))
    print("2. tick with nothing new (median of 30; the auditor already judged the minute):")
    print(f"   at {small:>10,} raw rows  {figures[0]:7.2f} ms")
    print(
        f"   at {large:>10,} raw rows  {figures[1]:7.2f} ms   ratio {figures[1] / figures[0]:.2f}"
        " (target < 20 ms, ratio near 1)"
    )
    print(
        f"   run_auditor, once a minute (median of 10): {auditor[0]:7.2f} ms at {small:,},"
        f" {auditor[1]:7.2f} ms at {large:,} raw rows"
    )


def bench_retention(conn: Conn, day_rows: int) -> None:
    reset(conn)
    # Two whole UTC days of rows: D-5 (dropped by partition) and D-4 (DELETE + VACUUM).
    d = conn.execute(
        "SELECT (date_trunc('day', now() AT TIME ZONE 'UTC') - interval '5 days')"
        " AT TIME ZONE 'UTC' AS d5"
    ).fetchone()
    assert d is not None
    d5 = d["d5"]
    for offset in ("0 days", "1 day"):
        load(
            conn,
            day_rows,
            f"'{d5.isoformat()}'::timestamptz + interval '{offset}'",
            "interval '1 day' - interval '1 ms'",
        )
    tick_until_idle(conn)
    conn.execute("VACUUM ANALYZE cachemon.cache_metrics")
    name_y = "cache_metrics_p" + (d5 + timedelta(days=1)).strftime("%Y%m%d")

    def delete_and_vacuum() -> None:
        conn.execute(
            "DELETE FROM cachemon.cache_metrics WHERE recorded_at >= %s AND recorded_at < %s",
            (d5 + timedelta(days=1), d5 + timedelta(days=2)),
        )
        conn.execute(f"VACUUM cachemon.{name_y}")

    delete_ms = timed(delete_and_vacuum)
    # Day D-5 expires by shortening raw retention to 4 days (p_now may not run ahead of the
    # database clock; D-4, already emptied by the DELETE, stays).
    conn.execute("UPDATE cachemon._settings SET value = '4 days' WHERE name = 'retention.raw'")
    dropped: dict[str, Any] = {}

    def drop() -> None:
        row = conn.execute("SELECT * FROM cachemon.run_maintenance()").fetchone()
        assert row is not None
        dropped.update(row)

    drop_ms = timed(drop)
    conn.execute("UPDATE cachemon._settings SET value = '7 days' WHERE name = 'retention.raw'")
    print(f"3. retention of one day of {day_rows:,} raw rows:")
    print(f"   DELETE + VACUUM                   {delete_ms:9.1f} ms")
    print(
        f"   run_maintenance (partition drop)  {drop_ms:9.1f} ms"
        f"   dropped {', '.join(dropped['partitions_dropped'])}"
    )


def bench_summary(conn: Conn) -> None:
    # 30 days of rollups: the last day's real minutes (from step 1's kind of data) copied back.
    reset(conn)
    load(conn, 200_000, "now() - interval '24 hours'", "interval '24 hours'")
    tick_until_idle(conn)
    rest = """implementation_type, hits, misses, sets,
                   evictions, errors, total_events, hit_rate, error_rate, avg_response_time_ms,
                   p50_response_time_ms, p95_response_time_ms, p99_response_time_ms,
                   max_response_time_ms, avg_cache_size, max_cache_size, latency_count,
                   latency_sum, cache_size_count, cache_size_sum, updated_at, latency_sketch"""
    for table in ("cache_metrics_1min", "cache_metrics_1hour"):
        conn.execute(
            f"""
            INSERT INTO cachemon.{table} (bucket, {rest})
            SELECT bucket - k * interval '1 day', {rest}
              FROM cachemon.{table}, generate_series(1, 30) AS k
            ON CONFLICT DO NOTHING
            """
        )
    # The copied hours bypassed tick, so build their days the way tick does: the same helper
    # (cachemon._rollup_days) over every (day, implementation) of the hourly table.
    days_ms = timed(
        lambda: conn.execute(
            "SELECT cachemon._rollup_days(array_agg(bucket), array_agg(implementation_type))"
            " FROM cachemon.cache_metrics_1hour"
        )
    )
    conn.execute(
        "VACUUM ANALYZE cachemon.cache_metrics_1min, cachemon.cache_metrics_1hour,"
        " cachemon._cache_metrics_1day"
    )
    counts = conn.execute(
        "SELECT (SELECT count(*) FROM cachemon.cache_metrics_1min) AS m,"
        " (SELECT count(*) FROM cachemon.cache_metrics_1hour) AS h,"
        " (SELECT count(*) FROM cachemon._cache_metrics_1day) AS d"
    ).fetchone()
    assert counts is not None
    print(
        f"4. get_cache_performance_summary (median of 10; {counts['m']:,} minute rows,"
        f" {counts['h']:,} hour rows, {counts['d']:,} day rows (built by _rollup_days in"
        f" {days_ms:.0f} ms), two implementations):"
    )
    for window in ("1 hour", "1 day", "30 days"):
        sql = f"SELECT * FROM cachemon.get_cache_performance_summary(NULL, '{window}')"
        conn.execute(sql).fetchall()
        ms = median_ms(lambda s=sql: conn.execute(s).fetchall(), 10)  # type: ignore[misc]
        print(f"   {window:<8} {ms:7.2f} ms (target < 50 ms)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="superuser URL of a server (default: start one)")
    parser.add_argument("--events", type=int, default=1_000_000, help="events rolled up in 1.")
    parser.add_argument("--small", type=int, default=10_000, help="small raw table in 2.")
    parser.add_argument("--large", type=int, default=5_000_000, help="large raw table in 2.")
    parser.add_argument("--day-rows", type=int, default=1_000_000, help="rows of the day in 3.")
    parser.add_argument(
        "--only", choices=["rollup", "empty", "retention", "summary"], action="append"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: every line, quickly")
    args = parser.parse_args(argv)
    if args.smoke:
        args.events, args.small, args.large, args.day_rows = 20_000, 2_000, 20_000, 10_000
    steps = set(args.only or ["rollup", "empty", "retention", "summary"])
    with server(args.database_url) as base:
        url = fresh_database(base)
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            version = conn.execute("SHOW server_version").fetchone()
            print(f"PostgreSQL {version and version['server_version']}, database {DB}")
            if "rollup" in steps:
                bench_rollup(conn, args.events)
            if "empty" in steps:
                bench_empty_tick(conn, args.small, args.large)
            if "retention" in steps:
                bench_retention(conn, args.day_rows)
            if "summary" in steps:
                bench_summary(conn)
        parts = urlsplit(base)
        with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

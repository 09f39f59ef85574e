"""Rollup benchmarks: figures beside references measured in the same run.

    .venv/bin/python benchmarks/bench_rollup.py                      # full sizes
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
import os
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from harness import (  # beside this script
    DB,
    Conn,
    add_smoke,
    drop_database,
    fresh_database,
    load,
    median_ms,
    print_server,
    reset,
    server,
    smoke,
    thirty_days,
    tick_until_idle,
    timed,
)
from psycopg.rows import dict_row


def backend_cpu_ms(conn: Conn) -> float | None:
    """CPU time (user + system) the connection's server process has used so far, from
    /proc (a server on this machine only; None otherwise). On a machine shared with other
    jobs, CPU time is steadier than wall time, which includes waiting for a core."""
    row = conn.execute("SELECT pg_backend_pid() AS pid").fetchone()
    assert row is not None
    try:
        fields = Path(f"/proc/{row['pid']}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks * 1000 / os.sysconf("SC_CLK_TCK")


def cpu_timed(conn: Conn, fn: Callable[[], object]) -> tuple[float, float | None]:
    """Wall and server CPU milliseconds of fn()."""
    before = backend_cpu_ms(conn)
    wall = timed(fn)
    after = backend_cpu_ms(conn)
    return wall, None if before is None or after is None else after - before


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
    bare_runs = [cpu_timed(conn, lambda: conn.execute(bare_sql).fetchall()) for _ in range(3)]
    bare = min(w for w, _ in bare_runs)
    bare_cpu = min((c for _, c in bare_runs if c is not None), default=None)
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

    tick, tick_cpu = cpu_timed(conn, one_tick)
    assert result["buckets_left"] == 0
    print(f"1. rollup of {events:,} new events ({buckets and buckets['n']:,} minute buckets):")
    print(f"   bare percentile_cont GROUP BY minute, implementation  {bare:9.1f} ms")
    print(f"   the same bare query at work_mem 64MB (tick's)         {bare64:9.1f} ms")
    print(
        f"   tick (minutes + sketches + {result['hours_done']} hours)"
        f"               {tick:9.1f} ms   ratio {tick / bare:.2f}x (target <= 2.5x),"
        f" {tick / bare64:.2f}x the 64MB bare"
    )
    if bare_cpu and tick_cpu is not None:
        print(
            f"   server CPU time: bare {bare_cpu:.0f} ms, tick {tick_cpu:.0f} ms"
            f"   ratio {tick_cpu / bare_cpu:.2f}x (steadier than wall time on a busy machine)"
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


def bench_summary(conn: Conn, rows: int) -> None:
    # 30 days of rollups: the last day's real minutes (from step 1's kind of data) copied back.
    reset(conn)
    days_ms = thirty_days(conn, rows)
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
    parser.add_argument("--summary-rows", type=int, default=200_000, help="events of the day in 4.")
    parser.add_argument(
        "--only", choices=["rollup", "empty", "retention", "summary"], action="append"
    )
    add_smoke(parser)
    args = parser.parse_args(argv)
    smoke(args, events=2_000, small=100, large=1_000, day_rows=2_000, summary_rows=2_000)
    steps = set(args.only or ["rollup", "empty", "retention", "summary"])
    with server(args.database_url) as base:
        url = fresh_database(base)
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            print_server(conn, f"database {DB}")
            if "rollup" in steps:
                bench_rollup(conn, args.events)
            if "empty" in steps:
                bench_empty_tick(conn, args.small, args.large)
            if "retention" in steps:
                bench_retention(conn, args.day_rows)
            if "summary" in steps:
                bench_summary(conn, args.summary_rows)
        drop_database(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())

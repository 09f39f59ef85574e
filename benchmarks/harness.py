"""What the benchmarks share: a server to measure on, a fresh migrated database, synthetic raw
events, rollups until idle, 30 days of rollups, timing, and the ``--smoke`` size.

Not a benchmark itself (the name does not start with ``bench_``); the scripts import it from
beside them (``benchmarks/`` is on ``sys.path`` when a script runs).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from orchestrator import dbversions, localpg

DB = "cachemon_bench"
Conn = psycopg.Connection[dict[str, Any]]
SMOKE_HELP = "tiny sizes: shows that the script runs (the figures mean nothing)"


def add_smoke(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help=SMOKE_HELP)


def smoke(args: argparse.Namespace, **sizes: object) -> None:
    """With ``--smoke``, replace the named arguments by tiny sizes."""
    if args.smoke:
        for name, value in sizes.items():
            setattr(args, name, value)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def median_ms(fn: Callable[[], object], runs: int) -> float:
    return statistics.median(timed(fn) for _ in range(runs))


@contextmanager
def server(url: str | None, *, fast: bool = True) -> Iterator[str]:
    """A superuser URL: ``url``, or a throwaway local cluster removed afterwards."""
    if url:
        yield url
        return
    root = Path(tempfile.mkdtemp(prefix="cachemon-bench-"))
    try:
        cluster = localpg.start(root, fast=fast)
        yield cluster.url("postgres")
    finally:
        localpg.destroy(root)
        shutil.rmtree(root, ignore_errors=True)


def _admin_url(base_url: str) -> str:
    return urlunsplit(urlsplit(base_url)._replace(path="/postgres"))


def fresh_database(base_url: str) -> str:
    """Database ``cachemon_bench`` on the server, recreated and migrated to head."""
    with psycopg.connect(_admin_url(base_url), autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {DB}")
    url = urlunsplit(urlsplit(base_url)._replace(path="/" + DB))
    dbversions.upgrade(url)
    return url


def drop_database(base_url: str) -> None:
    with psycopg.connect(_admin_url(base_url), autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


def print_server(conn: Conn, what: str) -> None:
    version = conn.execute("SHOW server_version").fetchone()
    print(f"PostgreSQL {version and version['server_version']}, {what}")


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


ROLLUP_COLUMNS = """implementation_type, hits, misses, sets,
    evictions, errors, total_events, hit_rate, error_rate, avg_response_time_ms,
    p50_response_time_ms, p95_response_time_ms, p99_response_time_ms,
    max_response_time_ms, avg_cache_size, max_cache_size, latency_count,
    latency_sum, cache_size_count, cache_size_sum, updated_at, latency_sketch"""


def thirty_days(conn: Conn, rows: int = 200_000) -> float:
    """30 days of rollups: a day of ``rows`` real events rolled up by tick, its minutes and
    hours copied back 30 times (without pushing every copy), and their days built the way
    tick builds them (cachemon._rollup_days). Returns the milliseconds of that last step."""
    load(conn, rows, "now() - interval '24 hours'", "interval '24 hours'")
    tick_until_idle(conn)
    conn.execute("ALTER TABLE cachemon.cache_metrics_1min DISABLE TRIGGER cache_metrics_1min_push")
    try:
        for table in ("cache_metrics_1min", "cache_metrics_1hour"):
            conn.execute(
                f"""
                INSERT INTO cachemon.{table} (bucket, {ROLLUP_COLUMNS})
                SELECT bucket - k * interval '1 day', {ROLLUP_COLUMNS}
                  FROM cachemon.{table}, generate_series(1, 30) AS k
                ON CONFLICT DO NOTHING
                """
            )
    finally:
        conn.execute(
            "ALTER TABLE cachemon.cache_metrics_1min ENABLE TRIGGER cache_metrics_1min_push"
        )
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
    return days_ms

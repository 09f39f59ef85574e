"""The dashboard's figures: the time-series SQL API, the page's first render, live latency.

    .venv/bin/python benchmarks/bench_dashboard.py [--database-url URL] [--runs 10]

Builds 30 days of rollups for ``legacy`` and ``new`` the way bench_rollup.py's summary step
does (a real day of events rolled up by tick, copied back 30 days, day level built by tick's
own helper), then measures, each beside a reference taken in the same run:

1. cachemon.get_timeseries over 30 days at hour resolution and over 24 h at minute
   resolution (both implementations), against a bare SELECT of the same rollup rows
   (target < 50 ms each); plus two merged resolutions for information.
2. The page's first render for range 30d in headless Debian chromium (navigation start to
   the first render of the data; target < 1.5 s), against fetching its JSON alone.
3. Live latency: the commit of a tick (new events of the current minute) to the page's DOM
   update over SSE, median (target < 1 s), against the bare pg_notify round trip.

No assertion on timings: the figures are printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import add_smoke, fresh_database, median_ms, print_server, server, smoke, thirty_days

from orchestrator.dashboard.app import DashboardSettings
from orchestrator.dashboard.server import make_server

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
Conn = psycopg.Connection[dict[str, Any]]
# The bare reference reads the columns get_timeseries returns (not the sketches).
COLUMNS = (
    "bucket, implementation_type, total_events, hits, misses, sets, evictions, errors,"
    " hit_rate, error_rate, avg_response_time_ms, p50_response_time_ms, p95_response_time_ms,"
    " p99_response_time_ms, max_response_time_ms, avg_cache_size, max_cache_size"
)


def poll(page: Any, expression: str, done: Any, timeout: float = 30.0) -> Any:
    """Evaluate ``expression`` every 5 ms until ``done(value)``: the page's strict CSP (no
    eval) rules out Playwright's wait_for_function with a string."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = page.evaluate(expression)
        if done(value):
            return value
        time.sleep(0.005)
    raise TimeoutError(expression)


def bench_sql(conn: Conn, runs: int) -> None:
    counts = conn.execute(
        "SELECT (SELECT count(*) FROM cachemon.cache_metrics_1min) AS m,"
        " (SELECT count(*) FROM cachemon.cache_metrics_1hour) AS h"
    ).fetchone()
    assert counts is not None
    print(
        f"1. get_timeseries (median of {runs}; {counts['m']:,} minute rows,"
        f" {counts['h']:,} hour rows, two implementations)"
    )
    cases = [
        (
            "30 days, 1 hour",
            "SELECT * FROM cachemon.get_timeseries('30 days', '1 hour')",
            f"SELECT {COLUMNS} FROM cachemon.cache_metrics_1hour"
            " WHERE bucket >= date_bin('1 hour', now(), '2000-01-01') - interval '719 hours'",
            "target < 50 ms",
        ),
        (
            "24 hours, 1 minute",
            "SELECT * FROM cachemon.get_timeseries('24 hours', '1 minute')",
            f"SELECT {COLUMNS} FROM cachemon.cache_metrics_1min"
            " WHERE bucket >= date_bin('1 minute', now(), '2000-01-01') - interval '1439 minutes'",
            "target < 50 ms",
        ),
        (
            "24 hours, 15 minutes (merged)",
            "SELECT * FROM cachemon.get_timeseries('24 hours', '15 minutes')",
            f"SELECT {COLUMNS} FROM cachemon.cache_metrics_1min"
            " WHERE bucket >= date_bin('1 minute', now(), '2000-01-01') - interval '1439 minutes'",
            "information",
        ),
        (
            "30 days, 6 hours (merged)",
            "SELECT * FROM cachemon.get_timeseries('30 days', '6 hours')",
            f"SELECT {COLUMNS} FROM cachemon.cache_metrics_1hour"
            " WHERE bucket >= date_bin('1 hour', now(), '2000-01-01') - interval '719 hours'",
            "information",
        ),
    ]
    for label, sql, bare, target in cases:
        rows = len(conn.execute(sql).fetchall())
        ms = median_ms(lambda s=sql: conn.execute(s).fetchall(), runs)  # type: ignore[misc]
        bare_rows = len(conn.execute(bare).fetchall())
        bare_ms = median_ms(lambda s=bare: conn.execute(s).fetchall(), runs)  # type: ignore[misc]
        # The same two without the transfer and decoding of the rows (count(*) over them).
        inner = f"SELECT count(*) FROM ({sql}) AS q"
        inner_bare = f"SELECT count(*) FROM ({bare}) AS q"
        in_ms = median_ms(lambda s=inner: conn.execute(s).fetchall(), runs)  # type: ignore[misc]
        in_bare = median_ms(lambda s=inner_bare: conn.execute(s).fetchall(), runs)  # type: ignore[misc]
        print(
            f"   {label:<30} {ms:8.2f} ms ({rows} rows)   bare SELECT {bare_ms:7.2f} ms"
            f" ({bare_rows} rows)   in the server: {in_ms:.2f} vs {in_bare:.2f} ms   [{target}]"
        )


def bench_page(url: str, conn: Conn, runs: int) -> None:
    from playwright.sync_api import sync_playwright

    dash, sock = make_server(DashboardSettings(url), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    thread = threading.Thread(target=dash.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not dash.started:
            time.sleep(0.05)
        json_ms = median_ms(lambda: httpx.get(base + "/.json?range=30d", timeout=30), runs)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            try:
                renders = []
                for _ in range(runs):
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    page.goto(base + "/?range=30d")
                    poll(page, "document.body.dataset.renderedAt", lambda v: bool(v))
                    renders.append(
                        page.evaluate(
                            "Number(document.body.dataset.renderedAt) - performance.timeOrigin"
                        )
                    )
                    page.close()
                print(
                    f"2. first render, range 30d, headless chromium (median of {runs}):"
                    f" {statistics.median(renders):7.1f} ms (min {min(renders):.0f},"
                    f" max {max(renders):.0f})   its JSON alone {json_ms:7.1f} ms"
                    "   [target < 1500 ms]"
                )
                bench_live(url, conn, browser, base, runs)
            finally:
                browser.close()
    finally:
        dash.should_exit = True
        thread.join(timeout=10)
        sock.close()


def bench_live(url: str, conn: Conn, browser: Any, base: str, runs: int) -> None:
    page = browser.new_page()
    try:
        page.goto(base + "/?range=1h")
        page.wait_for_selector('#status[data-state="live"]', timeout=30000)
        latencies = []
        for i in range(runs):
            time.sleep(1.0)  # let earlier updates settle
            before = page.evaluate("document.body.dataset.renderedAt")
            conn.execute(
                "INSERT INTO cachemon.cache_metrics"
                " (recorded_at, implementation_type, event_type, response_time_ms, cache_size)"
                " SELECT now() - random() * interval '1 second', 'new', 'hit', 1 + g %% 7, 100"
                " FROM generate_series(1, 50 + %s) AS g",
                (i,),
            )
            with conn.transaction():
                conn.execute("SELECT * FROM cachemon.tick()")
            committed_ms = time.time() * 1000
            poll(page, "document.body.dataset.renderedAt", lambda v, b=before: v != b)
            rendered = float(page.evaluate("Number(document.body.dataset.renderedAt)"))
            latencies.append(rendered - committed_ms)
        # Reference: commit -> notification on a plain LISTEN connection.
        rounds = []
        with psycopg.connect(url, autocommit=True) as listener:
            listener.execute("LISTEN bench_ref")
            for _ in range(runs):
                t0 = time.perf_counter()
                conn.execute("SELECT pg_notify('bench_ref', 'x')")
                next(listener.notifies(timeout=5))
                rounds.append((time.perf_counter() - t0) * 1000)
        print(
            f"3. live latency, commit of a tick -> DOM updated (median of {runs}):"
            f" {statistics.median(latencies):7.1f} ms (min {min(latencies):.0f},"
            f" max {max(latencies):.0f}; includes the default 150 ms debounce)"
            f"   bare pg_notify round trip {statistics.median(rounds):.2f} ms   [target < 1000 ms]"
        )
    finally:
        page.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database-url", help="superuser URL of a server (default: start one)")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--sql-only", action="store_true", help="skip the browser figures")
    parser.add_argument("--day-rows", type=int, default=200_000, help="events of the copied day")
    add_smoke(parser)
    args = parser.parse_args(argv)
    smoke(args, runs=1, day_rows=2_000)
    if args.smoke and not Path(CHROMIUM).exists():
        args.sql_only = True
    with server(args.database_url) as base:
        url = fresh_database(base)
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            print_server(conn, "30 days of rollups")
            thirty_days(conn, args.day_rows)
            bench_sql(conn, args.runs)
            if not args.sql_only:
                bench_page(url, conn, 1 if args.smoke else max(3, args.runs // 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

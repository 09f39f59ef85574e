"""What one auditor run costs, and how much of it is the sequential test.

    .venv/bin/python benchmarks/bench_auditor_cost.py [--minutes 400] [--repeat 5]

The traffic model of bench_auditor (two busy implementations and a quiet one) goes through
the real ingest path (the collector's binary COPY) and tick for --minutes, and baselines are
computed over it. Then, with every minute rolled up, it times cachemon._cusum (the sequential
test, computed afresh) and cachemon.run_auditor with the sequential test on and off
(auditor.sequential), --repeat times each at the same p_now, with JIT off so the figures are
the queries' own. It prints the median and every time, and the ratio of run_auditor with the
sequential test to run_auditor without it: the reference measured in the same run.

To compare two revisions, run it in a checkout of each, one after the other and then again:
on a shared machine the load moves a single figure by a third or more.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from bench_auditor import Collectors, Traffic, tick, write_clean  # beside this script
from harness import add_smoke, fresh_database, server, smoke
from psycopg.rows import dict_row

Conn = psycopg.Connection[dict[str, Any]]
IMPLEMENTATIONS = ("legacy", "new", "tiny")


def _times(conn: Conn, query: str, now: datetime, repeat: int) -> list[float]:
    """Milliseconds of ``query`` (one parameter: p_now), run ``repeat`` times."""
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        conn.execute(query, (now,)).fetchall()
        out.append(1000 * (time.perf_counter() - t))
    return out


def _sequential(conn: Conn, on: bool) -> None:
    conn.execute(
        "UPDATE cachemon._settings SET value = %s WHERE name = 'auditor.sequential'",
        ("true" if on else "false",),
    )


def measure(
    url: str, minutes: int, repeat: int, min_sample_minutes: int = 60
) -> dict[str, list[float]]:
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    start = end - timedelta(minutes=minutes)
    traffic = Traffic(random.Random(7))
    collectors = Collectors(url)
    try:
        write_clean(traffic, collectors, start, end)
    finally:
        collectors.close()
    now = end + timedelta(seconds=5)
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute(
            "UPDATE cachemon._settings SET value = '200000' WHERE name = 'tick.max_buckets'"
        )
        conn.execute(
            "UPDATE cachemon._settings SET value = %s WHERE name = 'baseline.min_sample_minutes'",
            (str(min_sample_minutes),),
        )
        tick(conn, now)
        for impl in IMPLEMENTATIONS:
            conn.execute(
                "SELECT id FROM cachemon.compute_baseline(%s, %s, %s)",
                (impl, timedelta(minutes=minutes), end),
            )
        conn.execute("SET jit = off")
        figures = {"_cusum": _times(conn, "SELECT * FROM cachemon._cusum(%s)", now, repeat)}
        figures["run_auditor"] = _times(conn, "SELECT * FROM cachemon.run_auditor(%s)", now, repeat)
        _sequential(conn, False)
        figures["run_auditor, sequential off"] = _times(
            conn, "SELECT * FROM cachemon.run_auditor(%s)", now, repeat
        )
        _sequential(conn, True)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=400, help="minutes of traffic")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each query")
    add_smoke(parser)
    args = parser.parse_args(argv)
    smoke(args, minutes=60, repeat=1)
    # --smoke: 60 minutes hold fewer than the default 60 usable minutes of `tiny`.
    min_sample_minutes = 5 if args.smoke else 60
    if not 60 <= args.minutes <= 2000 or not 1 <= args.repeat <= 100:
        parser.error("--minutes 60..2000, --repeat 1..100")
    with server(None) as base:
        figures = measure(fresh_database(base), args.minutes, args.repeat, min_sample_minutes)
    print(f"auditor cost: {args.minutes} minutes of 3 implementations, medians of {args.repeat}")
    for name, ms in figures.items():
        runs = ", ".join(f"{m:.0f}" for m in ms)
        print(f"   {name:<30} {statistics.median(ms):7.1f} ms   ({runs})")
    ratio = statistics.median(figures["run_auditor"]) / statistics.median(
        figures["run_auditor, sequential off"]
    )
    print(f"   run_auditor with the sequential test / without it: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Ingest stalls during run_maintenance, beside the stall with no maintenance, same run.

    .venv/bin/python benchmarks/bench_maintenance.py                 # a 1M-row day
    .venv/bin/python benchmarks/bench_maintenance.py --day-rows 200000

Without --database-url it starts a throwaway local cluster (orchestrator.localpg) and removes
it at the end. It creates (and drops) database ``cachemon_bench``.

A probe thread stores 10-event batches with cachemon.ingest_events, back to back on its own
connection, and records how long each call took. The longest call is the longest ingest
stall. Three windows of the same length:

1. no maintenance (the reference);
2. run_maintenance as revision 0003 wrote it (frozen copy, installed under another name):
   it creates a partition with CREATE ... PARTITION OF and drops an expired 1M-row day, all
   under the parent's ACCESS EXCLUSIVE lock from its first step to its commit;
3. today's run_maintenance: premakes with CREATE + ATTACH (no lock ingest waits for), trims
   rollups, and drops the expired 1M-row day last, each step waiting at most lock_timeout.

Both maintenance runs premake one day (the furthest premade day is dropped before each) and
drop one expired day of --day-rows rows (raw retention is shortened to expire it, since p_now
may not run ahead of the clock).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
from harness import DB, add_smoke, drop_database, fresh_database, load, print_server, server, smoke
from psycopg.rows import dict_row

from orchestrator.paths import alembic_dir

EVENT = '{"implementation_type":"new","event_type":"hit","response_time_ms":3}'
BATCH = "[" + ",".join([EVENT] * 10) + "]"
OLD_MINUTES = """
INSERT INTO cachemon.cache_metrics_1min (bucket, implementation_type, hits, total_events)
SELECT date_trunc('minute', now()) - interval '31 days' - g * interval '1 minute', 'old', 1, 1
  FROM generate_series(1, %s) AS g
"""


def probe(
    url: str, action: Callable[[], object] | None, window: float
) -> tuple[list[float], float]:
    """Ingest latencies (ms) during ``window`` seconds; ``action`` runs after 0.3 s."""
    latencies: list[float] = []
    stop = threading.Event()

    def ingest() -> None:
        with psycopg.connect(url, autocommit=True) as c:
            while not stop.is_set():
                start = time.perf_counter()
                c.execute("SELECT cachemon.ingest_events(%s::jsonb)", (BATCH,))
                latencies.append((time.perf_counter() - start) * 1000)

    thread = threading.Thread(target=ingest)
    thread.start()
    time.sleep(0.3)
    action_ms = 0.0
    started = time.perf_counter()
    if action is not None:
        action()
        action_ms = (time.perf_counter() - started) * 1000
    time.sleep(max(0.3, window - (time.perf_counter() - started)))
    stop.set()
    thread.join()
    return latencies, action_ms


def partition_name(day: datetime) -> str:
    return "cachemon.cache_metrics_p" + day.strftime("%Y%m%d")


def report(name: str, latencies: list[float], action_ms: float) -> None:
    took = f"   (maintenance took {action_ms:7.1f} ms)" if action_ms else ""
    print(
        f"   {name:<34} longest stall {max(latencies):8.1f} ms"
        f"   median {statistics.median(latencies):5.1f} ms   {len(latencies):5} batches{took}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="superuser URL of a server (default: start one)")
    parser.add_argument("--day-rows", type=int, default=1_000_000, help="rows of each expired day")
    parser.add_argument("--window", type=float, default=3.0, help="seconds per probe window")
    parser.add_argument(
        "--old-minutes",
        type=int,
        default=300_000,
        help="1-minute rows past retention that each maintenance run deletes",
    )
    add_smoke(parser)
    args = parser.parse_args(argv)
    smoke(args, day_rows=1_000, window=0.3, old_minutes=100)
    with server(args.database_url) as base:
        url = fresh_database(base)
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            print_server(conn, f"database {DB}")
            frozen = (
                alembic_dir() / "versions" / "0003_rollup" / "functions" / "run_maintenance.sql"
            )
            conn.execute(
                frozen.read_text()
                .replace("cachemon.run_maintenance(", "cachemon.run_maintenance_0003(")
                .encode()
            )
            today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            for back in (4, 3):  # day D-4 expires for the 0003 run, D-3 for today's
                day = today - timedelta(days=back)
                load(
                    conn,
                    args.day_rows,
                    f"'{day.isoformat()}'::timestamptz",
                    "interval '1 day' - interval '1 ms'",
                )
            conn.execute("DELETE FROM cachemon._dirty_buckets")
            conn.execute("VACUUM ANALYZE cachemon.cache_metrics")
            far = partition_name(today + timedelta(days=4))
            print(
                f"ingest stalls, 10-event ingest_events batches back to back, {args.window:.0f} s"
                f" windows; each maintenance drops a day of {args.day_rows:,} rows, premakes a day"
                f" and deletes {args.old_minutes:,} expired 1-minute rows:"
            )

            lat, ms = probe(url, None, args.window)
            report("no maintenance (reference)", lat, ms)

            # Each run drops the day that expires under its retention: D-4 for the 0003 run
            # (3 days), D-3 for today's (2 days).
            runs = (
                ("run_maintenance of revision 0003", "run_maintenance_0003", "3 days"),
                ("run_maintenance (short lock steps)", "run_maintenance", "2 days"),
            )
            for label, function, retention in runs:
                conn.execute(
                    "UPDATE cachemon._settings SET value = %s WHERE name = 'retention.raw'",
                    (retention,),
                )
                conn.execute(f"DROP TABLE IF EXISTS {far}")
                conn.execute(OLD_MINUTES, (args.old_minutes,))
                dropped: dict[str, object] = {}

                def maintain(
                    function: str = function, dropped: dict[str, object] = dropped
                ) -> None:
                    row = conn.execute(f"SELECT * FROM cachemon.{function}()").fetchone()
                    dropped.update(row or {})

                lat, ms = probe(url, maintain, args.window)
                report(label, lat, ms)
                print(
                    f"      dropped {dropped.get('partitions_dropped')},"
                    f" created {dropped.get('partitions_created')}, status {dropped.get('status')}"
                )
        drop_database(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())

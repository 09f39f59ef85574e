"""ingest_events at set speed: rows/s beside a bare set-based INSERT of the same rows, same run.

    .venv/bin/python benchmarks/bench_ingest.py                 # batches of 1,000 and 10,000
    .venv/bin/python benchmarks/bench_ingest.py --runs 5

Without --database-url it starts a throwaway local cluster (orchestrator.localpg) and removes
it at the end. It creates (and drops) database ``cachemon_bench``.

For each batch size, the same JSON array of events (recent times with a UTC offset, two
implementations, keys, latencies, sizes, 1% errors with a message) is stored, alternately, by

- ``cachemon.ingest_events(events)``: validation of every element (one set-wise statement),
  the batch id and its content hash, the rows;
- a bare ``INSERT INTO cachemon.cache_metrics SELECT ... FROM jsonb_to_recordset(events)``:
  no validation and no row in _ingested_batches, but the same rows as ingest_events stores
  (batch_id column included), into the same partitioned table, so the table's CHECKs, its
  index and the statement-level marking trigger run for both;
- for reference, ingest_events without its fast path (the careful statement alone, as before
  the fast path: sql/functions/ingest_events.sql with the fast-path block cut out, installed
  as cachemon.ingest_events_careful), and the per-row PL/pgSQL loop of revision 0002 (the
  frozen copy, installed under another name).

The calls alternate within each round (ingest_events, bare, careful, loop), so load on the
machine falls on all of them alike; the medians are compared.

Each figure is the median of --runs calls; the ratio ingest_events / bare is printed (the target
is at most 1.5).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from harness import DB, Conn, add_smoke, drop_database, fresh_database, print_server, server, smoke
from psycopg.rows import dict_row

from orchestrator.paths import alembic_dir, sql_dir

BARE = """
INSERT INTO cachemon.cache_metrics (recorded_at, implementation_type, event_type, cache_key,
                                    response_time_ms, cache_size, error_type, error_message,
                                    batch_id)
SELECT coalesce(r.recorded_at, now()), r.implementation_type, r.event_type, r.cache_key,
       r.response_time_ms, r.cache_size, r.error_type, r.error_message, %s
  FROM jsonb_to_recordset(%s::jsonb) AS r (
           recorded_at timestamptz, implementation_type text, event_type text, cache_key text,
           response_time_ms double precision, cache_size bigint, error_type text,
           error_message text)
"""


def make_events(n: int, rng: random.Random) -> str:
    now = datetime.now(UTC)
    events = []
    for i in range(n):
        kind = "error" if rng.random() < 0.01 else rng.choice(["hit", "hit", "hit", "miss", "set"])
        event: dict[str, object] = {
            "recorded_at": (now - timedelta(seconds=rng.uniform(0, 3600))).isoformat(),
            "implementation_type": "new" if i % 2 else "legacy",
            "event_type": kind,
            "cache_key": f"{rng.getrandbits(64):016x}",
            "response_time_ms": round(rng.lognormvariate(2, 0.6), 3),
            "cache_size": rng.randint(100, 100_000),
        }
        if kind == "error":
            event["error_type"] = "TimeoutError"
            event["error_message"] = "cache backend did not answer in 50 ms"
        events.append(event)
    return json.dumps(events)


def install_loop_reference(conn: Conn) -> None:
    """The per-row loop of revision 0002, as cachemon.ingest_events_loop (dropped at the end)."""
    frozen = alembic_dir() / "versions" / "0002_ingest" / "functions" / "ingest_events.sql"
    text = frozen.read_text().replace("cachemon.ingest_events(", "cachemon.ingest_events_loop(")
    text = text.replace("ingest_events.batch_id", "ingest_events_loop.batch_id")
    # 0002's loop cast and compare with the old domains; it stands for the old cost only.
    conn.execute(text.encode())


def install_careful_reference(conn: Conn) -> None:
    """ingest_events with its fast-path block cut out, as cachemon.ingest_events_careful."""
    text = (sql_dir() / "functions" / "ingest_events.sql").read_text()
    text, cut = re.subn(r"\n    -- The fast path:.*?\n    END;\n", "\n", text, flags=re.S)
    assert cut == 1, "the fast-path block of ingest_events.sql was not found"
    text = text.replace("cachemon.ingest_events(", "cachemon.ingest_events_careful(")
    text = text.replace("ingest_events.batch_id", "ingest_events_careful.batch_id")
    conn.execute(text.split("COMMENT ON FUNCTION")[0].encode())


def seconds(conn: Conn, sql: str, params: tuple[object, ...]) -> float:
    start = time.perf_counter()
    conn.execute(sql, params)
    return time.perf_counter() - start


def params_for(sql: str, payload: str) -> tuple[object, ...]:
    """A fresh batch id for each call; the bare INSERT takes it after the events' place."""
    batch = uuid.uuid4()
    return (batch, payload) if sql is BARE else (payload, batch)


def bench(conn: Conn, n: int, runs: int) -> None:
    payload = make_events(n, random.Random(n))
    calls = {
        "ingest_events": "SELECT cachemon.ingest_events(%s::jsonb, %s)",
        "bare INSERT": BARE,
        "careful only (before)": "SELECT cachemon.ingest_events_careful(%s::jsonb, %s)",
        "0002 per-row loop": "SELECT cachemon.ingest_events_loop(%s::jsonb, %s)",
    }
    times: dict[str, list[float]] = {name: [] for name in calls}
    for sql in calls.values():  # warm-up
        conn.execute(sql, params_for(sql, payload))
    for _ in range(runs):
        for name, sql in calls.items():
            times[name].append(seconds(conn, sql, params_for(sql, payload)))
        conn.execute("TRUNCATE cachemon.cache_metrics, cachemon._dirty_buckets")
    bare = statistics.median(times["bare INSERT"])
    print(f"batches of {n:,} events (median of {runs}):")
    for name in calls:
        med = statistics.median(times[name])
        print(
            f"   {name:<22} {med * 1000:8.1f} ms  {n / med:10,.0f} rows/s"
            f"   ratio to bare {med / bare:5.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="superuser URL of a server (default: start one)")
    parser.add_argument("--runs", type=int, default=15, help="calls per figure (median)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000])
    add_smoke(parser)
    args = parser.parse_args(argv)
    smoke(args, runs=1, sizes=[10])
    with server(args.database_url) as base:
        url = fresh_database(base)
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            print_server(conn, f"database {DB}")
            install_loop_reference(conn)
            install_careful_reference(conn)
            for n in args.sizes:
                bench(conn, n, args.runs)
        drop_database(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())

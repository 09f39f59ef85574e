"""Collector benchmark: hot-path cost, end-to-end ingest rate, peak memory.

    .venv/bin/python benchmarks/bench_collector.py [--events 1000000]

Starts a throwaway local PostgreSQL (``orchestrator.localpg``), upgrades it to head, prints:

1. the median cost of one ``record_cache_hit`` on the caller's thread (module-level function
   and ``Collector`` method, with the flusher running against the database), beside
   prometheus_client's ``Counter.labels(implementation, event_type).inc()`` in the same process;
2. end to end: N events recorded from one thread, from the first call until the last row is
   committed (``stop()`` returns), in a child process whose peak RSS is reported; then
   ``psql \\copy`` (binary) of the same rows into the same table;

and destroys the cluster. Figures, not assertions: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BLOCK = 1000
KEYS = [f"prompt number {i}: what is the capital of France?" for i in range(1000)]


def per_call_ns(fn: object, blocks: int) -> float:
    """Median over blocks of the mean cost of one call, in nanoseconds."""
    call = fn
    samples = []
    for _ in range(blocks):
        start = time.perf_counter_ns()
        for key in KEYS:  # BLOCK calls
            call(key)  # type: ignore[operator]
        samples.append((time.perf_counter_ns() - start) / BLOCK)
    return statistics.median(samples)


def bench_record(url: str, blocks: int) -> dict[str, float]:
    from prometheus_client import CollectorRegistry, Counter

    from orchestrator import Collector, record_cache_hit
    from orchestrator.collector import api

    counter = Counter(
        "cache_events",
        "cache events",
        ["implementation", "event_type"],
        registry=CollectorRegistry(),
    )
    collector = Collector(url).start()
    api._default = collector
    loop_only = per_call_ns(lambda key: None, blocks)
    results: dict[str, list[float]] = {
        "module": [],
        "method": [],
        "recorder": [],
        "prometheus": [],
        "loop": [],
    }
    method = collector.record_cache_hit
    hit = collector.recorder("new").hit
    for _ in range(5):  # interleaved rounds, so drift hits all alike
        results["module"].append(
            per_call_ns(lambda key: record_cache_hit(key, "new", 1.5, 450), blocks // 5)
        )
        results["method"].append(per_call_ns(lambda key: method(key, "new", 1.5, 450), blocks // 5))
        results["recorder"].append(per_call_ns(lambda key: hit(key, 1.5, 450), blocks // 5))
        results["prometheus"].append(
            per_call_ns(lambda key: counter.labels("new", "hit").inc(), blocks // 5)
        )
        results["loop"].append(per_call_ns(lambda key: None, blocks // 5))
    collector.stop(60)
    api._default = None
    out = {name: statistics.median(values) for name, values in results.items()}
    out["loop"] = min(out["loop"], loop_only)
    out["collected"] = collector.stats().collected
    out["sent"] = collector.stats().sent
    return out


def e2e_child(url: str, events: int) -> None:
    from orchestrator import Collector

    collector = Collector(url, max_buffer=events + 1).start()
    record = collector.record_cache_hit
    keys = KEYS
    start = time.perf_counter()
    for i in range(events):
        record(keys[i % 1000], "new", 1.5, i)
    recorded = time.perf_counter()
    ok = collector.stop(600)
    done = time.perf_counter()
    s = collector.stats()
    print(
        json.dumps(
            {
                "ok": ok,
                "record_s": recorded - start,
                "total_s": done - start,
                "sent": s.sent,
                "batches": s.batches_sent,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def psql_copy(cluster: object, url: str, events: int, workdir: Path) -> dict[str, float]:
    import uuid

    import psycopg

    from orchestrator.collector.events import COLUMNS, encode_rows
    from orchestrator.collector.keys import apply_key_mode

    now = time.time()
    rows = apply_key_mode(
        [(now, "hit", "new", KEYS[i % 1000], 1.5, i, None, None) for i in range(events)], "hash"
    )
    data = workdir / "rows.bin"
    with open(data, "wb") as fh:
        for chunk in encode_rows(rows, uuid.uuid4(), chunk_rows=50_000):
            fh.write(chunk)
    del rows
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE cachemon.cache_metrics")
    psql = Path(cluster.bindir) / "psql"  # type: ignore[attr-defined]
    command = (
        f"\\copy cachemon.cache_metrics ({', '.join(COLUMNS)}) FROM '{data}' WITH (FORMAT binary)"
    )
    start = time.perf_counter()
    subprocess.run([str(psql), url, "-q", "-c", command], check=True)
    elapsed = time.perf_counter() - start
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM cachemon.cache_metrics").fetchone()
    assert row is not None and row[0] == events, row
    return {"total_s": elapsed, "rows_per_s": events / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--blocks", type=int, default=500, help="blocks of 1000 record calls")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: every line, quickly")
    parser.add_argument("--e2e-child", nargs=2, metavar=("URL", "EVENTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.e2e_child:
        e2e_child(args.e2e_child[0], int(args.e2e_child[1]))
        return
    if args.smoke:
        args.events, args.blocks = 20_000, 20

    import psycopg

    from orchestrator import dbversions, localpg

    root = Path(tempfile.mkdtemp(prefix="cachemon-bench-"))
    try:
        cluster = localpg.start(root)
        url = cluster.url("cachemon")
        dbversions.upgrade(url)
        rec = bench_record(url, args.blocks)
        print("1. hot path, median ns per call (caller's thread, flusher running):")
        print(f"   record_cache_hit (module function) {rec['module']:8.0f} ns")
        print(f"   Collector.record_cache_hit         {rec['method']:8.0f} ns")
        print(
            f"   Recorder.hit (c.recorder('new'))   {rec['recorder']:8.0f} ns"
            f"   ({rec['recorder'] / rec['prometheus']:.2f}x prometheus; target <= 250 ns)"
        )
        print(f"   prometheus Counter.labels().inc()  {rec['prometheus']:8.0f} ns")
        print(f"   (empty loop body, included above)  {rec['loop']:8.0f} ns")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("TRUNCATE cachemon.cache_metrics")
        child = subprocess.run(
            [sys.executable, __file__, "--e2e-child", url, str(args.events)],
            capture_output=True,
            text=True,
            check=True,
        )
        e2e = json.loads(child.stdout.strip().splitlines()[-1])
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT count(*), count(DISTINCT batch_id) FROM cachemon.cache_metrics"
            ).fetchone()
        assert row is not None
        print(f"2. end to end, {args.events} events from one thread until the last commit:")
        print(
            f"   collector: {e2e['total_s']:.2f} s = {args.events / e2e['total_s']:,.0f} rows/s"
            f" (recording alone {e2e['record_s']:.2f} s; {e2e['batches']} batches;"
            f" rows in table {row[0]}, ok={e2e['ok']})"
        )
        cp = psql_copy(cluster, url, args.events, root)
        print(
            f"   psql \\copy binary, same rows, same table: {cp['total_s']:.2f} s"
            f" = {cp['rows_per_s']:,.0f} rows/s"
        )
        print(
            f"   collector / \\copy rate: {args.events / e2e['total_s'] / cp['rows_per_s']:.2f}"
            " (target >= 0.8)"
        )
        print(f"3. peak RSS of the recording process: {e2e['peak_rss_mb']:.0f} MB")
    finally:
        localpg.destroy(root)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

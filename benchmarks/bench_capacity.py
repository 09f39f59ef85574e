"""Sustained capacity: the highest event rate one database keeps up with, tick on its schedule.

    .venv/bin/python benchmarks/bench_capacity.py                 # full size (hours)
    .venv/bin/python benchmarks/bench_capacity.py --smoke         # seconds: every line, tiny
    .venv/bin/python benchmarks/bench_capacity.py --impls 2 --rates 5000,10000,20000 \\
        --step-minutes 5 --hold-minutes 30

Starts a throwaway local PostgreSQL (``orchestrator.localpg``), upgrades it to head, and for
each number of implementations (default 2, 20 and 200), in a fresh database:

1. Steps through the rates (events per second, all senders together; ascending). In each step
   ``--senders`` processes, each with a real ``orchestrator.Collector`` (pre-bound recorders,
   batch 1000, flush every second), record events at their share of the rate, paced every
   10 ms, with a realistic mix (hits, misses, sets, a few evictions and errors; log-normal
   latencies; 1000 keys; the implementations round-robin). Meanwhile ``cachemon.tick()`` runs
   on a timer as ``cachemon scheduler`` runs it (every minute at full size, 5 s past the
   minute so that a sender's last batch of the minute is in before it) and a sampler reads
   the rollup lag every 5 s: now minus the end of the newest complete minute
   (``least(oldest queued bucket, start of the current minute)``).
   A step keeps up when: its lag stays under 2 minutes and has no trend (the mean over the
   last third of the step is at most 15 s above the mean over the middle third), tick's p99
   stays under 60 s, no tick runs past the next beat (a run that would wait behind another),
   and the senders delivered the rate (at least 95%, nothing dropped). The first step that
   does not keep up ends the search.
2. Holds the highest rate that kept up for ``--hold-minutes`` (30 at full size) and judges it
   the same way: that is the capacity figure.
3. Per step: WAL bytes per event (``pg_current_wal_lsn`` difference) and disk bytes per event
   (``pg_total_relation_size`` of the raw partitions and the rollup tables, difference).
4. The auditor's cost: ``run_auditor()`` (median of 5) at the end, and per implementation.

Reference, same run: binary ``psql \\copy`` of rows of the same mix into the same table
(rows per second), printed beside the capacity figure.

Figures, not assertions: nothing here fails on a slow machine. Heavy: run it alone.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
KEYS = [f"prompt number {i}: what is the capital of France?" for i in range(1000)]
# The mix of one sender: mostly lookups, some writes, a few evictions and errors.
MIX = ["hit"] * 60 + ["miss"] * 25 + ["set"] * 12 + ["evict"] * 2 + ["error"]
LAG_LIMIT_S = 120.0
TICK_P99_LIMIT_S = 60.0
TREND_LIMIT_S = 15.0
SIZE_SQL = """
    SELECT coalesce(sum(pg_catalog.pg_total_relation_size(t.relid)), 0)::bigint AS raw,
           (pg_catalog.pg_total_relation_size('cachemon.cache_metrics_1min')
            + pg_catalog.pg_total_relation_size('cachemon.cache_metrics_1hour')
            + pg_catalog.pg_total_relation_size('cachemon._cache_metrics_1day')
            + pg_catalog.pg_total_relation_size('cachemon._dirty_buckets'))::bigint AS rollups,
           pg_catalog.pg_current_wal_lsn() AS lsn
      FROM pg_catalog.pg_partition_tree('cachemon.cache_metrics') AS t
"""
LAG_SQL = """
    SELECT extract(epoch FROM now() - least(
               (SELECT min(d.bucket) FROM cachemon._dirty_buckets AS d),
               date_trunc('minute', now())))::float8 AS lag
"""


def impl_names(n: int) -> list[str]:
    return ["legacy", "new"] if n == 2 else [f"impl{i:03d}" for i in range(n)]


# -- senders (child processes) ------------------------------------------------------------


def sender(url: str, rate: float, seconds: float, impls: int, seed: int) -> None:
    """One process: a real Collector recording ``rate`` events/s for ``seconds``; prints
    its statistics as one JSON line."""
    from orchestrator import Collector

    rng = random.Random(seed)
    collector = Collector(url, batch_size=1000, flush_interval=1.0, max_buffer=2_000_000).start()
    recs = [collector.recorder(name) for name in impl_names(impls)]
    plan = []
    for i in range(4096):
        rec = recs[i % len(recs)]
        kind = MIX[rng.randrange(len(MIX))]
        rt = round(rng.lognormvariate(1.0, 0.8), 3) + 0.001
        plan.append((kind, rec, KEYS[rng.randrange(1000)], rt, rng.randrange(100_000)))
    start = time.monotonic()
    done = 0
    while True:
        elapsed = time.monotonic() - start
        if elapsed >= seconds:
            break
        due = int(rate * elapsed) - done
        for j in range(done, done + due):
            kind, rec, key, rt, size = plan[j & 4095]
            if kind == "hit":
                rec.hit(key, rt, size)
            elif kind == "miss":
                rec.miss(key, rt, size)
            elif kind == "set":
                rec.set(key, rt, size)
            elif kind == "evict":
                rec.evict(key, None, size)
            else:
                rec.error(key, "TimeoutError", "backend timed out", rt)
        done += due
        time.sleep(0.01)
    ok = collector.stop(120)
    s = collector.stats()
    print(
        json.dumps(
            {
                "ok": ok,
                "recorded": done,
                "sent": s.sent,
                "dropped": s.dropped,
                "rejected": s.rejected,
            }
        ),
        flush=True,
    )


# -- one step -----------------------------------------------------------------------------


@dataclass
class Step:
    impls: int
    rate: float
    seconds: float
    lags: list[tuple[float, float]] = field(default_factory=list)
    ticks: list[Any] = field(default_factory=list)
    late_ticks: int = 0
    sent: int = 0
    dropped: int = 0
    recorded: int = 0
    wal_bytes: int = 0
    disk_bytes: int = 0
    senders_ok: bool = True

    @property
    def delivered(self) -> float:
        return self.sent / self.seconds

    @property
    def max_lag(self) -> float:
        return max((lag for _, lag in self.lags), default=math.nan)

    @property
    def trend(self) -> float:
        """Mean lag over the last third minus the mean over the middle third (seconds)."""
        n = len(self.lags)
        if n < 6:
            return 0.0
        mid = [lag for _, lag in self.lags[n // 3 : 2 * n // 3]]
        last = [lag for _, lag in self.lags[2 * n // 3 :]]
        return statistics.fmean(last) - statistics.fmean(mid)

    @property
    def tick_p99(self) -> float:
        durations: list[float] = sorted(float(t.duration_ms) / 1000 for t in self.ticks)
        if not durations:
            return math.nan
        return durations[min(len(durations) - 1, math.ceil(0.99 * len(durations)) - 1)]

    @property
    def busy(self) -> int:
        return sum(1 for t in self.ticks if t.status == "busy")

    def keeps_up(self) -> bool:
        return (
            self.max_lag < LAG_LIMIT_S
            and self.trend <= TREND_LIMIT_S
            and self.tick_p99 < TICK_P99_LIMIT_S
            and self.late_ticks == 0
            and self.busy == 0
            and self.senders_ok
            and self.dropped == 0
            and self.delivered >= 0.95 * self.rate
        )

    def line(self, label: str) -> str:
        per_event = max(self.sent, 1)
        return (
            f"   {label} {self.rate:>9,.0f}/s: delivered {self.delivered:>9,.0f}/s,"
            f" lag max {self.max_lag:5.1f} s trend {self.trend:+5.1f} s,"
            f" tick p99 {self.tick_p99:6.2f} s ({len(self.ticks)} ticks, {self.late_ticks} late,"
            f" {self.busy} busy), WAL {self.wal_bytes / per_event:6.0f} B/event,"
            f" disk {self.disk_bytes / per_event:6.0f} B/event"
            f" -> {'keeps up' if self.keeps_up() else 'falls behind'}"
        )


def run_step(
    url: str, impls: int, rate: float, seconds: float, senders: int, tick_s: float
) -> Step:
    import psycopg
    from psycopg.rows import dict_row

    from orchestrator import rollup

    step = Step(impls, rate, seconds)
    lock = threading.Lock()

    def on_event(kind: str, payload: object) -> None:
        if kind == "tick" and isinstance(payload, rollup.TickResult):
            with lock:
                step.ticks.append(payload)
                if payload.duration_ms / 1000 > tick_s:
                    step.late_ticks += 1

    stop = threading.Event()

    def ticker() -> None:
        # cachemon.tick() on the beat, a twelfth of the interval past it (5 s past each minute
        # at full size): a sender's last batch of a minute (flushed every second) is then in
        # before the tick, instead of re-queueing its minute just after it.
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as tconn:
            while not stop.wait(tick_s - ((time.time() - tick_s / 12) % tick_s)):
                on_event("tick", rollup.tick(tconn))

    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        before = conn.execute(SIZE_SQL).fetchone()
        assert before is not None
        thread = threading.Thread(target=ticker, name="capacity-ticker", daemon=True)
        thread.start()
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--sender",
                    url,
                    str(rate / senders),
                    str(seconds),
                    str(impls),
                    str(i),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for i in range(senders)
        ]
        t0 = time.monotonic()
        while any(p.poll() is None for p in procs):
            row = conn.execute(LAG_SQL).fetchone()
            assert row is not None
            if time.monotonic() - t0 <= seconds:
                step.lags.append((time.monotonic() - t0, float(row["lag"])))
            time.sleep(min(5.0, tick_s))
        for p in procs:
            out = (p.stdout.read() if p.stdout else "").strip().splitlines()
            if p.returncode != 0 or not out:
                step.senders_ok = False
                continue
            stats = json.loads(out[-1])
            step.sent += stats["sent"]
            step.dropped += stats["dropped"]
            step.recorded += stats["recorded"]
            step.senders_ok = step.senders_ok and bool(stats["ok"]) and stats["rejected"] == 0
        stop.set()
        thread.join()
        after = conn.execute(SIZE_SQL).fetchone()
        assert after is not None
        wal = conn.execute(
            "SELECT pg_catalog.pg_wal_lsn_diff(%s, %s)::bigint AS d", (after["lsn"], before["lsn"])
        ).fetchone()
        assert wal is not None
        step.wal_bytes = int(wal["d"])
        step.disk_bytes = (after["raw"] + after["rollups"]) - (before["raw"] + before["rollups"])
        # Catch up before the next step: each step starts from an empty queue.
        while rollup.tick(conn).buckets_left > 0:
            pass
    return step


# -- reference: binary \copy ------------------------------------------------------------


def copy_reference(cluster: Any, url: str, rows: int, impls: int, workdir: Path) -> float:
    import psycopg

    from orchestrator.collector.events import COLUMNS, encode_rows
    from orchestrator.collector.keys import apply_key_mode

    rng = random.Random(7)
    names = impl_names(impls)
    now = time.time()
    events = []
    for i in range(rows):
        kind = MIX[rng.randrange(len(MIX))]
        rt = None if kind == "evict" else round(rng.lognormvariate(1.0, 0.8), 3) + 0.001
        err = ("TimeoutError", "backend timed out") if kind == "error" else (None, None)
        events.append(
            (now - 1 + i / rows, kind, names[i % len(names)], KEYS[i % 1000], rt, i % 100_000, *err)
        )
    stored = apply_key_mode(events, "hash")
    data = workdir / "capacity-rows.bin"
    with open(data, "wb") as fh:
        for chunk in encode_rows(stored, uuid.uuid4(), chunk_rows=50_000):
            fh.write(chunk)
    psql = Path(cluster.bindir) / "psql"
    command = (
        f"\\copy cachemon.cache_metrics ({', '.join(COLUMNS)}) FROM '{data}' WITH (FORMAT binary)"
    )
    start = time.perf_counter()
    subprocess.run([str(psql), url, "-q", "-c", command], check=True)
    elapsed = time.perf_counter() - start
    with psycopg.connect(url, autocommit=True) as conn:
        n = conn.execute("SELECT count(*) FROM cachemon.cache_metrics").fetchone()
        assert n is not None and n[0] >= rows, n
        conn.execute("TRUNCATE cachemon.cache_metrics, cachemon._dirty_buckets")
    data.unlink()
    return rows / elapsed


def fresh_database(base_url: str, name: str) -> str:
    import psycopg

    from orchestrator import dbversions

    parts = urlsplit(base_url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {name}")
    url = urlunsplit(parts._replace(path="/" + name))
    dbversions.upgrade(url)
    return url


def auditor_ms(url: str) -> float:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            conn.execute("SELECT * FROM cachemon.run_auditor()").fetchall()
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="seconds, tiny rates: every line")
    parser.add_argument("--impls", default="2,20,200", help="implementation counts (comma list)")
    parser.add_argument(
        "--rates", default="2000,5000,10000,20000,40000,80000", help="events/s, ascending"
    )
    parser.add_argument("--step-minutes", type=float, default=5.0)
    parser.add_argument("--hold-minutes", type=float, default=30.0)
    parser.add_argument("--tick-seconds", type=float, default=60.0)
    parser.add_argument("--senders", type=int, default=4, help="sender processes")
    parser.add_argument("--copy-rows", type=int, default=1_000_000)
    parser.add_argument("--sender", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sender:
        u, r, s, k, seed = args.sender
        sender(u, float(r), float(s), int(k), int(seed))
        return 0
    if args.smoke:
        args.rates, args.step_minutes, args.hold_minutes = "200,400", 0.25, 0.25
        args.tick_seconds, args.senders, args.copy_rows = 3.0, 2, 20_000
        if args.impls == "2,20,200":
            args.impls = "2,20"
    impl_counts = [int(x) for x in args.impls.split(",")]
    rates = [float(x) for x in args.rates.split(",")]

    from orchestrator import localpg

    root = Path(tempfile.mkdtemp(prefix="cachemon-bench-"))
    try:
        cluster = localpg.start(root)
        base = cluster.url("postgres")
        print(
            f"capacity: {args.senders} sender processes, tick every {args.tick_seconds:g} s"
            f" ({args.tick_seconds / 12:g} s past the beat), steps of {args.step_minutes:g} min,"
            f" hold {args.hold_minutes:g} min; keeps up = lag < {LAG_LIMIT_S:.0f} s without trend"
            f" (<= +{TREND_LIMIT_S:.0f} s), tick p99 < {TICK_P99_LIMIT_S:.0f} s, no late or"
            " busy tick, rate delivered",
            flush=True,
        )
        summary = []
        for k in impl_counts:
            url = fresh_database(base, f"cachemon_capacity_{k}")
            copy_rate = copy_reference(cluster, url, args.copy_rows, k, root)
            print(f"{k} implementations:", flush=True)
            print(
                f"   binary \\copy of {args.copy_rows:,} rows of the same mix:"
                f" {copy_rate:,.0f} rows/s"
            )
            best: Step | None = None
            for rate in rates:
                step = run_step(
                    url, k, rate, args.step_minutes * 60, args.senders, args.tick_seconds
                )
                print(step.line("step"), flush=True)
                if not step.keeps_up():
                    break
                best = step
            held: Step | None = None
            if best is not None and args.hold_minutes > 0:
                held = run_step(
                    url, k, best.rate, args.hold_minutes * 60, args.senders, args.tick_seconds
                )
                print(held.line("hold"), flush=True)
            audit = auditor_ms(url)
            if held is not None:
                capacity = held.rate if held.keeps_up() else 0.0
                how = f"held {args.hold_minutes:g} min"
            else:
                capacity = best.rate if best is not None else 0.0
                how = f"highest step that kept up ({args.step_minutes:g} min; no hold)"
            ceiling = " (the highest rate tried: a lower bound)" if capacity == rates[-1] else ""
            print(
                f"   capacity: {capacity:,.0f} events/s {how}{ceiling}"
                f" ({capacity / copy_rate:.2f}x binary \\copy)"
            )
            print(f"   run_auditor: {audit:.1f} ms, {audit / k:.2f} ms per implementation")
            summary.append((k, capacity, copy_rate, audit))
        print("summary (implementations, events/s kept up with, x \\copy, auditor ms/impl):")
        for k, capacity, copy_rate, audit in summary:
            print(
                f"   {k:>4} implementations: {capacity:>9,.0f} events/s"
                f"  {capacity / copy_rate:.2f}x \\copy  auditor {audit / k:.2f} ms/impl"
            )
    finally:
        localpg.destroy(root)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

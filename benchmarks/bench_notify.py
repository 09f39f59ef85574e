"""What alert delivery costs: the outbox trigger's share of tick, and deliveries per second.

    .venv/bin/python benchmarks/bench_notify.py [--implementations 8] [--minutes 120]
                                                 [--deliveries 2000]

1. Outbox cost on tick. Two databases are made from one template holding --implementations
   implementations with a day of clean minutes, baselines, and then --minutes of play in which
   every implementation goes through incidents (hit-rate drops of two strengths, so findings
   open, escalate and resolve). In one database the outbox trigger is on, in the other it is
   disabled: the reference, measured in the same run. tick(p_now) runs for every minute in
   both, alternating which goes first; the script prints both totals, their ratio, and the
   events the outbox wrote. Target: under 5%.
2. Deliveries per second. --deliveries findings open at once and a flush queues one delivery
   each to a webhook receiver on 127.0.0.1 (a threading HTTP server answering 200, in its own
   process); one worker
   (orchestrator.notify.process_once, batches of 50, keep-alive connections as `notify run`
   keeps them) sends and records them until none is left.
   Target: at least 200/s.

On a shared machine the load moves a single figure by a third or more: compare figures of one
run with each other, not with another run's.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from harness import add_smoke, smoke  # beside this script
from psycopg import sql
from psycopg.rows import dict_row

from orchestrator import dbversions, localpg, notify
from orchestrator.synthetic import Profile, insert_minutes

Conn = psycopg.Connection[dict[str, Any]]

# A webhook receiver answering 200 (HTTP/1.1, keep-alive); prints its port, and on SIGTERM
# the number of requests it received.
RECEIVER = """
import signal, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
count = [0]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        count[0] += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
s.daemon_threads = True
def stop(*a):
    print(count[0], flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


def _prepare(url: str, impls: int, minutes: int) -> tuple[datetime, datetime]:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=minutes + 5)
    history = start - timedelta(days=1)
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute(
            "UPDATE cachemon._settings SET value = '1 minute' WHERE name = 'auditor.window'"
        )
        for i in range(impls):
            p = Profile(f"cache{i}", daily_amplitude=0.1)
            insert_minutes(conn, p, history, 24 * 60, seed=0.1 + i / 100)
            conn.execute(
                "SELECT id FROM cachemon.compute_baseline(%s, '1 day', %s)",
                (p.implementation_type, start),
            )
            at = start
            k = 0
            while at < start + timedelta(minutes=minutes):
                length = 6 + (i + k) % 5
                rate = (60, 80, 50, 80)[k % 4]  # warning, clean, critical, clean
                insert_minutes(conn, p.but(hit_rate=rate), at, length, seed=(i + k) / 50 % 1)
                at += timedelta(minutes=length)
                k += 1
    return start, start + timedelta(minutes=minutes)


def outbox_cost(pg: localpg.LocalCluster, impls: int, minutes: int) -> dict[str, Any]:
    template = "bench_notify_template"
    url = pg.url("postgres")
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(template)))
    turl = pg.url(template)
    dbversions.upgrade(turl)
    start, end = _prepare(turl, impls, minutes)
    urls = {}
    with psycopg.connect(url, autocommit=True) as admin:
        for name in ("with_outbox", "without_outbox"):
            admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
            urls[name] = pg.url(name)
    conns = {n: psycopg.connect(u, autocommit=True, row_factory=dict_row) for n, u in urls.items()}
    try:
        conns["without_outbox"].execute(
            "ALTER TABLE cachemon.cache_auditor_observations"
            " DISABLE TRIGGER cache_auditor_observations_notify"
        )
        totals = {n: 0.0 for n in conns}
        at = start + timedelta(minutes=1, seconds=5)
        order = list(conns)
        while at <= end:
            for name in order:
                t = time.perf_counter()
                conns[name].execute("SELECT status FROM cachemon.tick(%s)", (at,)).fetchall()
                totals[name] += 1000 * (time.perf_counter() - t)
            order.reverse()
            at += timedelta(minutes=1)
        counts = {}
        for name, c in conns.items():
            row = c.execute(
                "SELECT (SELECT count(*) FROM cachemon.notify_events) AS events,"
                " (SELECT count(*) FROM cachemon.cache_auditor_observations) AS findings"
            ).fetchone()
            counts[name] = row
    finally:
        for c in conns.values():
            c.close()
    return {"totals": totals, "counts": counts, "ticks": minutes}


def deliveries_per_second(pg: localpg.LocalCluster, n: int) -> dict[str, float]:
    with psycopg.connect(pg.url("postgres"), autocommit=True) as admin:
        admin.execute("CREATE DATABASE bench_deliveries")
    url = pg.url("bench_deliveries")
    dbversions.upgrade(url)
    # The receiver is its own process (as a real one is), not threads sharing this one's GIL.
    server = subprocess.Popen(
        [sys.executable, "-c", RECEIVER],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdout is not None
    port = int(server.stdout.readline())
    try:
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            conn.execute("DELETE FROM cachemon.notify_routes")
            conn.execute(
                "SELECT cachemon.add_receiver('bench', 'webhook', %s, p_allow_private => true)",
                (f"http://127.0.0.1:{port}/hook",),
            )
            conn.execute("SELECT cachemon.add_route('bench', p_group_wait => '0 seconds')")
            now = datetime.now(UTC)
            conn.execute(
                "INSERT INTO cachemon.cache_auditor_observations (implementation_type, rule,"
                " severity, category, message, first_seen_at, last_seen_at)"
                " SELECT 'bench' || i, 'hit_rate_drop', 'warning', 'performance',"
                " 'benchmark finding', %s, %s FROM generate_series(1, %s) AS i",
                (now, now, n),
            )
            t = time.perf_counter()
            notify.flush(conn)
            flush_s = time.perf_counter() - t
            queued = conn.execute(
                "SELECT count(*) AS n FROM cachemon.notify_deliveries WHERE status = 'pending'"
            ).fetchone()
            pool = notify.Connections()
            t = time.perf_counter()
            try:
                while True:
                    sent = notify.process_once(
                        conn, "bench", limit=50, sender=lambda c: notify.send(c, pool)
                    )
                    if not sent:
                        break
            finally:
                pool.close()
            send_s = time.perf_counter() - t
            delivered = conn.execute(
                "SELECT count(*) AS n FROM cachemon.notify_deliveries WHERE status = 'delivered'"
                " AND receiver = 'bench'"
            ).fetchone()
    finally:
        server.terminate()
        received = [int(server.communicate(timeout=10)[0].strip() or -1)]
    assert queued is not None and delivered is not None
    return {
        "queued": float(queued["n"]),
        "delivered": float(delivered["n"]),
        "received": float(received[0]),
        "flush_s": flush_s,
        "send_s": send_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--implementations", type=int, default=8)
    parser.add_argument("--minutes", type=int, default=120)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument(
        "--part", choices=("all", "outbox", "deliveries"), default="all", help="what to measure"
    )
    add_smoke(parser)
    args = parser.parse_args(argv)
    smoke(args, implementations=2, minutes=10, deliveries=20)
    if not 1 <= args.implementations <= 100 or not 10 <= args.minutes <= 1000:
        parser.error("--implementations 1..100, --minutes 10..1000")
    root = Path(tempfile.mkdtemp(prefix="cachemon-bench-notify-"))
    try:
        pg = localpg.start(root, fast=True)
        cost = (
            outbox_cost(pg, args.implementations, args.minutes)
            if args.part != "deliveries"
            else None
        )
        rate = deliveries_per_second(pg, args.deliveries) if args.part != "outbox" else None
    finally:
        localpg.destroy(root)
        shutil.rmtree(root, ignore_errors=True)
    if cost is not None:
        _print_cost(cost, args.implementations)
    if rate is not None:
        _print_rate(rate)
    return 0


def _print_cost(cost: dict[str, Any], implementations: int) -> None:
    on, off = cost["totals"]["with_outbox"], cost["totals"]["without_outbox"]
    c = cost["counts"]
    print(f"outbox cost on tick: {cost['ticks']} ticks of {implementations} implementations")
    print(f"   tick with the outbox trigger     {on:9.0f} ms  ({on / cost['ticks']:.1f} ms/tick)")
    print(f"   tick without it (reference)      {off:9.0f} ms  ({off / cost['ticks']:.1f} ms/tick)")
    print(f"   ratio {on / off:.3f} (target < 1.05)")
    print(
        f"   findings {c['with_outbox']['findings']} / {c['without_outbox']['findings']},"
        f" outbox events {c['with_outbox']['events']} / {c['without_outbox']['events']}"
    )


def _print_rate(rate: dict[str, float]) -> None:
    print(f"deliveries: {rate['queued']:.0f} queued by one flush in {rate['flush_s']:.2f} s")
    print(
        f"   one worker: {rate['delivered']:.0f} delivered ({rate['received']:.0f} received)"
        f" in {rate['send_s']:.2f} s = {rate['delivered'] / rate['send_s']:.0f}/s (target >= 200/s)"
    )


if __name__ == "__main__":
    sys.exit(main())

"""The dashboard under load: 200 live pages, pages that never read, and a burst of requests.

    .venv/bin/python benchmarks/bench_dashboard_load.py [--database-url URL] [--pages 200]

Starts ``cachemon dashboard`` as its own process (default settings, except room for the
stalled pages: CACHEMON_DASHBOARD_MAX_CLIENTS = pages + stalled) on two hours of rolled-up
events, then prints, each beside a reference taken in the same run:

1. database connections the dashboard holds (pg_stat_activity, sampled during the load)
   against its bound, pool_size + 1 (the LISTEN connection);
2. a writer role connecting during the load: successes out of attempts and the median
   connect time, against the same with the dashboard idle;
3. the server's memory: resident set idle, and its peak (VmHWM) after the load, the growth
   against the stated bound;
4. push latency, a committed NOTIFY to "event: state" read by each page (median and max over
   pages and rounds), with 200 pages against one page;
5. the request burst: how many were served (200) or told to come back (429), and the median
   time of a served one against one request on an idle server.

No assertion: the figures are printed.
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
from psycopg.rows import dict_row

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import add_smoke, fresh_database, load, server, smoke, tick_until_idle

from orchestrator.dashboard.live import CHUNK

RANGES = ("1h", "6h", "24h", "7d", "30d")
POOL_SIZE = 4  # the default


class Page:
    """A live page as a raw socket; ``states`` holds the arrival times of its states."""

    def __init__(self, port: int, range_name: str, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(
            f"GET /events?range={range_name} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        )
        self.tail = b""
        self.states: list[float] = []
        self.status = b""

    def feed(self) -> bool:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            return False
        now = time.monotonic()
        if not self.status:
            self.status = chunk[:12]
        data = self.tail + chunk
        self.states += [now] * (data.count(b"event: state") - self.tail.count(b"event: state"))
        self.tail = data[-32:]
        return True


class Reader:
    """Reads every page in a thread, as browsers would."""

    def __init__(self, pages: list[Page]) -> None:
        self.sel = selectors.DefaultSelector()
        for p in pages:
            self.sel.register(p.sock, selectors.EVENT_READ, p)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.is_set():
            for key, _ in self.sel.select(timeout=0.1):
                if not key.data.feed():
                    self.sel.unregister(key.fileobj)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.sel.close()


def proc_status(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def held_connections(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name LIKE 'cachemon dashboard%%'"
        ).fetchone()
    return int(row[0]) if row else 0


def writer_connects(url: str, n: int) -> tuple[int, float]:
    ok, times = 0, []
    for _ in range(n):
        t0 = time.perf_counter()
        try:
            with psycopg.connect(url, connect_timeout=10) as conn:
                conn.execute("SELECT 1")
            ok += 1
            times.append((time.perf_counter() - t0) * 1000)
        except psycopg.OperationalError:
            pass
    return ok, statistics.median(times) if times else float("nan")


def push_latency(url: str, pages: list[Page], rounds: int) -> list[float]:
    """Per page and round: ms from a committed NOTIFY to the next state the page read."""
    out: list[float] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for i in range(rounds):
            time.sleep(2.5)  # past the rate limit of the previous round
            seen = [len(p.states) for p in pages]
            conn.execute("SELECT pg_notify('cachemon_events', %s)", (f'{{"id": {i}}}',))
            t0 = time.monotonic()
            deadline = t0 + 30
            while any(len(p.states) <= s for p, s in zip(pages, seen, strict=True)):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.005)
            out += [
                (p.states[s] - t0) * 1000
                for p, s in zip(pages, seen, strict=True)
                if len(p.states) > s
            ]
    return out


def burst(base: str, n: int) -> tuple[dict[int, int], float]:
    def one(i: int) -> tuple[int, float]:
        t0 = time.perf_counter()
        r = httpx.get(f"{base}/.json?range={RANGES[i % 5]}", timeout=60)
        return r.status_code, (time.perf_counter() - t0) * 1000

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(one, range(n)))
    counts: dict[int, int] = {}
    for status, _ in results:
        counts[status] = counts.get(status, 0) + 1
    served = [ms for status, ms in results if status == 200]
    return counts, statistics.median(served) if served else float("nan")


def fmt_mb(n: float) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


def run(url: str, n_pages: int, n_stalled: int, rounds: int) -> None:
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        load(conn, 100_000, "now() - interval '2 hours'", "interval '2 hours'")
        tick_until_idle(conn)
        conn.execute("DROP ROLE IF EXISTS bench_dash_writer")
        conn.execute("CREATE ROLE bench_dash_writer LOGIN PASSWORD 'bench' IN ROLE cachemon_writer")
        max_conn = conn.execute("SHOW max_connections").fetchone()
    writer_url = url.replace(url.split("//", 1)[1].split("@", 1)[0], "bench_dash_writer:bench")
    cachemon = Path(sys.executable).parent / "cachemon"
    env = {k: v for k, v in os.environ.items() if k != "CACHEMON_DASHBOARD_TOKEN"}
    env |= {
        "CACHEMON_DATABASE_URL": url,
        "CACHEMON_DASHBOARD_PORT": "0",
        "CACHEMON_DASHBOARD_MAX_CLIENTS": str(n_pages + n_stalled),
    }
    proc = subprocess.Popen(
        [str(cachemon), "dashboard"], stderr=subprocess.PIPE, text=True, env=env
    )
    pages: list[Page] = []
    stalled: list[Page] = []
    reader: Reader | None = None
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        base = line.split()[3].rstrip("/")
        port = int(base.rsplit(":", 1)[1])
        while True:
            try:
                httpx.get(base + "/findings.json", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        print(
            f"PostgreSQL max_connections {max_conn and max_conn['max_connections']};"
            f" dashboard pid {proc.pid}, pool_size {POOL_SIZE} (default)"
        )
        # References: an idle server.
        idle_ok, idle_ms = writer_connects(writer_url, 50)
        one_counts, one_ms = burst(base, 1)
        single = Page(port, "1h")
        reader = Reader([single])
        while not single.states:
            time.sleep(0.05)
        ref_latency = push_latency(url, [single], rounds)
        reader.close()
        single.sock.close()
        rss_idle = proc_status(proc.pid, "VmRSS")

        # The load.
        pages = [Page(port, RANGES[i % 5]) for i in range(n_pages)]
        reader = Reader(pages)
        stalled = [Page(port, "24h", rcvbuf=4096) for _ in range(n_stalled)]
        deadline = time.monotonic() + 120
        while any(not p.states for p in pages) and time.monotonic() < deadline:
            time.sleep(0.05)
        got_state = sum(1 for p in pages if p.states)
        samples: list[int] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append(held_connections(url))
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        with ThreadPoolExecutor(1) as ex:
            bursting = ex.submit(burst, base, 200)
            load_ok, load_ms = writer_connects(writer_url, 50)
            counts, served_ms = bursting.result()
        latency = push_latency(url, pages, rounds)
        stop.set()
        sampler.join()
        rss_peak = proc_status(proc.pid, "VmHWM")
        rss_now = proc_status(proc.pid, "VmRSS")
        state_bytes = len(httpx.get(base + "/.json?range=24h", timeout=30).content)
        bound = (n_pages + n_stalled) * 2 * CHUNK + 5 * 2 * state_bytes

        print(f"1. pages: {got_state}/{n_pages} got a state at once; {n_stalled} more never read")
        print(
            f"   database connections held by the dashboard: max {max(samples)} over"
            f" {len(samples)} samples   [bound: pool_size + 1 = {POOL_SIZE + 1}]"
        )
        print(
            f"2. writer connects during the load: {load_ok}/50 (median {load_ms:.1f} ms)"
            f"   idle reference: {idle_ok}/50 (median {idle_ms:.1f} ms)"
        )
        print(
            f"3. server RSS: idle {fmt_mb(rss_idle)}, peak under load {fmt_mb(rss_peak)}"
            f" (growth {fmt_mb(rss_peak - rss_idle)}), after {fmt_mb(rss_now)}"
            f"   [stated bound on growth for {n_pages + n_stalled} pages: {fmt_mb(bound)};"
            f" a state of range 24h is {state_bytes / 1024:.0f} KiB]"
        )
        print(
            f"4. push latency, NOTIFY committed -> state read, {n_pages} pages x {rounds} rounds:"
            f" median {statistics.median(latency):.0f} ms, max {max(latency):.0f} ms"
            f" ({len(latency)} deliveries)   one page: median"
            f" {statistics.median(ref_latency):.0f} ms, max {max(ref_latency):.0f} ms"
            "   (includes the 150 ms debounce)"
        )
        print(
            "5. burst of 200 GET /.json (32 at a time) during the load:"
            f" {dict(sorted(counts.items()))},"
            f" served median {served_ms:.0f} ms   idle single request: {one_ms:.0f} ms {one_counts}"
        )
    finally:
        if reader is not None:
            reader.close()
        for p in pages + stalled:
            p.sock.close()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database-url", help="superuser URL of a server (default: start one)")
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--stalled", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    add_smoke(parser)
    args = parser.parse_args(argv)
    smoke(args, pages=5, stalled=2, rounds=1)
    with server(args.database_url) as base:
        url = fresh_database(base)
        run(url, args.pages, args.stalled, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())

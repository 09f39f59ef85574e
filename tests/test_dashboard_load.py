"""The dashboard under attack, served for real (uvicorn on 127.0.0.1, the test cluster):
200 live pages and a burst of requests leave the writer its connections; pages that never
read are closed and do not grow the server's memory; a flood of forged notifications causes a
bounded number of re-reads; beyond the caps the answer is 429; the session cookie is not the
token and no other server accepts it.

No timing assertions: the bound on re-reads is computed from the time the burst took."""

from __future__ import annotations

import re
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg
import pytest

from orchestrator.collector import Collector
from orchestrator.dashboard import DashboardSettings
from orchestrator.dashboard.live import CHUNK
from tests.dashboard_helpers import demo_like, running_server
from tests.trust_helpers import login_role

RANGES = ("1h", "6h", "24h", "7d", "30d")


@pytest.fixture
def data_url(db_url: str) -> str:
    demo_like(db_url, minutes=60)
    return db_url


class Page:
    """A live page as a raw socket: GET /events, then read (or, stalled, never read)."""

    def __init__(self, base_url: str, range_name: str, rcvbuf: int | None = None) -> None:
        port = int(base_url.rsplit(":", 1)[1])
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(
            f"GET /events?range={range_name} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        self.data = bytearray()
        self.states = 0

    def feed(self) -> bool:
        """Read what is there (non-blocking use through a selector); False at EOF."""
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            return False
        tail = bytes(self.data[-32:])
        self.data += chunk
        self.states += (tail + chunk).count(b"event: state") - tail.count(b"event: state")
        if len(self.data) > 1 << 16:  # keep the head (status line) and a tail only
            self.data = self.data[:4096] + self.data[-4096:]
        return True

    def close(self) -> None:
        self.sock.close()


def read_until(pages: list[Page], done: Any, timeout: float = 120) -> None:
    sel = selectors.DefaultSelector()
    for p in pages:
        sel.register(p.sock, selectors.EVENT_READ, p)
    try:
        deadline = time.monotonic() + timeout
        while not all(done(p) for p in pages):
            assert time.monotonic() < deadline, "pages did not get what they waited for"
            for key, _ in sel.select(timeout=1):
                if not key.data.feed():
                    sel.unregister(key.fileobj)
    finally:
        sel.close()


@contextmanager
def draining(pages: list[Page]) -> Iterator[None]:
    """Read ``pages`` in a thread, as a browser would, until the block ends."""
    stop = threading.Event()

    def run() -> None:
        sel = selectors.DefaultSelector()
        for p in pages:
            sel.register(p.sock, selectors.EVENT_READ, p)
        while not stop.is_set():
            for key, _ in sel.select(timeout=0.2):
                if not key.data.feed():
                    sel.unregister(key.fileobj)
        sel.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


def wait(predicate: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def dashboard_connections(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name LIKE 'cachemon dashboard%%'"
        ).fetchone()
    return int(row[0]) if row else 0


def rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_200_live_pages_and_a_burst_leave_the_writer_its_connections(data_url: str) -> None:
    _, writer_url = login_role(data_url, "dash_writer", "cachemon_writer")
    settings = DashboardSettings(data_url)
    assert settings.pool_size == 4 and settings.max_clients >= 200
    with running_server(settings) as server:
        pages = [Page(server.base_url, RANGES[i % 5]) for i in range(200)]
        try:
            # Every page gets a state at once (the latest, or one shared read per range).
            read_until(pages, lambda p: p.states >= 1)
            assert all(p.data.startswith(b"HTTP/1.1 200") for p in pages)
            assert len(server.app.state.hub.clients) == 200
            held: list[int] = []
            statuses: list[int] = []
            with draining(pages):
                # A burst of requests while the 200 pages are live.
                with ThreadPoolExecutor(32) as pool:
                    burst = [
                        pool.submit(
                            httpx.get, f"{server.base_url}/.json?range={RANGES[i % 5]}", timeout=60
                        )
                        for i in range(96)
                    ]
                    # The writer connects and ingests meanwhile.
                    refused = 0
                    for _ in range(40):
                        held.append(dashboard_connections(data_url))
                        try:
                            with psycopg.connect(writer_url, connect_timeout=10) as w:
                                w.execute("SELECT 1")
                        except psycopg.OperationalError:
                            refused += 1
                    statuses = [f.result().status_code for f in burst]
                collector = Collector(writer_url, key_mode="full", flush_interval=0.1)
                collector.start()
                for i in range(100):
                    collector.record_cache_hit(f"during-load-{i}", "new", 1.0, 1)
                assert collector.flush(30)
                collector.stop()
                held.append(dashboard_connections(data_url))
        finally:
            for p in pages:
                p.close()
    assert refused == 0
    assert max(held) <= settings.pool_size + 1, held  # the pool and the one LISTEN
    assert set(statuses) <= {200, 429} and statuses.count(200) >= settings.max_requests
    with psycopg.connect(data_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM cachemon.cache_metrics WHERE cache_key LIKE 'during-load-%%'"
        ).fetchone()
    assert row == (100,)


def test_pages_that_never_read_are_closed_within_a_memory_bound(data_url: str) -> None:
    settings = DashboardSettings(data_url, stall_timeout=1.0, min_interval=0.05, debounce=0.01)
    with running_server(settings) as server:
        hub = server.app.state.hub
        reader = Page(server.base_url, "24h")
        stalled: list[Page] = []
        try:
            with draining([reader]):
                wait(lambda: "24h" in hub.latest, "a first state")
                before = rss_bytes()
                stalled = [Page(server.base_url, "24h", rcvbuf=4096) for _ in range(40)]
                wait(lambda: len(hub.clients) == 41, "41 pages")
                peak = before
                with psycopg.connect(data_url, autocommit=True) as conn:
                    i = 0
                    deadline = time.monotonic() + 180
                    while hub.closed_slow < 40:
                        assert time.monotonic() < deadline, (hub.closed_slow, len(hub.clients))
                        conn.execute("SELECT pg_notify('cachemon_events', %s)", (str(i),))
                        i += 1
                        peak = max(peak, rss_bytes())
                        time.sleep(0.02)
                pushes = hub.rereads
                state_size = len(hub.latest["24h"])
                # The page that reads stays and keeps getting states.
                seen = reader.states
                wait(lambda: len(hub.clients) == 1, "the stalled pages gone")
                with psycopg.connect(data_url, autocommit=True) as conn:
                    conn.execute("SELECT pg_notify('cachemon_events', 'after')")
                wait(lambda: reader.states > seen, "a state for the page that reads")
        finally:
            reader.close()
            for p in stalled:
                p.close()
    # What one stalled page may hold: about two writes of CHUNK bytes in the transport
    # (uvicorn waits for it to drain before the next) plus references to shared states; the
    # old unbounded queue held up to 100 private copies of the state per page.
    bound = 40 * 2 * CHUNK + 4 * state_size + 48 * 1024 * 1024
    assert pushes >= 3
    assert peak - before < bound, (peak - before, bound, state_size, pushes)


def test_a_burst_of_forged_notifications_causes_bounded_rereads(data_url: str) -> None:
    # Any role that can connect may NOTIFY: one with no cachemon role at all.
    _, nobody_url = login_role(data_url, "dash_notifier")
    settings = DashboardSettings(data_url, min_interval=1.0)
    with running_server(settings) as server:
        hub = server.app.state.hub
        page = Page(server.base_url, "1h")
        try:
            with draining([page]):
                wait(lambda: page.states >= 1 and hub.listening.is_set(), "a live page")
                time.sleep(1.5)
                r0, n0, t0 = hub.rereads, hub.notifications, time.monotonic()
                with psycopg.connect(nobody_url, autocommit=True) as c:
                    for k in range(20):
                        c.execute(
                            "SELECT pg_notify('cachemon_events',"
                            " format('{\"id\": %%s, \"x\": %%s}', g, repeat('y', 4000)))"
                            " FROM generate_series(1, 500) AS g"
                            " WHERE %s >= 0",
                            (k,),
                        )
                wait(lambda: hub.notifications - n0 >= 10_000, "the notifications")
                time.sleep(2 * settings.min_interval + 0.5)  # the last coalesced round
                elapsed = time.monotonic() - t0
                rounds = hub.rereads - r0
        finally:
            page.close()
    # One range watched: at most one read per min_interval, plus the round under way.
    assert 1 <= rounds <= elapsed / settings.min_interval + 2, (rounds, elapsed)
    assert hub.notifications - n0 == 10_000


def _status(response: bytes) -> tuple[int, str]:
    head = response.split(b"\r\n\r\n", 1)[0].decode()
    status = int(head.split()[1])
    return status, head.lower()


def test_beyond_the_caps_the_answer_is_429(data_url: str) -> None:
    settings = DashboardSettings(data_url, max_clients=3, max_requests=2)
    with running_server(settings) as server:
        hub = server.app.state.hub
        pages = [Page(server.base_url, "1h") for _ in range(3)]
        try:
            wait(lambda: len(hub.clients) == 3, "3 live pages")
            extra = Page(server.base_url, "1h")
            read_until([extra], lambda p: b"max_clients" in p.data, 30)
            status, head = _status(bytes(extra.data))
            assert (
                status == 429 and "retry-after: 1" in head and "max_clients" in extra.data.decode()
            )
            extra.close()
            pages.pop().close()
            wait(lambda: len(hub.clients) == 2, "a page gone")
            again = Page(server.base_url, "1h")
            pages.append(again)
            read_until([again], lambda p: b"retry: 1000" in p.data, 30)
            assert _status(bytes(again.data))[0] == 200

            # Two requests held in flight (their read waits on a lock), the third refused.
            with psycopg.connect(data_url) as locker:
                locker.execute(
                    "LOCK TABLE cachemon.cache_auditor_observations IN ACCESS EXCLUSIVE MODE"
                )
                with ThreadPoolExecutor(2) as pool:
                    held = [  # two ranges: requests for one range would share one read
                        pool.submit(httpx.get, f"{server.base_url}/.json?range={r}", timeout=60)
                        for r in ("6h", "24h")
                    ]

                    def waiting() -> int:  # (pg_stat_activity is a snapshot per transaction)
                        locker.execute("SELECT pg_stat_clear_snapshot()")
                        row = locker.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type ="
                            " 'Lock' AND application_name = 'cachemon dashboard'"
                        ).fetchone()
                        return int(row[0]) if row else 0

                    wait(lambda: waiting() >= 2, "two requests waiting on the lock")
                    third = httpx.get(f"{server.base_url}/findings.json", timeout=30)
                    assert third.status_code == 429, third.text
                    assert third.headers["retry-after"] == "1"
                    assert "max_requests" in third.text
                    locker.rollback()
                    assert [f.result().status_code for f in held] == [200, 200]
            assert httpx.get(f"{server.base_url}/findings.json", timeout=30).status_code == 200
        finally:
            for p in pages:
                p.close()


def test_the_cookie_is_a_session_of_one_server_not_the_token(data_url: str) -> None:
    token = "same-token-on-both-0123456789"
    with (
        running_server(DashboardSettings(data_url, token=token)) as a,
        running_server(DashboardSettings(data_url, token=token)) as b,
    ):
        first = httpx.get(f"{a.base_url}/?token={token}&range=1h", follow_redirects=False)
        assert first.status_code == 303
        set_cookie = first.headers["set-cookie"]
        assert token not in set_cookie
        match = re.match(r"(cachemon_session_[0-9a-f]+)=([^;]+);", set_cookie)
        assert match is not None, set_cookie
        name, sid = match.groups()
        assert "httponly" in set_cookie.lower() and "samesite=strict" in set_cookie.lower()
        # A browser sends cookies for 127.0.0.1 to every port: B must not accept A's session.
        assert (
            httpx.get(f"{a.base_url}/.json", headers={"cookie": f"{name}={sid}"}).status_code == 200
        )
        assert (
            httpx.get(f"{b.base_url}/.json", headers={"cookie": f"{name}={sid}"}).status_code == 401
        )
        b_name = b.settings.session_cookie
        assert b_name != name
        assert (
            httpx.get(f"{b.base_url}/.json", headers={"cookie": f"{b_name}={sid}"}).status_code
            == 401
        )
        # The token itself as a cookie value opens nothing (the old cookie held it).
        for cookie in (f"{name}={token}", f"cachemon_dashboard_token={token}"):
            assert httpx.get(f"{a.base_url}/.json", headers={"cookie": cookie}).status_code == 401
        # A forged session id neither.
        assert (
            httpx.get(f"{a.base_url}/.json", headers={"cookie": f"{name}=x{sid}"}).status_code
            == 401
        )
        assert (
            httpx.get(
                f"{a.base_url}/.json", headers={"authorization": f"Bearer {token}"}
            ).status_code
            == 200
        )


def test_settings_refuse_nonsense_bounds(db_url: str) -> None:
    cases: tuple[tuple[str, Any], ...] = (
        ("pool_size", 0),
        ("max_clients", -1),
        ("max_requests", True),
        ("min_interval", 0),
        ("stall_timeout", float("nan")),
    )
    for field, value in cases:
        with pytest.raises(ValueError, match=field):
            DashboardSettings(db_url, **{field: value})

"""Fixtures of the dashboard tests: demo-like data through the real collector, a real uvicorn
server on 127.0.0.1 (ephemeral port) in a thread, and Debian's chromium driven by Playwright.
Everything started here is stopped in ``finally`` blocks, failures included."""

from __future__ import annotations

import os
import random
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from orchestrator.collector import Collector
from orchestrator.dashboard.app import DashboardSettings
from orchestrator.dashboard.server import make_server
from orchestrator.demo import ERROR_MESSAGE, LEGACY, NEW, record_minute
from orchestrator.traffic import Profile

CHROMIUM = os.environ.get("CACHEMON_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
XSS = "<img src=x onerror=window.__xss=1>"

Conn = psycopg.Connection[dict[str, Any]]


def record_minutes(
    url: str,
    start: datetime,
    minutes: int,
    profiles: dict[str, Profile],
    seed: int = 7,
    error_message: str = ERROR_MESSAGE,
) -> int:
    """Record ``minutes`` of traffic per implementation through the real collector."""
    rng = random.Random(seed)
    collector = Collector(
        url, batch_size=5000, flush_interval=0.2, max_buffer=2_000_000, key_mode="hash"
    ).start()
    n = 0
    try:
        for i in range(minutes):
            minute = start + timedelta(minutes=i)
            for impl, profile in profiles.items():
                n += record_minute(collector, impl, profile, minute, rng, error_message)
        assert collector.flush(timeout=120)
    finally:
        collector.stop()
    return n


def tick(conn: Conn) -> None:
    for _ in range(1000):
        row = conn.execute("SELECT status, buckets_left FROM cachemon.tick()").fetchone()
        assert row is not None
        if row["status"] == "done" and not row["buckets_left"]:
            return
    raise AssertionError("queue never emptied")


def demo_like(url: str, minutes: int = 120) -> datetime:
    """``minutes`` of legacy and new traffic ending at the previous whole minute (now - 1),
    rolled up, an open finding and the XSS probe as an implementation name and an error
    message. Returns the start of the current minute."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=minutes)
    record_minutes(url, start, minutes, {"legacy": LEGACY, "new": NEW})
    failing = NEW.but(hit_rate=50.0, error_rate=20.0)
    record_minutes(url, now - timedelta(minutes=5), 4, {XSS: failing}, error_message=XSS)
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute(
            "UPDATE cachemon._settings SET value = '100000' WHERE name = 'tick.max_buckets'"
        )
        tick(conn)
        # A known set of findings: whatever the auditor opened on this data (it may open a
        # critical breach after one evaluation) makes way for the two below.
        conn.execute("DELETE FROM cachemon.cache_auditor_observations")
        conn.execute(
            "INSERT INTO cachemon.cache_auditor_observations"
            " (implementation_type, rule, severity, category, message, recommendation,"
            "  first_seen_at, last_seen_at)"
            " VALUES ('new', 'hit_rate_drop', 'warning', 'performance',"
            "  'new: hit rate 61.0%% against a baseline of 82.0%%', 'Check the eviction policy',"
            "  now() - interval '10 minutes', now()),"
            "  (%s, 'error_rate', 'critical', 'reliability', %s, %s,"
            "  now() - interval '3 minutes', now())",
            (XSS, XSS, XSS),
        )
    return now


@dataclass
class RunningServer:
    base_url: str
    settings: DashboardSettings
    app: Any  # the Starlette app (its hub: app.state.hub)


@contextmanager
def running_server(settings: DashboardSettings) -> Iterator[RunningServer]:
    """uvicorn serving the app on 127.0.0.1:<ephemeral> in a thread; stopped on exit."""
    server, sock = make_server(settings, "127.0.0.1", 0)
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("dashboard server did not start")
            time.sleep(0.05)
        yield RunningServer(f"http://127.0.0.1:{port}", settings, server.config.app)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5)
        sock.close()


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Debian chromium through Playwright (never a downloaded browser)."""
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (scripts/setup.sh installs Debian's chromium as root)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()

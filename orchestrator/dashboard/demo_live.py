"""``cachemon demo --live``: the demo's migration in accelerated real time, dashboard serving.

The same story as ``cachemon demo`` (orchestrator/demo.py, whose pieces this reuses; it lives
beside the dashboard it serves, which may import the demo, never the other way round): a
baseline period of ``legacy`` and ``new`` traffic, then ``new`` regresses and recovers while
tick and the auditor run. Here the live part is played one simulated minute per
``seconds_per_minute`` (default 1 s) while the dashboard serves, so a newcomer watches the
charts grow and findings open, escalate and resolve in the browser.

Time: the live part covers the ``live_minutes`` before the moment the demo starts, so every
event is in the past (ingest refuses far-future events and the page draws up to now); each
second reveals the next minute of it, rolled up by ``tick(p_now)`` at that minute's end.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from orchestrator.collector import Collector
from orchestrator.dashboard.app import DashboardSettings
from orchestrator.dashboard.server import make_server, token_from_env
from orchestrator.db import connect
from orchestrator.demo import (
    LEGACY,
    Say,
    _Findings,
    _tick_until_done,
    live_minutes_of,
    live_script,
    prepare_database,
    record_minute,
)
from orchestrator.migrations import libpq_url


def run_live(
    url: str | None = None,
    *,
    root: Path | None = None,
    say: Say = print,
    host: str = "127.0.0.1",
    port: int = 8421,
    baseline_hours: int = 24,
    live_minutes: int = 90,
    seconds_per_minute: float = 1.0,
    seed: int = 7,
    keep_serving: bool = True,
) -> str:
    """Play the demo live with the dashboard on ``host:port``; returns the page's URL.
    With ``keep_serving`` the server runs on after the play until Ctrl-C."""
    url = libpq_url(prepare_database(url, root, say))
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    live_start = now - timedelta(minutes=live_minutes)
    day_start = live_start - timedelta(hours=baseline_hours)
    settings = DashboardSettings(url, token=token_from_env(), debounce=0.1)
    server, sock = make_server(settings, host, port)
    page = f"http://{host}:{sock.getsockname()[1]}/?range=6h"
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    collector = Collector(
        url, batch_size=5000, flush_interval=0.5, max_buffer=2_000_000, key_mode="hash"
    ).start()
    try:
        with connect(url) as conn:
            conn.execute(
                "UPDATE cachemon._settings SET value = '100000' WHERE name = 'tick.max_buckets'"
            )
            say(f"\n1/2  {baseline_hours} hours of baseline traffic ...")
            minute = day_start
            while minute < live_start:
                record_minute(collector, "legacy", LEGACY, minute, rng)
                record_minute(collector, "new", live_script(live_minutes)[0].profile, minute, rng)
                minute += timedelta(minutes=1)
            collector.flush(timeout=120)
            _tick_until_done(conn, live_start)
            for impl in ("legacy", "new"):
                conn.execute(
                    "SELECT id FROM cachemon.compute_baseline(%s, %s, %s)",
                    (impl, timedelta(hours=baseline_hours), live_start),
                )
            thread.start()
            say(f"\n     dashboard: {page}   (open it now)")
            say(
                f"\n2/2  {live_minutes} minutes of {live_start:%H:%M}-{now:%H:%M} UTC replayed,"
                f" one every {seconds_per_minute:g} s"
            )
            seen = _Findings()
            next_at = time.monotonic()
            for i, minute, phase, begins in live_minutes_of(live_start, live_minutes):
                if begins:
                    say(f"     +{i:>3} min  {phase.label}")
                record_minute(collector, "legacy", LEGACY, minute, rng)
                record_minute(collector, "new", phase.profile, minute, rng)
                collector.flush(timeout=60)
                _tick_until_done(conn, minute + timedelta(minutes=1, seconds=5))
                for line in seen.changes(conn):
                    say(f"     +{i + 1:>3} min  {line}")
                next_at += seconds_per_minute
                time.sleep(max(0.0, next_at - time.monotonic()))
        say(f"\nthe migration is played; the dashboard keeps serving on {page}")
        if keep_serving:
            say("Ctrl-C to stop")
            while thread.is_alive():
                thread.join(timeout=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        collector.stop(timeout=5)
        server.should_exit = True
        if thread.is_alive():
            thread.join(timeout=10)
        sock.close()
    return page

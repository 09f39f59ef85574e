"""The demo's alert delivery: a webhook receiver on 127.0.0.1 that the demo starts, a route to
it, and the worker run over the demo's minutes; returns what arrived, one line per alert.

The receiver is created with ``allow_private`` (loopback), which a real receiver does not get
without an admin asking for it. The worker runs at simulated times (``process_once(now=)``),
so messages arrive at the moments Alertmanager's timers give them (group_wait 30 s,
group_interval 5 min).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg

from orchestrator import notify


@contextmanager
def local_webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on 127.0.0.1 (a free port); yields its URL and the bodies received."""
    received: list[dict[str, Any]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = min(int(self.headers.get("Content-Length") or 0), 10_000_000)
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError:
                self.send_response(400)
                self.end_headers()
                return
            with lock:
                received.append(body)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/demo", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def deliver(conn: psycopg.Connection[dict[str, Any]], start: datetime, end: datetime) -> list[str]:
    """Deliver the demo's findings from ``start`` to ``end`` (simulated) to a local webhook;
    one line per alert that arrived."""
    lines: list[str] = []
    with local_webhook() as (url, received):
        conn.execute(
            "SELECT name FROM cachemon.add_receiver('demo', 'webhook', %s,"
            ' p_options => \'{"dashboard_url": "http://127.0.0.1:8421"}\','
            " p_allow_private => true)",
            (url,),
        )
        conn.execute("SELECT id FROM cachemon.add_route('demo')")
        at = start
        while at <= end + timedelta(minutes=10):
            seen = len(received)
            notify.process_once(conn, "demo", now=min(at, end + timedelta(minutes=10)))
            for body in received[seen:]:
                for a in body["alerts"]:
                    labels = a["labels"]
                    lines.append(
                        f"+{int((at - start).total_seconds() // 60):>3} min  "
                        f"{a['status'].upper():<8} {labels['severity']:<8} {labels['rule']}"
                        f" on {labels['implementation']} (finding #{labels['finding_id']})"
                    )
            at += timedelta(seconds=30)
    return lines

"""Helpers of the alert-delivery tests: findings changed the way the auditor changes them
(real table, real trigger), the pipeline driven at controlled times, and a real HTTP receiver
on 127.0.0.1 answering a scripted list of statuses."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg

Conn = psycopg.Connection[dict[str, Any]]

# Two hours ago on a whole minute: every time the tests use stays within what _check_now
# accepts (retention.raw behind, a day ahead) at any time of day.
BASE = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)


def at(seconds: float) -> datetime:
    return BASE + timedelta(seconds=seconds)


def open_finding(
    conn: Conn,
    when: datetime,
    impl: str = "redis",
    rule: str = "hit_rate_drop",
    severity: str = "warning",
    message: str = "hit rate fell 12% below its baseline",
) -> int:
    row = conn.execute(
        "INSERT INTO cachemon.cache_auditor_observations"
        " (implementation_type, rule, severity, category, metric, observed_value,"
        "  baseline_value, deviation_pct, message, recommendation, first_seen_at, last_seen_at,"
        "  details)"
        " VALUES (%s, %s, %s, 'performance', 'hit_rate', 0.71, 0.83, -14.5, %s,"
        "  'check the eviction policy', %s, %s, %s) RETURNING id",
        (impl, rule, severity, message, when, when, json.dumps({"window": "15 minutes"})),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def change_severity(conn: Conn, finding: int, severity: str, when: datetime) -> None:
    conn.execute(
        "UPDATE cachemon.cache_auditor_observations SET severity = %s,"
        " last_seen_at = greatest(last_seen_at, %s), status = 'open',"
        " acknowledged_at = NULL, acknowledged_by = NULL WHERE id = %s",
        (severity, when, finding),
    )


def seen_again(conn: Conn, finding: int, when: datetime) -> None:
    conn.execute(
        "UPDATE cachemon.cache_auditor_observations SET last_seen_at = greatest(last_seen_at, %s),"
        " occurrences = occurrences + 1 WHERE id = %s",
        (when, finding),
    )


def resolve(conn: Conn, finding: int, when: datetime) -> None:
    conn.execute(
        "SELECT id FROM cachemon.resolve_observation(%s, 'auditor-test', NULL, %s)",
        (finding, when),
    )


def acknowledge(conn: Conn, finding: int, when: datetime, who: str = "alice") -> None:
    conn.execute(
        "SELECT id FROM cachemon.acknowledge_observation(%s, %s, %s)", (finding, who, when)
    )


def flush(conn: Conn, when: datetime) -> dict[str, Any]:
    row = conn.execute("SELECT * FROM cachemon.notify_flush(%s)", (when,)).fetchone()
    assert row is not None
    return row


def receiver(
    conn: Conn,
    name: str = "hook",
    url: str = "http://127.0.0.1:9/hook",
    kind: str = "webhook",
    **kwargs: Any,
) -> None:
    args = {"p_allow_private": True, **{f"p_{k}": v for k, v in kwargs.items()}}
    names = ", ".join(f"{k} => %({k})s" for k in args)
    conn.execute(
        f"SELECT name FROM cachemon.add_receiver(%(name)s, %(kind)s, %(url)s, {names})",
        {"name": name, "kind": kind, "url": url, **args},
    )


def route(conn: Conn, receiver_name: str = "hook", **kwargs: Any) -> int:
    if "matchers" in kwargs:
        kwargs["matchers"] = json.dumps(kwargs["matchers"])
    names = "".join(f", p_{k} => %({k})s" for k in kwargs)
    row = conn.execute(
        f"SELECT id FROM cachemon.add_route(%(receiver)s{names})",
        {"receiver": receiver_name, **kwargs},
    ).fetchone()
    assert row is not None
    return int(row["id"])


def deliveries(conn: Conn) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, receiver, reason, observation_ids, status, payload, created_at, attempts,"
        " idempotency_key FROM cachemon.notify_deliveries ORDER BY id"
    ).fetchall()


def states(conn: Conn) -> list[list[tuple[int, str, str]]]:
    """Per delivery: (finding, status, severity) of each alert it carries."""
    return [
        [
            (int(a["labels"]["finding_id"]), a["status"], a["labels"]["severity"])
            for a in d["payload"]["alerts"]
        ]
        for d in deliveries(conn)
    ]


def log(conn: Conn, finding: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT at, stage, outcome, reason, delivery_id FROM cachemon.notify_log"
        " WHERE observation_id = %s ORDER BY id",
        (finding,),
    ).fetchall()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    client_port: int = 0

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1: answers each POST with the next scripted response
    (status, headers, delay), then ``default``; records every request."""

    script: list[tuple[int, dict[str, str], float]] = field(default_factory=list)
    default: int = 200
    received: list[Received] = field(default_factory=list)
    port: int = 0
    body_size: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@contextmanager
def http_receiver(
    script: list[tuple[int, dict[str, str], float]] | None = None,
    default: int = 200,
    body_size: int = 0,
    port: int = 0,
    keep_alive: bool = False,
) -> Iterator[Receiver]:
    state = Receiver(list(script or []), default, body_size=body_size)
    lock = threading.Lock()
    open_connections: set[Any] = set()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

        def setup(self) -> None:
            super().setup()
            with lock:
                open_connections.add(self.connection)

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with lock:
                state.received.append(
                    Received(
                        self.path,
                        dict(self.headers.items()),
                        body,
                        time.monotonic(),
                        self.client_address[1],
                    )
                )
                status, headers, delay = (
                    state.script.pop(0) if state.script else (state.default, {}, 0.0)
                )
            if delay:
                time.sleep(delay)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(state.body_size))
            self.end_headers()
            try:
                chunk = b"x" * 65536
                left = state.body_size
                while left > 0:
                    self.wfile.write(chunk[: min(left, len(chunk))])
                    left -= len(chunk)
            except OSError:
                pass

    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        # a stopped server drops its keep-alive connections too
        with lock:
            for c in open_connections:
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)
        thread.join(5)

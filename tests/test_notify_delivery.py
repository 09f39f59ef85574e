"""Delivery against real HTTP servers on 127.0.0.1: retries, Retry-After, dead letters, leases
after SIGKILL, SIGTERM, a receiver down for an hour of simulated time, several workers,
hanging receivers and huge responses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from orchestrator import notify
from tests.notify_helpers import (
    Conn,
    at,
    change_severity,
    deliveries,
    flush,
    http_receiver,
    open_finding,
    receiver,
    resolve,
    route,
)


def _attempts(conn: Conn, delivery: int | None = None) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT delivery_id, attempt, idempotency_key, status_code, error, retry_after_s,"
        " outcome, duration_ms, next_due_at, recorded_at FROM cachemon.notify_attempts"
        " WHERE %s::bigint IS NULL OR delivery_id = %s ORDER BY id",
        (delivery, delivery),
    ).fetchall()


def _drain(conn: Conn, seconds: float = 30, **kwargs: Any) -> None:
    """Run the worker's batch until nothing is pending or sending (real clock)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        notify.process_once(conn, "w1", **kwargs)
        left = conn.execute(
            "SELECT count(*) AS n FROM cachemon.notify_deliveries"
            " WHERE status IN ('pending', 'sending')"
        ).fetchone()
        if left == {"n": 0}:
            return
        time.sleep(0.05)
    raise AssertionError("deliveries still pending")


def _one_delivery(conn: Conn, url: str, **kwargs: Any) -> int:
    receiver(conn, url=url, **kwargs)
    route(conn)
    open_finding(conn, at(0))
    flush(conn, at(30))
    (d,) = deliveries(conn)
    return int(d["id"])


def test_500_500_500_200_is_one_delivery_four_attempts_one_key(conn: Conn) -> None:
    none: dict[str, str] = {}
    script = [(500, none, 0.0)] * 3 + [(200, none, 0.0)]
    with http_receiver(script) as hook:
        d = _one_delivery(conn, hook.url, backoff_s=0.05)
        _drain(conn)
    rows = _attempts(conn, d)
    assert [(r["status_code"], r["outcome"]) for r in rows] == [
        (500, "retry"),
        (500, "retry"),
        (500, "retry"),
        (200, "delivered"),
    ]
    keys = {h.headers["Idempotency-Key"] for h in hook.received}
    assert len(hook.received) == 4 and len(keys) == 1
    assert keys == {str(rows[0]["idempotency_key"])}
    assert deliveries(conn)[0]["status"] == "delivered"
    body = hook.received[-1].json()
    assert body["version"] == "4" and body["cachemon"]["findings"][0]["id"]


def test_429_retry_after_2_waits_at_least_2_seconds(conn: Conn) -> None:
    with http_receiver([(429, {"Retry-After": "2"}, 0.0)]) as hook:
        d = _one_delivery(conn, hook.url, backoff_s=0.05)
        _drain(conn)
    first, second = hook.received
    assert second.at - first.at >= 2.0
    rows = _attempts(conn, d)
    assert rows[0]["retry_after_s"] == 2.0 and rows[0]["outcome"] == "retry"
    assert rows[0]["next_due_at"] - rows[0]["recorded_at"] >= timedelta(seconds=1.99)
    assert rows[1]["outcome"] == "delivered"


def test_other_4xx_is_dead_with_its_reason(conn: Conn) -> None:
    with http_receiver([(404, {}, 0.0)]) as hook:
        _one_delivery(conn, hook.url)
        _drain(conn)
    (d,) = deliveries(conn)
    row = conn.execute("SELECT status, dead_reason FROM cachemon.notify_deliveries").fetchone()
    assert row is not None and row["status"] == "dead" and "404" in row["dead_reason"]
    assert len(hook.received) == 1 and d["attempts"] == 1


def test_retries_stop_at_max_attempts(conn: Conn) -> None:
    with http_receiver(default=503) as hook:
        _one_delivery(conn, hook.url, backoff_s=0.01, max_attempts=3)
        _drain(conn)
    row = conn.execute("SELECT status, dead_reason FROM cachemon.notify_deliveries").fetchone()
    assert row is not None and row["status"] == "dead"
    assert row["dead_reason"].startswith("gave up after 3 attempts")
    assert len(hook.received) == 3


def test_hanging_receiver_is_bounded_by_the_timeout(conn: Conn) -> None:
    with http_receiver([(200, {}, 5.0)]) as hook:
        d = _one_delivery(conn, hook.url, timeout_s=0.5, backoff_s=0.05)
        notify.process_once(conn, "w1")
    (row,) = _attempts(conn, d)
    assert row["outcome"] == "retry" and "timed out" in row["error"]
    assert row["duration_ms"] < 5000
    del hook


def test_huge_response_body_is_not_read(conn: Conn) -> None:
    with http_receiver(body_size=200 * 1024 * 1024) as hook:
        _one_delivery(conn, hook.url)
        _drain(conn)
    assert deliveries(conn)[0]["status"] == "delivered"
    del hook


def test_refused_connection_retries_and_private_address_is_dead(conn: Conn) -> None:
    port = _free_port()
    receiver(conn, "down", url=f"http://127.0.0.1:{port}/x", backoff_s=0.05)
    route(conn, "down")
    open_finding(conn, at(0))
    flush(conn, at(30))
    notify.process_once(conn, "w1")
    (row,) = _attempts(conn)
    assert row["outcome"] == "retry" and row["status_code"] is None
    assert "Refused" in row["error"] or "refused" in row["error"]
    # the same receiver without permission for private addresses: refused before
    # connecting, dead with the reason (a name resolving to loopback is refused the same way)
    conn.execute("UPDATE cachemon.notify_receivers SET allow_private = false")
    conn.execute("UPDATE cachemon.notify_deliveries SET due_at = now()")
    notify.process_once(conn, "w1")
    last = _attempts(conn)[-1]
    assert last["outcome"] == "dead" and "loopback" in last["error"]
    result = notify.post(f"http://localhost:{port}/", b"{}", {}, timeout=1, allow_private=False)
    assert result.permanent and "loopback" in (result.error or "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_receiver_down_for_an_hour_of_simulated_time_then_everything_in_order(
    conn: Conn,
) -> None:
    port = _free_port()
    receiver(conn, url=f"http://127.0.0.1:{port}/hook", backoff_s=1, timeout_s=2)
    route(conn, group_interval="1 minute", repeat_interval="1 day")
    f1 = open_finding(conn, at(0))
    f2 = open_finding(conn, at(20), impl="memcached", rule="error_rate")
    change_severity(conn, f1, "critical", at(400))
    resolve(conn, f2, at(900))
    resolve(conn, f1, at(1500))
    # an hour with the receiver down, the worker running every 30 simulated seconds
    for step in range(0, 3600, 30):
        notify.process_once(conn, "w1", now=at(step))
    pending = conn.execute(
        "SELECT count(*) AS n FROM cachemon.notify_deliveries WHERE status = 'pending'"
    ).fetchone()
    assert pending is not None and pending["n"] == 5
    refused = _attempts(conn)
    assert refused and all(r["outcome"] == "retry" for r in refused)
    with http_receiver(port=port) as hook:
        for step in range(3600, 3600 + 1800, 30):
            notify.process_once(conn, "w1", now=at(step))
    assert {d["status"] for d in deliveries(conn)} == {"delivered"}
    per_finding: dict[int, list[tuple[str, str]]] = {}
    for h in hook.received:
        for a in h.json()["alerts"]:
            per_finding.setdefault(int(a["labels"]["finding_id"]), []).append(
                (a["status"], a["labels"]["severity"])
            )
    assert per_finding == {
        f1: [("firing", "warning"), ("firing", "critical"), ("resolved", "critical")],
        f2: [("firing", "warning"), ("resolved", "warning")],
    }


def test_several_workers_deliver_each_message_once(conn: Conn, db_url: str) -> None:
    with http_receiver() as hook:
        receiver(conn, url=hook.url)
        route(conn)
        for i in range(40):
            open_finding(conn, at(0), impl=f"cache{i}")
        flush(conn, at(30))
        errors: list[BaseException] = []

        def work(name: str) -> None:
            try:
                with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as c:
                    for _ in range(30):
                        notify.process_once(c, name, limit=3)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert not errors
    keys = [h.headers["Idempotency-Key"] for h in hook.received]
    assert len(keys) == 40 and len(set(keys)) == 40
    assert {d["status"] for d in deliveries(conn)} == {"delivered"}


def _worker(db_url: str, *args: str) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("cachemon")
    return subprocess.Popen(
        [str(exe), "notify", "run", "--poll", "0.2", *args],
        env={**os.environ, "CACHEMON_DATABASE_URL": db_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for(predicate: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.05)


def test_sigkill_mid_post_is_sent_again_after_the_lease(conn: Conn, db_url: str) -> None:
    with http_receiver([(200, {}, 30.0)]) as hook:
        d = _one_delivery(conn, hook.url)
        proc = _worker(db_url, "--lease", "2", "--worker-id", "doomed")
        try:
            _wait_for(lambda: len(hook.received) == 1)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(10)
        _wait_for(lambda: bool(_lease_expired(conn)), 10)
        _drain(conn)
    rows = _attempts(conn, d)
    assert [(r["outcome"], r["status_code"]) for r in rows] == [("lost", None), ("delivered", 200)]
    assert "lease expired" in rows[0]["error"]
    assert len(hook.received) == 2
    assert (
        hook.received[0].headers["Idempotency-Key"] == hook.received[1].headers["Idempotency-Key"]
    )


def _lease_expired(conn: Conn) -> bool:
    row = conn.execute(
        "SELECT bool_and(lease_until < now()) AS e FROM cachemon.notify_deliveries"
        " WHERE status = 'sending'"
    ).fetchone()
    return bool(row and row["e"])


def test_sigterm_finishes_the_send_in_progress_and_releases_the_rest(
    conn: Conn, db_url: str
) -> None:
    with http_receiver([(200, {}, 2.0)]) as hook:
        receiver(conn, url=hook.url)
        route(conn)
        for i in range(5):
            open_finding(conn, at(0), impl=f"cache{i}")
        flush(conn, at(30))
        proc = _worker(db_url, "--batch", "5", "--worker-id", "polite")
        try:
            _wait_for(lambda: len(hook.received) == 1)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    rows = conn.execute(
        "SELECT status, count(*) AS n FROM cachemon.notify_deliveries GROUP BY status"
        " ORDER BY status"
    ).fetchall()
    assert rows == [{"status": "delivered", "n": 1}, {"status": "pending", "n": 4}]
    assert len(hook.received) == 1


def test_one_worker_reuses_a_keep_alive_connection_and_survives_its_close(conn: Conn) -> None:
    with http_receiver(keep_alive=True) as hook:
        receiver(conn, url=hook.url)
        route(conn)
        for i in range(6):
            open_finding(conn, at(0), impl=f"cache{i}")
        flush(conn, at(30))
        pool = notify.Connections()
        notify.process_once(conn, "w1", limit=3, sender=lambda c: notify.send(c, pool))
        assert len({h.client_port for h in hook.received}) == 1  # one connection for three
    # the receiver goes away and comes back: the pooled idle connection is dead
    with http_receiver(keep_alive=True, port=hook.port) as again:
        try:
            notify.process_once(conn, "w1", limit=3, sender=lambda c: notify.send(c, pool))
        finally:
            pool.close()
    assert len(hook.received) == 3 and len(again.received) == 3
    assert {d["status"] for d in deliveries(conn)} == {"delivered"}
    # the dead idle connection cost no attempt: the request went out again on a new one
    assert {d["attempts"] for d in deliveries(conn)} == {1}


def test_worker_wakes_on_notify_long_before_its_poll(conn: Conn, db_url: str) -> None:
    with http_receiver() as hook:
        receiver(conn, url=hook.url)
        route(conn, group_wait="0 seconds")
        proc = _worker(db_url, "--poll", "600", "--worker-id", "listener")
        try:
            time.sleep(2)  # past its first (empty) round: now it waits for NOTIFY
            open_finding(conn, datetime.now(UTC))
            _wait_for(lambda: len(hook.received) == 1, 60)  # far less than the 600 s poll
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
    assert hook.received[0].json()["status"] == "firing"

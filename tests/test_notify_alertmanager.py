"""A real Alertmanager (Debian's prometheus-alertmanager) started on 127.0.0.1 with a temporary
configuration that routes to a local webhook receiver: a cachemon finding reaches it through
its API v2 with cachemon's labels, Alertmanager notifies the webhook, and the finding's
resolution resolves the alert there."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrator import notify
from tests.notify_helpers import Conn, Receiver, flush, http_receiver, open_finding, receiver, route
from tests.notify_helpers import resolve as resolve_finding

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def alertmanager() -> Iterator[tuple[str, Receiver]]:
    if BINARY is None:
        pytest.skip(
            "prometheus-alertmanager is not installed (scripts/setup.sh installs it as root:"
            " apt-get install prometheus-alertmanager)"
        )
    root = Path(tempfile.mkdtemp(prefix="cachemon-am-"))
    with http_receiver() as hook:
        port = _free_port()
        config = {
            "route": {
                "receiver": "hook",
                "group_by": ["alertname", "implementation"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {"name": "hook", "webhook_configs": [{"url": hook.url, "send_resolved": True}]}
            ],
        }
        (root / "am.yml").write_text(json.dumps(config))  # JSON is YAML
        proc = subprocess.Popen(
            [
                BINARY,
                f"--config.file={root / 'am.yml'}",
                f"--storage.path={root / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(root / "am.log").open("wb"),
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/-/ready", timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        "alertmanager did not start: " + (root / "am.log").read_text()[-2000:]
                    )
                time.sleep(0.1)
            yield base, hook
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            shutil.rmtree(root, ignore_errors=True)


def _webhook_alerts(hook: Receiver, status: str) -> list[dict[str, Any]]:
    return [a for h in hook.received for a in h.json()["alerts"] if a["status"] == status]


def _wait(predicate: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.1)


def test_finding_fires_and_resolves_in_alertmanager(
    conn: Conn, alertmanager: tuple[str, Receiver]
) -> None:
    base, hook = alertmanager
    receiver(conn, "am", url=base, kind="alertmanager")
    route(conn, "am", group_wait="0 seconds", group_interval="1 minute")
    now = datetime.now(UTC)
    f = open_finding(conn, now, impl="redis-<b>*x*</b>")
    flush(conn, now)
    notify.process_once(conn, "w1")
    assert conn.execute("SELECT status FROM cachemon.notify_deliveries").fetchone() == {
        "status": "delivered"
    }
    with urllib.request.urlopen(f"{base}/api/v2/alerts", timeout=5) as r:
        (alert,) = json.load(r)
    assert alert["labels"] == {
        "alertname": "cachemon_hit_rate_drop",
        "implementation": "redis-<b>*x*</b>",
        "rule": "hit_rate_drop",
        "severity": "warning",
        "category": "performance",
        "finding_id": str(f),
        "source": "cachemon",
    }
    assert alert["status"]["state"] == "active"
    assert "hit rate fell" in alert["annotations"]["description"]
    _wait(lambda: bool(_webhook_alerts(hook, "firing")))
    fired = _webhook_alerts(hook, "firing")[0]
    assert fired["labels"]["finding_id"] == str(f)

    later = datetime.now(UTC)
    resolve_finding(conn, f, later)
    flush(conn, later + timedelta(minutes=1))
    notify.process_once(conn, "w1", now=later + timedelta(minutes=1))
    _wait(lambda: bool(_webhook_alerts(hook, "resolved")))
    resolved = _webhook_alerts(hook, "resolved")[0]
    assert resolved["labels"]["finding_id"] == str(f)
    assert hook.received[-1].json()["version"] == "4"

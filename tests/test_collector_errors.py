"""The collector tells you what is wrong: a real wrong password and a real missing schema are
recognised as permanent, logged once with the fix, shown in the stats, retried slowly, and
``stop()`` says at once what it dropped and why."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from orchestrator import dbversions
from orchestrator.collector import Collector, CollectorStats


def _wait(c: Collector, condition: str, timeout: float = 20.0) -> CollectorStats:
    deadline = time.monotonic() + timeout
    while True:
        s = c.stats()
        if eval(condition, {}, {"s": s}):
            return s
        assert time.monotonic() < deadline, (condition, s)
        time.sleep(0.05)


def _messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "cachemon.collector" and r.levelno == level
    ]


def test_wrong_password_is_permanent_logged_once_and_stop_says_why(
    template_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="cachemon.collector")
    parts = urlsplit(template_url)
    url = urlunsplit(parts._replace(netloc=f"postgres:wrong@127.0.0.1:{parts.port}"))
    c = Collector(
        url,
        flush_interval=0.05,
        retry_base_delay=0.05,
        retry_max_delay=0.1,
        permanent_retry_delay=30,
        stop_timeout=10,
    ).start()
    for i in range(5):
        c.record_cache_hit(f"k{i}", "legacy", 1.0, 1)
    s = _wait(c, "s.failed_attempts >= 1")
    time.sleep(1.0)  # a transient error would have been retried ~10 times by now
    s = c.stats()
    assert s.failed_attempts == 1, s  # slow pace: the next try is 15..30 s away
    assert s.error_is_permanent and not s.connected and not s.healthy
    assert s.failing_since is not None and s.last_error_at is not None
    assert "password authentication failed" in (s.last_error or "")
    assert "check the user and password" in (s.last_error or "")
    errors = _messages(caplog, logging.ERROR)
    assert len(errors) == 1 and "until this is fixed" in errors[0], errors
    assert _messages(caplog, logging.WARNING) == []
    started = time.monotonic()
    assert c.stop() is False
    assert time.monotonic() - started < 5  # no 10 s of silent retrying
    assert c.stats().dropped == 5
    (dropped,) = [m for m in _messages(caplog, logging.WARNING) if "dropped" in m]
    assert "5 events" in dropped and "password authentication failed" in dropped


def test_missing_schema_connected_then_fixed_by_upgrade(
    empty_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="cachemon.collector")
    c = Collector(
        empty_db_url, flush_interval=0.05, retry_base_delay=0.05, permanent_retry_delay=0.5
    ).start()
    try:
        c.record_cache_miss("k", "new", 2.0, 1)
        s = _wait(c, "s.failed_attempts >= 3")
        assert s.connected, s  # it reached the server: the schema is what is missing
        assert s.error_is_permanent and "NotInstalled" in (s.last_error or "")
        assert "run `cachemon db upgrade`" in (s.last_error or "")
        errors = _messages(caplog, logging.ERROR)
        assert len(errors) == 1, errors  # three attempts, one message
        dbversions.upgrade(empty_db_url)
        s = _wait(c, "s.sent == 1")
        s = _wait(c, "s.healthy")
        assert not s.error_is_permanent and s.failing_since is None
        assert any("storing again" in m for m in _messages(caplog, logging.INFO))
        with psycopg.connect(empty_db_url) as conn:
            assert conn.execute("SELECT count(*) FROM cachemon.cache_metrics").fetchone() == (1,)
    finally:
        c.stop(timeout=5)


def test_refused_port_is_transient_and_logged_once_per_outage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import socket

    caplog.set_level(logging.DEBUG, logger="cachemon.collector")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        url = f"postgresql://postgres:x@127.0.0.1:{s.getsockname()[1]}/cachemon"
        c = Collector(url, flush_interval=0.05, retry_base_delay=0.02, retry_max_delay=0.05)
        c.start()
        c.record_cache_hit("k", "legacy", 1.0, 1)
        st = _wait(c, "s.failed_attempts >= 5")
        assert not st.error_is_permanent and "DatabaseUnavailable" in (st.last_error or "")
        warnings = _messages(caplog, logging.WARNING)
        assert len(warnings) == 1 and "refused" in warnings[0], warnings
        c.stop(timeout=0.2)

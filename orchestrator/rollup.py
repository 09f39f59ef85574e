"""Rollups, retention and scheduling from Python: thin calls of the SQL API.

``tick``, ``run_maintenance``, ``performance_summary``, ``schedule_jobs`` and
``unschedule_jobs`` each run one SQL function and return its rows as dataclasses whose fields
are exactly the function's columns (a test checks that). ``Scheduler`` runs tick and
maintenance on a timer where pg_cron is absent, the same SQL functions pg_cron would run.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from types import FrameType
from typing import Any

import psycopg

from orchestrator.db import connect
from orchestrator.errors import translated


@dataclass(frozen=True)
class TickResult:
    """One row of ``cachemon.tick()`` (type ``cachemon.tick_result``)."""

    status: str
    minutes_done: int
    hours_done: int
    marks_claimed: int
    buckets_left: int
    oldest_pending: datetime | None
    auditor: str
    duration_ms: float
    buckets_failed: int  # buckets that failed to roll up (left queued; see failure)
    failure: str | None  # the first failure: bucket, implementation, error


@dataclass(frozen=True)
class MaintenanceResult:
    """One row of ``cachemon.run_maintenance()`` (type ``cachemon.maintenance_result``)."""

    status: str
    partitions_created: list[str]
    partitions_dropped: list[str]
    rows_moved: int
    default_rows_left: int
    minute_rows_deleted: int
    hour_rows_deleted: int
    batch_ids_deleted: int
    cron_runs_deleted: int


@dataclass(frozen=True)
class SummaryRow:
    """One row of ``cachemon.get_cache_performance_summary(...)``."""

    implementation_type: str
    window_start: datetime
    window_end: datetime
    total_events: int
    hits: int
    misses: int
    sets: int
    evictions: int
    errors: int
    hit_rate: Decimal | None
    error_rate: Decimal | None
    avg_response_time_ms: float | None
    p50_response_time_ms: float | None
    p95_response_time_ms: float | None
    p99_response_time_ms: float | None
    max_response_time_ms: float | None
    avg_cache_size: float | None
    max_cache_size: int | None


@dataclass(frozen=True)
class ScheduledJob:
    """One row of ``cachemon.schedule_jobs()``."""

    job_name: str
    schedule: str
    command: str
    jobid: int


Conn = psycopg.Connection[dict[str, Any]]


@contextmanager
def _connection(url_or_conn: str | Conn | None) -> Iterator[Conn]:
    if isinstance(url_or_conn, psycopg.Connection):
        yield url_or_conn
        return
    with connect(url_or_conn, application_name="cachemon rollup") as conn:
        yield conn


def _columns(cls: type[Any]) -> str:
    return ", ".join(f.name for f in dataclasses.fields(cls))


def tick(url_or_conn: str | Conn | None = None, now: datetime | None = None) -> TickResult:
    """Run ``cachemon.tick(p_now)`` once (``now`` defaults to the database clock)."""
    with _connection(url_or_conn) as conn, translated():
        row = conn.execute(
            f"SELECT {_columns(TickResult)} FROM cachemon.tick(coalesce(%(now)s, now()))",
            {"now": now},
        ).fetchone()
    assert row is not None
    return TickResult(**row)


def run_maintenance(
    url_or_conn: str | Conn | None = None, now: datetime | None = None
) -> MaintenanceResult:
    """Run ``cachemon.run_maintenance(p_now)`` once."""
    with _connection(url_or_conn) as conn, translated():
        row = conn.execute(
            f"SELECT {_columns(MaintenanceResult)}"
            " FROM cachemon.run_maintenance(coalesce(%(now)s, now()))",
            {"now": now},
        ).fetchone()
    assert row is not None
    return MaintenanceResult(**row)


def performance_summary(
    url_or_conn: str | Conn | None = None,
    implementation_type: str | None = None,
    window: timedelta = timedelta(hours=1),
    now: datetime | None = None,
    *,
    include_current_minute: bool = False,
) -> list[SummaryRow]:
    """Rows of ``cachemon.get_cache_performance_summary(implementation_type, window, p_now)``.

    The SQL function covers the whole minutes before ``p_now``. With
    ``include_current_minute`` (what ``cachemon summary`` does), ``p_now`` is the end of the
    current minute, so events rolled up by a tick a moment ago show at once: the window is
    then ``window`` long and ends at the next minute boundary.
    """
    if window <= timedelta(0):
        raise ValueError(f"window must be positive (window={window})")
    shift = timedelta(minutes=1) if include_current_minute else timedelta(0)
    with _connection(url_or_conn) as conn, translated():
        rows = conn.execute(
            f"SELECT {_columns(SummaryRow)} FROM cachemon.get_cache_performance_summary("
            "%(impl)s, %(window)s, coalesce(%(now)s, now()) + %(shift)s)",
            {"impl": implementation_type, "window": window, "now": now, "shift": shift},
        ).fetchall()
    return [SummaryRow(**r) for r in rows]


def schedule_jobs(url_or_conn: str | Conn | None = None) -> list[ScheduledJob]:
    """Register cachemon's pg_cron jobs (no rows where pg_cron is absent)."""
    with _connection(url_or_conn) as conn, translated():
        rows = conn.execute(
            f"SELECT {_columns(ScheduledJob)} FROM cachemon.schedule_jobs()"
        ).fetchall()
    return [ScheduledJob(**r) for r in rows]


def unschedule_jobs(url_or_conn: str | Conn | None = None) -> int:
    """Remove cachemon's pg_cron jobs; how many were removed."""
    with _connection(url_or_conn) as conn, translated():
        row = conn.execute("SELECT cachemon.unschedule_jobs() AS removed").fetchone()
    assert row is not None
    return int(row["removed"])


class Scheduler:
    """Runs tick every ``tick_interval`` seconds and maintenance every ``maintenance_interval``.

    For databases without pg_cron. Ticks are aligned on multiples of the interval (so on the
    minute by default); maintenance runs at start and then on its interval. ``stop()`` (or
    SIGINT/SIGTERM under ``run_forever``) ends the loop after the call in progress. A failed call
    is reported through ``on_event`` and retried at the next beat; a lost connection is
    reopened.
    """

    def __init__(
        self,
        url: str | None,
        tick_interval: float = 60.0,
        maintenance_interval: float = 3600.0,
        on_event: Callable[[str, object], None] | None = None,
    ) -> None:
        if tick_interval <= 0:
            raise ValueError(f"tick_interval must be > 0 (tick_interval={tick_interval})")
        if maintenance_interval <= 0:
            raise ValueError(
                f"maintenance_interval must be > 0 (maintenance_interval={maintenance_interval})"
            )
        self.url = url
        self.tick_interval = tick_interval
        self.maintenance_interval = maintenance_interval
        self.on_event = on_event or (lambda kind, payload: None)
        self._stop = threading.Event()
        self._conn: Conn | None = None
        self._last_error: str | None = None

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _connection(self) -> Conn:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.url, application_name="cachemon scheduler")
        return self._conn

    def _call(self, kind: str, fn: Callable[[Conn], object]) -> None:
        try:
            result = fn(self._connection())
        except Exception as exc:  # reported once while it stays the same, retried each beat
            from orchestrator.errors import translate

            text = f"{kind}: {translate(exc)}"
            if text != self._last_error:
                self.on_event("error", text)
            self._last_error = text
            if self._conn is not None and (self._conn.broken or self._conn.closed):
                self._conn = None
            return
        if self._last_error is not None:
            self.on_event("recovered", f"{kind} works again")
            self._last_error = None
        self.on_event(kind, result)

    def run(self) -> None:
        next_maintenance = time.monotonic()
        try:
            while not self._stop.is_set():
                if time.monotonic() >= next_maintenance:
                    self._call("maintenance", run_maintenance)
                    next_maintenance = time.monotonic() + self.maintenance_interval
                if self._stop.is_set():
                    break
                self._call("tick", tick)
                wait = self.tick_interval - (time.time() % self.tick_interval)
                self._stop.wait(wait)
        finally:
            if self._conn is not None:
                self._conn.close()
            self.on_event("stopped", None)

    def check(self) -> None:
        """Connect once and make sure cachemon is installed: a wrong URL, password or a
        missing schema fail here, at start, as package errors (not once a minute)."""
        from orchestrator.errors import NotInstalled

        with translated():
            conn = self._connection()
            row = conn.execute(
                "SELECT pg_catalog.to_regprocedure('cachemon.tick(timestamptz)') IS NULL AS missing"
            ).fetchone()
        if row is None or row["missing"]:
            raise NotInstalled("function cachemon.tick(timestamptz) does not exist")

    def run_forever(self) -> None:
        """``check()``, then ``run()`` with SIGINT and SIGTERM stopping the loop cleanly."""
        self.check()

        def handler(signum: int, frame: FrameType | None) -> None:
            self.on_event("signal", signal.Signals(signum).name)
            self.stop()

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.run()
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

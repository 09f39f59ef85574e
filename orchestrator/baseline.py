"""Baselines from Python: ``cachemon.compute_baseline`` and the active baselines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator import db
from orchestrator.auditor import columns
from orchestrator.errors import translated


@dataclass(frozen=True)
class Baseline:
    """A row of ``cachemon.cache_baseline_metrics`` (what ``compute_baseline`` returns)."""

    id: int
    implementation_type: str
    window_start: datetime
    window_end: datetime
    sample_minutes: int
    is_active: bool
    created_at: datetime
    hit_rate_mean: float | None
    hit_rate_stddev: float | None
    error_rate_mean: float | None
    error_rate_stddev: float | None
    avg_response_time_ms_mean: float | None
    avg_response_time_ms_stddev: float | None
    p95_response_time_ms_mean: float | None
    p95_response_time_ms_stddev: float | None
    requests_per_minute_mean: float | None
    requests_per_minute_stddev: float | None
    excluded_minutes: int
    statistics: dict[str, Any]
    hourly_profile: dict[str, Any] | None

    def median(self, metric: str) -> float | None:
        """The robust centre of a metric over the whole window."""
        value = self.statistics.get(metric, {}).get("median")
        return None if value is None else float(value)


def _select() -> str:
    return ", ".join(f"b.{c}" for c in columns(Baseline))


def compute(
    implementation_type: str,
    window: str = "14 days",
    url: str | None = None,
    now: datetime | None = None,
) -> Baseline:
    """Compute and activate the baseline of one implementation (``cachemon.compute_baseline``)."""
    if not isinstance(implementation_type, str) or not 1 <= len(implementation_type.strip()) <= 64:
        raise ValueError(
            f"implementation_type must be 1..64 characters, got {implementation_type!r}"
        )
    if not isinstance(window, str) or not window.strip():
        raise ValueError(f"window must be an interval such as '14 days', got {window!r}")
    if now is not None and now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    with db.connect(url) as conn, translated():
        row = conn.execute(
            f"SELECT {_select()} FROM cachemon.compute_baseline(%s, %s::interval,"
            " coalesce(%s, now())) AS b",
            (implementation_type, window, now),
        ).fetchone()
    assert row is not None
    return Baseline(**row)


def active(url: str | None = None, implementation_type: str | None = None) -> list[Baseline]:
    """The active baseline of every implementation (or of the one named)."""
    with db.connect(url) as conn, translated():
        rows = conn.execute(
            f"SELECT {_select()} FROM cachemon.cache_baseline_metrics AS b"
            " WHERE b.is_active AND (%(impl)s::text IS NULL OR b.implementation_type = %(impl)s)"
            " ORDER BY b.implementation_type",
            {"impl": implementation_type},
        ).fetchall()
    return [Baseline(**r) for r in rows]

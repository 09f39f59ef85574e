"""The auditor from Python: thin, typed calls of ``cachemon.run_auditor``, the observations table,
``cachemon.acknowledge_observation`` and ``cachemon.resolve_observation``.

Result types are dataclasses whose fields are exactly the SQL result columns (a test checks
this against the catalog), so ``Observation(**row)`` never silently drops or invents a field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator import db
from orchestrator.errors import translated

STATUSES = ("live", "open", "acknowledged", "resolved", "all")


@dataclass(frozen=True)
class AuditRun:
    """One row of ``cachemon.run_auditor(p_now)``: what one evaluation did."""

    evaluated: int
    breaches: int
    opened: int
    updated: int
    escalated: int
    resolved: int
    skipped: str | None


@dataclass(frozen=True)
class Observation:
    """A row of ``cachemon.cache_auditor_observations`` (what ack/resolve return)."""

    id: int
    implementation_type: str
    rule: str
    severity: str
    category: str
    status: str
    metric: str | None
    observed_value: float | None
    baseline_value: float | None
    deviation_pct: float | None
    message: str
    recommendation: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    occurrences: int
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    details: dict[str, Any]
    resolved_by: str | None


def columns(cls: type[Any]) -> list[str]:
    """The field names of a result dataclass, in order (the SQL columns it selects)."""
    return [f.name for f in dataclasses.fields(cls)]


def _observation_select() -> str:
    return ", ".join(f"o.{c}" for c in columns(Observation))


def _check_by(field: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 200:
        raise ValueError(f"{field} must be 1..200 characters, got {value!r}")
    return value.strip()


def _check_id(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"observation_id must be a positive integer, got {value!r}")
    return value


def run(url: str | None = None, now: datetime | None = None) -> AuditRun:
    """Evaluate every rule once (``cachemon.run_auditor``) and return what changed."""
    if now is not None and now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    with db.connect(url) as conn, translated():
        row = conn.execute(
            f"SELECT {', '.join(columns(AuditRun))} FROM cachemon.run_auditor(coalesce(%s, now()))",
            (now,),
        ).fetchone()
    assert row is not None
    return AuditRun(**row)


def list_observations(
    url: str | None = None,
    *,
    status: str = "live",
    implementation_type: str | None = None,
    limit: int = 50,
) -> list[Observation]:
    """Findings, newest first. ``status`` 'live' means open or acknowledged."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
        raise ValueError(f"limit must be an integer within 1..10000, got {limit!r}")
    with db.connect(url) as conn, translated():
        rows = conn.execute(
            f"SELECT {_observation_select()} FROM cachemon.cache_auditor_observations AS o"
            " WHERE (%(status)s = 'all'"
            "        OR (%(status)s = 'live' AND o.status <> 'resolved')"
            "        OR o.status = %(status)s)"
            "   AND (%(impl)s::text IS NULL OR o.implementation_type = %(impl)s)"
            " ORDER BY o.last_seen_at DESC, o.id DESC LIMIT %(limit)s",
            {"status": status, "impl": implementation_type, "limit": limit},
        ).fetchall()
    return [Observation(**r) for r in rows]


def acknowledge(
    observation_id: int, acknowledged_by: str, url: str | None = None, now: datetime | None = None
) -> Observation:
    """``cachemon.acknowledge_observation``: who takes the finding, and when."""
    _check_id(observation_id)
    by = _check_by("acknowledged_by", acknowledged_by)
    with db.connect(url) as conn, translated():
        row = conn.execute(
            f"SELECT {_observation_select()} FROM cachemon.acknowledge_observation("
            "%s, %s, coalesce(%s, now())) AS o",
            (observation_id, by, now),
        ).fetchone()
    assert row is not None
    return Observation(**row)


def resolve(
    observation_id: int,
    resolved_by: str,
    note: str | None = None,
    url: str | None = None,
    now: datetime | None = None,
) -> Observation:
    """``cachemon.resolve_observation``: close a finding by hand, with who, when and a note."""
    _check_id(observation_id)
    by = _check_by("resolved_by", resolved_by)
    if note is not None and len(note) > 1000:
        raise ValueError(f"note must be at most 1000 characters, got {len(note)}")
    with db.connect(url) as conn, translated():
        row = conn.execute(
            f"SELECT {_observation_select()} FROM cachemon.resolve_observation("
            "%s, %s, %s, coalesce(%s, now())) AS o",
            (observation_id, by, note, now),
        ).fetchone()
    assert row is not None
    return Observation(**row)

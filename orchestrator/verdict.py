"""The migration verdict from Python: ``cachemon.migration_verdict`` as a typed row."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from orchestrator import db
from orchestrator.auditor import columns
from orchestrator.errors import translated

VERDICTS = ("ready", "marginal", "not_ready", "not_enough_data")


@dataclass(frozen=True)
class Verdict:
    """The one row ``cachemon.migration_verdict`` returns."""

    candidate: str
    reference: str
    window_start: datetime
    window_end: datetime
    verdict: str
    score: Decimal | None
    evidence: str
    metrics: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        """The row as JSON-ready values (times as ISO 8601, the score as a float)."""
        out = asdict(self)
        out["window_start"] = self.window_start.isoformat()
        out["window_end"] = self.window_end.isoformat()
        out["score"] = None if self.score is None else float(self.score)
        return out


def migration_verdict(
    candidate: str = "new",
    reference: str = "legacy",
    window: str = "1 hour",
    url: str | None = None,
    now: datetime | None = None,
) -> Verdict:
    """Is ``candidate`` ready to take all traffic from ``reference``? (one SQL call)."""
    if now is not None and now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    select = ", ".join(f"v.{c}" for c in columns(Verdict))
    with db.connect(url) as conn, translated():
        row = conn.execute(
            f"SELECT {select} FROM cachemon.migration_verdict(%s, %s, %s::interval,"
            " coalesce(%s, now())) AS v",
            (candidate, reference, window, now),
        ).fetchone()
    assert row is not None
    return Verdict(**row)

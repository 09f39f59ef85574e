"""Each rule in four steps (splinter's shape): clean data gives no finding, a near miss gives
none, a breach gives a finding with the expected severity and category, and recovery
resolves it. Time advances minute by minute through run_auditor(p_now), as tick() runs it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from orchestrator.synthetic import Profile
from tests.auditor_helpers import LEGACY, NEW, Conn, T, audit, baselined, findings, play
from tests.rollup_helpers import tick_until_idle

PHASE = 20  # minutes per step


@dataclass(frozen=True)
class Case:
    rule: str
    near_miss: Profile
    breach: Profile
    severity: str
    category: str
    metric: str
    max_minutes: int = 3  # from the breach's start to the finding


CASES = [
    Case(
        "hit_rate_drop",
        NEW.but(hit_rate=76),
        NEW.but(hit_rate=60),
        "critical",
        "performance",
        "hit_rate",
    ),
    Case(
        "response_time",
        NEW.but(avg_response_time_ms=14),
        NEW.but(avg_response_time_ms=15.6),
        "warning",
        "performance",
        # judged on quantiles (the synthetic minutes have no sketch: their percentiles)
        "p50_response_time_ms|p95_response_time_ms|p99_response_time_ms",
        6,
    ),
    Case(
        "error_rate",
        NEW.but(error_rate=0.6),
        NEW.but(error_rate=8),
        "critical",
        "reliability",
        "error_rate",
    ),
    Case(
        "anomaly", NEW.but(hit_rate=85), NEW.but(hit_rate=97), "warning", "anomaly", "hit_rate", 5
    ),
    Case(
        "capacity",
        NEW.but(eviction_rate=2.4),
        NEW.but(eviction_rate=10),
        "critical",
        "capacity",
        "eviction_rate",
    ),
    Case(
        "no_data",
        NEW.but(requests_per_minute=0),
        NEW.but(requests_per_minute=0),
        "critical",
        "reliability",
        "silent_minutes",
        3,  # silent for 3 whole minutes (the threshold; no_data opens at once)
    ),
    Case(
        "migration",
        NEW.but(hit_rate=76),
        NEW.but(avg_response_time_ms=30),
        "critical",
        "performance",
        "avg_response_time_ms",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.rule for c in CASES])
def test_rule_in_four_steps(conn: Conn, case: Case) -> None:
    baselined(conn)
    # Each rule on its own: with every rule on, an incident is one finding led by the first
    # rule to open it (the others listed in its details; tests/test_auditor_grouping.py).
    conn.execute("UPDATE cachemon._auditor_rules SET enabled = (rule = %s)", (case.rule,))
    # The reference implementation stays clean all along.
    play(conn, [(LEGACY, 4 * PHASE)], T, seed=0.5)

    # 1. clean
    clean_end = play(conn, [(NEW, PHASE)], T, seed=0.6)
    audit(conn, T, clean_end)
    assert findings(conn, case.rule) == []

    # 2. near miss (for no_data: a 2-minute gap, below the 3-minute threshold)
    if case.rule == "no_data":
        near = [(case.near_miss, 2), (NEW, PHASE - 2)]
    else:
        near = [(case.near_miss, PHASE)]
    near_end = play(conn, near, clean_end, seed=0.7)
    audit(conn, clean_end, near_end)
    assert findings(conn, case.rule) == [], (
        "near miss raised a finding",
        [f["message"] for f in findings(conn, case.rule)],
    )

    # 3. breach
    breach_end = play(conn, [(case.breach, PHASE)], near_end, seed=0.8)
    audit(conn, near_end, breach_end)
    found = findings(conn, case.rule)
    assert len(found) == 1, found
    finding = found[0]
    assert finding["status"] == "open"
    assert finding["severity"] == case.severity
    assert finding["category"] == case.category
    assert finding["metric"] in case.metric.split("|")
    assert finding["recommendation"]
    assert "new" in finding["message"]
    # Opened soon after the breach's start (persistence: 2 evaluations); the anomaly rule
    # judges the 5-minute window against one minute's spread, so it needs most of it.
    opened_at = datetime.fromisoformat(finding["details"]["opened_at"])
    assert opened_at - near_end <= timedelta(minutes=case.max_minutes, seconds=5)

    # 4. recovery
    recovered_end = play(conn, [(NEW, PHASE)], breach_end, seed=0.9)
    audit(conn, breach_end, recovered_end)
    found = findings(conn, case.rule)
    assert len(found) == 1
    assert found[0]["status"] == "resolved"
    assert found[0]["resolved_by"] == "auditor"
    assert found[0]["resolved_at"] <= recovered_end


def test_the_loo_quantile_bounds_use_the_response_time_rules_significance(conn: Conn) -> None:
    """The lower confidence bounds of the loo quantiles (judged by response_time) are taken at
    that rule's significance_z (default 3.09, the constant the bounds always used): z = 0 puts
    the bound at the quantile itself, a larger z lowers it. Real events with spread latencies
    (1..1000 ms, 200 a minute) through the raw table and tick, so the sketch has the spread."""
    conn.execute(
        "INSERT INTO cachemon.cache_metrics"
        " (recorded_at, implementation_type, event_type, response_time_ms)"
        " SELECT date_trunc('minute', now()) - interval '20 minutes'"
        "        + (g / 200) * interval '1 minute' + (g % 200) * interval '250 milliseconds',"
        "        'new', 'hit', 1 + (g * 7919) % 1000"
        "   FROM generate_series(0, 15 * 200 - 1) AS g"
    )
    tick_until_idle(conn)

    def bounds() -> dict[str, Any]:
        row = conn.execute(
            "SELECT loo_p95_response_time_ms AS q, loo_p95_lower_ms AS lower"
            " FROM cachemon._window_stats(date_trunc('minute', now()) - interval '20 minutes',"
            "                             date_trunc('minute', now()) - interval '5 minutes')"
            " WHERE implementation_type = 'new'"
        ).fetchone()
        assert row is not None and row["q"] is not None
        return dict(row)

    def at(z: float) -> dict[str, Any]:
        conn.execute(
            "UPDATE cachemon._auditor_rules SET significance_z = %s WHERE rule = 'response_time'",
            (z,),
        )
        return bounds()

    default = bounds()
    assert conn.execute(
        "SELECT significance_z AS z FROM cachemon._auditor_rules WHERE rule = 'response_time'"
    ).fetchone() == {"z": 3.09}
    at_zero, at_thirty = at(0), at(30)
    assert at_thirty["lower"] < default["lower"] < at_zero["lower"]
    assert at_zero["lower"] == pytest.approx(at_zero["q"], rel=0.02)
    assert default["q"] == at_zero["q"] == at_thirty["q"]

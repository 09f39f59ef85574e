"""One incident, one finding; one bad minute, no finding (all rules enabled, as shipped)."""

from __future__ import annotations

from tests.auditor_helpers import LEGACY, NEW, Conn, T, audit, baselined, play

PHASE = 20


def _all(conn: Conn) -> list[dict[str, object]]:
    return conn.execute(
        "SELECT implementation_type, rule, status, severity, message, details"
        " FROM cachemon.cache_auditor_observations ORDER BY id"
    ).fetchall()


def test_one_incident_opens_one_finding_that_names_the_other_rules(conn: Conn) -> None:
    baselined(conn)
    play(conn, [(LEGACY, 6 * PHASE)], T, seed=0.5)
    clean_end = play(conn, [(NEW, PHASE)], T, seed=0.6)
    audit(conn, T, clean_end)
    assert _all(conn) == []
    # Slower, missing more and failing more, all at once: several rules breach.
    bad = NEW.but(hit_rate=60, avg_response_time_ms=30, error_rate=8)
    bad_end = play(conn, [(bad, PHASE)], clean_end, seed=0.7)
    audit(conn, clean_end, bad_end)
    found = _all(conn)
    assert len(found) == 1, found
    lead = found[0]
    assert lead["implementation_type"] == "new" and lead["severity"] == "critical"
    related = lead["details"]["related"]  # type: ignore[index]
    assert len(related) >= 2, related
    for rule in related:
        assert rule in str(lead["message"])
    # Recovery resolves it; nothing reopens from the long windows still holding the incident.
    end = play(conn, [(NEW, 3 * PHASE)], bad_end, seed=0.8)
    audit(conn, bad_end, end)
    found = _all(conn)
    assert len(found) == 1, found
    assert found[0]["status"] == "resolved"


def test_one_stalled_minute_opens_nothing(conn: Conn) -> None:
    baselined(conn)
    play(conn, [(LEGACY, 3 * PHASE)], T, seed=0.5)
    stall = NEW.but(hit_rate=20, avg_response_time_ms=240, error_rate=40, eviction_rate=30)
    end = play(conn, [(NEW, PHASE), (stall, 1), (NEW, 2 * PHASE - 1)], T, seed=0.6)
    audit(conn, T, end)
    assert _all(conn) == []


def test_two_stalled_minutes_in_a_row_are_an_incident(conn: Conn) -> None:
    baselined(conn)
    play(conn, [(LEGACY, 3 * PHASE)], T, seed=0.5)
    stall = NEW.but(hit_rate=20, avg_response_time_ms=240, error_rate=40)
    end = play(conn, [(NEW, PHASE), (stall, 2), (NEW, 2 * PHASE - 2)], T, seed=0.6)
    audit(conn, T, end)
    found = _all(conn)
    assert len(found) == 1, found
    assert found[0]["status"] == "resolved"

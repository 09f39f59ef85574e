"""no_data judges silence against the traffic it interrupts: a few silent minutes after a
deep lull are likely and open nothing; the same silence after normal traffic is an outage."""

from __future__ import annotations

from tests.auditor_helpers import NEW, Conn, T, audit, baselined, play


def _no_data_raised(conn: Conn) -> bool:
    """A no_data finding of its own, or no_data listed in another finding (one incident)."""
    row = conn.execute(
        "SELECT count(*) AS n FROM cachemon.cache_auditor_observations"
        " WHERE implementation_type = 'new'"
        "   AND (rule = 'no_data' OR coalesce(details -> 'related', '{}') ? 'no_data')"
    ).fetchone()
    return bool(row and row["n"])


def test_silence_after_a_lull_is_not_an_outage(conn: Conn) -> None:
    baselined(conn)
    # 30 minutes at 2 operations a minute (a deep lull), then 10 silent minutes: the
    # baseline's rate of the hour would make them an outage, the lull's rate does not.
    end = play(
        conn,
        [(NEW.but(requests_per_minute=2), 30), (NEW.but(requests_per_minute=0), 10)],
        T,
        seed=0.3,
    )
    audit(conn, T, end)
    assert not _no_data_raised(conn)
    # The control: the same silence after normal traffic is raised.
    later = play(conn, [(NEW, 30), (NEW.but(requests_per_minute=0), 10)], end, seed=0.4)
    audit(conn, end, later)
    assert _no_data_raised(conn)

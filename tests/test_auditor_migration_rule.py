"""The migration rule on raw events (sketches, leave-one-out windows), legacy beside new.

What it must show: a handful of very slow requests of the candidate, one in each of a few
minutes (a heavy tail at night), does not open a finding on its average response time; a
real slowdown of every request does.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.auditor_traffic import Conn, Traffic, emit, recent_start, roll_up

NIGHT = 60  # requests a minute: one or two requests of a 0.5% tail in every 5-minute window
LEGACY = Traffic("legacy", rpm=NIGHT, hit_ms=4.5, miss_ms=32.0)
NEW = Traffic("new", rpm=NIGHT, hit_ms=3.8, miss_ms=28.0)


def _play(conn: Conn, new: Traffic, start: datetime, minutes: int, slow: set[int]) -> None:
    """Both implementations minute by minute, tick 5 s after each minute; in the minutes of
    ``slow`` the candidate also serves one request of 1.5 s."""
    for i in range(minutes):
        at = start + timedelta(minutes=i)
        emit(conn, LEGACY, at, 1, (0.11 + i / 997) % 1)
        emit(conn, new, at, 1, (0.53 + i / 991) % 1)
        if i in slow:
            conn.execute(
                "INSERT INTO cachemon.cache_metrics (recorded_at, implementation_type,"
                " event_type, cache_key, response_time_ms, cache_size)"
                " VALUES (%s, 'new', 'hit', 'slow', 1500, 5000)",
                (at + timedelta(seconds=30),),
            )
        roll_up(conn, at + timedelta(minutes=1, seconds=5))


def _migration(conn: Conn) -> list[dict[str, object]]:
    return conn.execute(
        "SELECT severity, metric, message FROM cachemon.cache_auditor_observations"
        " WHERE rule = 'migration' ORDER BY id"
    ).fetchall()


def test_a_few_very_slow_requests_do_not_open_a_migration_finding(conn: Conn) -> None:
    start = recent_start(25)
    _play(conn, NEW, start, 10, set())
    # three slow requests in six minutes: every 5-minute window keeps at least one after it
    # leaves out its worst minute (the average moves by 60-80%)
    _play(conn, NEW, start + timedelta(minutes=10), 15, {2, 4, 6})
    assert _migration(conn) == []


def test_a_real_slowdown_opens_a_migration_finding(conn: Conn) -> None:
    start = recent_start(25)
    _play(conn, NEW, start, 10, set())
    _play(conn, NEW.but(hit_ms=7.6, miss_ms=56.0), start + timedelta(minutes=10), 15, set())
    found = _migration(conn)
    assert [f["metric"] for f in found] == ["avg_response_time_ms"], found

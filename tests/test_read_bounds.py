"""The read API bounds the work of one call, however many implementations the writer made.

A reader (or Supabase's authenticated, if exposed) ran read calls costing 6-22 s each, and the
number of implementations, which the writer controls, multiplied every read; p_now =
'infinity' returned zero rows silently. Each call below is made as cachemon_reader.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.rollup_helpers import Conn

READS = {
    "get_timeseries": "SELECT count(*) FROM cachemon.get_timeseries('1 hour', NULL, NULL, %s)",
    "get_traffic_share": "SELECT count(*) FROM cachemon.get_traffic_share('1 hour', %s)",
    "get_error_breakdown": "SELECT count(*) FROM cachemon.get_error_breakdown('1 hour', NULL, %s)",
    "get_cache_performance_summary": (
        "SELECT count(*) FROM cachemon.get_cache_performance_summary(NULL, '1 hour', %s)"
    ),
    "migration_verdict": (
        "SELECT count(*) FROM cachemon.migration_verdict('new', 'legacy', '1 hour', %s)"
    ),
}


def _as_reader(conn: Conn) -> None:
    conn.execute("SET ROLE cachemon_reader")


@pytest.mark.parametrize("p_now", ["infinity", "-infinity", None])
@pytest.mark.parametrize("name", sorted(READS))
def test_p_now_infinity_is_refused_by_every_read(conn: Conn, name: str, p_now: Any) -> None:
    _as_reader(conn)
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="p_now"):
        conn.execute(READS[name], (p_now,))


@pytest.mark.parametrize("name", sorted(READS))
def test_every_read_works_at_the_clock(conn: Conn, name: str) -> None:
    _as_reader(conn)
    row = conn.execute(READS[name].replace("%s", "now()")).fetchone()
    assert row is not None


def _many_implementations(conn: Conn, n: int) -> None:
    """What the writer's ingest of n implementations over the last hour leaves after tick:
    a 1-minute row per minute and implementation (written here directly, for speed)."""
    conn.execute("SET statement_timeout = '120s'")
    # Each row would also be pushed to listeners: not what this test is about.
    conn.execute("ALTER TABLE cachemon.cache_metrics_1min DISABLE TRIGGER cache_metrics_1min_push")
    conn.execute(
        "INSERT INTO cachemon.cache_metrics_1min (bucket, implementation_type, hits,"
        " total_events)"
        " SELECT date_trunc('minute', now()) - m * interval '1 minute', 'impl_' || i, 1, 1"
        "   FROM generate_series(0, 59) AS m, generate_series(1, %s) AS i",
        (n,),
    )
    conn.execute("ALTER TABLE cachemon.cache_metrics_1min ENABLE TRIGGER cache_metrics_1min_push")
    row = conn.execute("SELECT count(*) AS n FROM cachemon.cache_metrics_1min").fetchone()
    assert row == {"n": 60 * n}


@pytest.mark.parametrize(
    ("call", "cap"),
    [
        ("SELECT count(*) FROM cachemon.get_timeseries('1 hour', '1 minute')", "100000"),
        ("SELECT count(*) FROM cachemon.get_timeseries('1 hour', '2 minutes')", "20000"),
        ("SELECT count(*) FROM cachemon.get_traffic_share('1 hour')", "100000"),
        (
            "SELECT count(*) FROM cachemon.get_cache_performance_summary(NULL, '59 minutes')",
            "100000",
        ),
    ],
)
def test_many_implementations_cannot_multiply_a_read(conn: Conn, call: str, cap: str) -> None:
    """1,700 implementations over the last hour (102,000 minute rows): a read over all of
    them is refused with the cap in the error, before any aggregation; one implementation
    named reads as before."""
    _many_implementations(conn, 1700)
    _as_reader(conn)
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=f"more than {cap} stored rows"):
        conn.execute(call)
    one = conn.execute(
        "SELECT count(*) AS n FROM cachemon.get_timeseries('1 hour', '1 minute', 'impl_7')"
    ).fetchone()
    assert one == {"n": 60}
    summary = conn.execute(
        "SELECT total_events FROM cachemon.get_cache_performance_summary('impl_7', '59 minutes')"
    ).fetchall()
    assert summary == [{"total_events": 59}]


def test_a_flood_of_errors_cannot_make_the_breakdown_unbounded(conn: Conn) -> None:
    """1,000,001 error events in the last hour: the breakdown over them is refused, naming
    the cap; over one implementation with few errors it answers."""
    conn.execute("SET statement_timeout = '300s'")
    conn.execute(
        "INSERT INTO cachemon.cache_metrics (recorded_at, implementation_type, event_type,"
        " error_type)"
        " SELECT now() - (g % 3000) * interval '1 second', 'flood', 'error', 'e' || (g % 1000)"
        "   FROM generate_series(1, 1000001) AS g"
    )
    conn.execute(
        "INSERT INTO cachemon.cache_metrics (recorded_at, implementation_type, event_type,"
        " error_type) VALUES (now() - interval '1 minute', 'new', 'error', 'timeout')"
    )
    _as_reader(conn)
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="more than 1000000 error"):
        conn.execute("SELECT count(*) FROM cachemon.get_error_breakdown('1 hour')")
    rows = conn.execute(
        "SELECT error_type, errors FROM cachemon.get_error_breakdown('1 hour', 'new')"
    ).fetchall()
    assert rows == [{"error_type": "timeout", "errors": 1}]

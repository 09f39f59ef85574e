"""The seed's SQL helpers: calculate_hit_rate and get_cache_performance_summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("hits", "misses", "expected"),
    [(3, 1, Decimal(75)), (0, 5, Decimal(0)), (5, 0, Decimal(100)), (0, 0, None), (None, 1, None)],
)
def test_calculate_hit_rate(conn: Any, hits: int | None, misses: int, expected: Any) -> None:
    row = conn.execute("SELECT cachemon.calculate_hit_rate(%s, %s) AS r", (hits, misses)).fetchone()
    assert row["r"] == expected


@given(hits=st.integers(0, 2**40), misses=st.integers(0, 2**40))
def test_calculate_hit_rate_is_exact(conn: Any, hits: int, misses: int) -> None:
    row = conn.execute("SELECT cachemon.calculate_hit_rate(%s, %s) AS r", (hits, misses)).fetchone()
    if hits + misses == 0:
        assert row["r"] is None
    else:
        assert abs(row["r"] - Decimal(100 * hits) / Decimal(hits + misses)) < Decimal("1e-15")
        assert 0 <= row["r"] <= 100


def test_calculate_hit_rate_refuses_negative_counts(conn: Any) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=r"hits=-1"):
        conn.execute("SELECT cachemon.calculate_hit_rate(-1, 3)")


def _minute(conn: Any, bucket: datetime, impl: str, **counts: int) -> None:
    hits, misses = counts.get("hits", 0), counts.get("misses", 0)
    sets, evictions, errors = counts.get("sets", 0), counts.get("evictions", 0), 0
    conn.execute(
        "INSERT INTO cachemon.cache_metrics_1min (bucket, implementation_type, hits, misses, sets,"
        " evictions, errors, total_events, latency_count, latency_sum, max_response_time_ms)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            bucket,
            impl,
            hits,
            misses,
            sets,
            evictions,
            errors,
            hits + misses + sets + evictions + errors,
            hits + misses,
            10.0 * (hits + misses),
            20.0,
        ),
    )


def test_summary_sums_the_window_per_implementation(conn: Any) -> None:
    # Two hours ago on the hour (times derive from the clock, within every bound).
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    _minute(conn, base, "new", hits=8, misses=2)
    _minute(conn, base + timedelta(minutes=1), "new", hits=2, misses=8, sets=5)
    _minute(conn, base + timedelta(minutes=1), "legacy", hits=1, misses=0)
    _minute(conn, base - timedelta(hours=1), "new", hits=100, misses=0)  # outside the window
    p_now = base + timedelta(minutes=5, seconds=30)
    rows = conn.execute(
        "SELECT * FROM cachemon.get_cache_performance_summary(NULL, '30 minutes', %s)", (p_now,)
    ).fetchall()
    assert [r["implementation_type"] for r in rows] == ["legacy", "new"]
    new = rows[1]
    assert (new["hits"], new["misses"], new["sets"], new["total_events"]) == (10, 10, 5, 25)
    assert new["hit_rate"] == 50
    assert new["avg_response_time_ms"] == pytest.approx(10.0)
    one = conn.execute(
        "SELECT hits FROM cachemon.get_cache_performance_summary('legacy', '30 minutes', %s)",
        (p_now,),
    ).fetchall()
    assert one == [{"hits": 1}]


def test_summary_of_the_seed_signature_works_with_two_arguments(conn: Any) -> None:
    assert (
        conn.execute(
            "SELECT * FROM cachemon.get_cache_performance_summary('new', interval '1 hour')"
        ).fetchall()
        == []
    )

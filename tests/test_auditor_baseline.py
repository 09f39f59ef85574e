"""compute_baseline: robust statistics, low-traffic minutes left out, the hour-of-day profile,
a clear refusal with too little data, and one active baseline per implementation."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from orchestrator import baseline
from orchestrator.errors import InvalidInput
from orchestrator.synthetic import insert_minutes
from tests.auditor_helpers import NEW, T0, Conn


def test_robust_statistics_ignore_a_few_bad_minutes(conn: Conn, db_url: str) -> None:
    insert_minutes(conn, NEW, T0, 200, seed=0.1)
    insert_minutes(conn, NEW.but(hit_rate=5), T0 + timedelta(minutes=200), 10, seed=0.2)
    b = baseline.compute("new", "1 day", db_url, now=T0 + timedelta(minutes=210))
    assert b.sample_minutes == 210 and b.is_active
    # 3.5 hours: no daily rhythm of rates to learn; volume per hour of day is always kept
    # (every minute counts, so quiet hours have their own expectation).
    assert b.hourly_profile is not None and set(b.hourly_profile) == {"pooled"}
    assert set(b.hourly_profile["pooled"]) == {"requests_per_minute"}
    hit = b.statistics["hit_rate"]
    assert 78 < hit["median"] < 82  # the 10 bad minutes do not move the median ...
    assert b.hit_rate_mean is not None and b.hit_rate_mean < 77  # ... but drag the mean
    assert 0 < hit["mad"] < 3
    assert set(b.statistics) >= {
        "hit_rate",
        "error_rate",
        "avg_response_time_ms",
        "p95_response_time_ms",
        "requests_per_minute",
        "eviction_rate",
        "avg_cache_size",
    }
    assert b.requests_per_minute_mean is not None and 300 < b.requests_per_minute_mean < 500


def test_low_traffic_minutes_are_left_out(conn: Conn, db_url: str) -> None:
    insert_minutes(conn, NEW, T0, 100, seed=0.3)
    insert_minutes(conn, NEW.but(requests_per_minute=3), T0 + timedelta(minutes=100), 50, seed=0.4)
    b = baseline.compute("new", "1 day", db_url, now=T0 + timedelta(minutes=150))
    assert b.sample_minutes == 100
    assert 40 <= b.excluded_minutes <= 50  # a few quiet minutes draw no operation at all


def test_too_little_data_is_refused_with_the_numbers(conn: Conn, db_url: str) -> None:
    insert_minutes(conn, NEW, T0, 40, seed=0.5)
    with pytest.raises(
        InvalidInput, match=r"'new' has 40 usable minutes .* at least 60 are needed"
    ):
        baseline.compute("new", "1 day", db_url, now=T0 + timedelta(minutes=40))
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="baseline_window"):
        conn.execute("SELECT cachemon.compute_baseline('new', '-1 day')")
    with pytest.raises(ValueError, match="implementation_type"):
        baseline.compute("", url=db_url)


def test_new_baseline_is_the_only_active_one(conn: Conn, db_url: str) -> None:
    insert_minutes(conn, NEW, T0, 120, seed=0.6)
    first = baseline.compute("new", "1 day", db_url, now=T0 + timedelta(minutes=100))
    second = baseline.compute("new", "1 day", db_url, now=T0 + timedelta(minutes=120))
    rows = conn.execute(
        "SELECT id, is_active FROM cachemon.cache_baseline_metrics ORDER BY id"
    ).fetchall()
    assert rows == [{"id": first.id, "is_active": False}, {"id": second.id, "is_active": True}]
    assert [b.id for b in baseline.active(db_url)] == [second.id]


def test_hour_of_day_profile_after_three_days(conn: Conn, db_url: str) -> None:
    insert_minutes(conn, NEW, T0, 3 * 1440 + 60, seed=0.7)
    b = baseline.compute("new", "14 days", db_url, now=T0 + timedelta(days=3, hours=1))
    assert b.hourly_profile is not None
    rpm = b.hourly_profile["median"]["requests_per_minute"]
    assert set(rpm) == {str(h) for h in range(24)}
    # Traffic follows the daily rhythm (+-10% here): lowest at midnight UTC, highest at noon.
    assert rpm["12"] > 1.15 * rpm["0"]
    assert "requests_per_minute" in b.hourly_profile["mad"]

"""One traffic model: the event generator (demo) and the 1-minute generator (auditor tests,
benchmarks) read the same Profile, in the same units, on the same daily curve."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime, timedelta

from orchestrator import synthetic, traffic
from tests.rollup_helpers import Conn


def test_synthetic_uses_the_traffic_profile() -> None:
    assert synthetic.Profile is traffic.Profile


def test_daily_curve_is_the_one_the_sql_generator_draws(conn: Conn) -> None:
    profile = traffic.Profile("curve", requests_per_minute=10_000, daily_amplitude=0.5)
    # Yesterday 00:00 UTC: the curve depends on the time of day only.
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    for hour in (0, 6, 12, 18):
        at = start + timedelta(hours=hour)
        synthetic.insert_minutes(conn, profile.but(implementation_type=f"c{hour}"), at, 30)
        row = conn.execute(
            "SELECT avg(hits + misses + sets + errors) AS ops FROM cachemon.cache_metrics_1min"
            " WHERE implementation_type = %s",
            (f"c{hour}",),
        ).fetchone()
        assert row is not None
        expected = statistics.mean(
            10_000 * traffic.daily_factor(at + timedelta(minutes=m), 0.5) for m in range(30)
        )
        assert abs(float(row["ops"]) - expected) < 0.01 * expected, (hour, row, expected)


def test_events_follow_the_profile() -> None:
    profile = traffic.Profile(
        "events",
        requests_per_minute=600,
        hit_rate=70,
        avg_response_time_ms=10,
        error_rate=2,
        daily_amplitude=0.0,
    )
    rng = random.Random(3)
    at = datetime.now(UTC).replace(hour=6, minute=0, second=0, microsecond=0) - timedelta(days=1)
    events = [e for m in range(60) for e in traffic.minute_events(profile, at, rng)]
    kinds = [e.kind for e in events]
    hits, misses = kinds.count("hit"), kinds.count("miss")
    ops = hits + misses + kinds.count("set") + kinds.count("error")
    latencies = [e.response_time_ms for e in events if e.response_time_ms is not None]
    assert abs(ops / 60 - 600) < 0.03 * 600
    assert abs(100 * hits / (hits + misses) - 70) < 2
    assert abs(100 * kinds.count("error") / ops - 2) < 0.5
    assert abs(statistics.mean(latencies) - 10) < 0.5

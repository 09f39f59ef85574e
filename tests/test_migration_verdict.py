"""cachemon.migration_verdict: equal cutover -> ready, clearly worse -> not ready, too little
traffic -> not enough data, a small real regression in one metric -> marginal or not ready,
naming the metric; the contract's columns and JSON keys; values at the edges of their domain."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.auditor_traffic import Conn, Traffic, emit, recent_start, roll_up

LEGACY = Traffic("legacy", hit_ms=5.0, miss_ms=35.0)
NEW = Traffic("new", hit_ms=5.0, miss_ms=35.0)
MINUTES = 60
METRICS = [
    "hit_rate",
    "error_rate",
    "p50_response_time_ms",
    "p95_response_time_ms",
    "p99_response_time_ms",
    "avg_response_time_ms",
]
KEYS = {
    "metric",
    "classification",
    "candidate_value",
    "reference_value",
    "effect",
    "ci_low",
    "ci_high",
    "tolerance",
    "unit",
    "candidate_n",
    "reference_n",
    "note",
}


def _verdict(conn: Conn, legacy: Traffic, new: Traffic, seed: float) -> dict[str, Any]:
    start = recent_start(MINUTES)
    emit(conn, legacy, start, MINUTES, seed)
    emit(conn, new, start, MINUTES, seed / 2)
    end = start + timedelta(minutes=MINUTES)
    roll_up(conn, end + timedelta(minutes=1))
    row = conn.execute(
        "SELECT * FROM cachemon.migration_verdict('new', 'legacy', '1 hour', %s)",
        (end + timedelta(seconds=5),),
    ).fetchone()
    assert row is not None
    assert [m["metric"] for m in row["metrics"]] == METRICS
    for m in row["metrics"]:
        assert set(m) == KEYS, m
        assert m["classification"] in ("better", "equal", "worse", "no_data")
    return row


def _classes(row: dict[str, Any]) -> dict[str, str]:
    return {m["metric"]: m["classification"] for m in row["metrics"]}


@pytest.mark.parametrize("seed", [0.11, 0.42])
def test_equal_cutover_is_ready(conn: Conn, seed: float) -> None:
    row = _verdict(conn, LEGACY, NEW, seed)
    assert row["verdict"] == "ready", row
    assert float(row["score"]) == 100
    assert set(_classes(row).values()) == {"equal"}, row["metrics"]
    assert "ready" in row["evidence"]


def test_clearly_worse_is_not_ready(conn: Conn) -> None:
    worse = NEW.but(hit_rate=0.6, hit_ms=9.0, miss_ms=70.0, error_rate=0.03)
    row = _verdict(conn, LEGACY, worse, 0.3)
    assert row["verdict"] == "not_ready", row
    classes = _classes(row)
    assert classes["hit_rate"] == "worse"
    assert classes["error_rate"] == "worse"
    assert classes["p95_response_time_ms"] == "worse"
    assert float(row["score"]) < 50
    assert "error_rate" in row["evidence"]


def test_too_little_traffic_is_not_enough_data(conn: Conn) -> None:
    row = _verdict(conn, LEGACY.but(rpm=3), NEW.but(rpm=3), 0.5)
    assert row["verdict"] == "not_enough_data", row
    assert "Not enough traffic" in row["evidence"]
    assert "no_data" in _classes(row).values()


def test_small_regression_in_one_metric_is_named(conn: Conn) -> None:
    # Hit rate 15% lower (relative), everything else as good: one metric of six fails.
    row = _verdict(conn, LEGACY, NEW.but(hit_rate=0.68), 0.6)
    assert row["verdict"] in ("marginal", "not_ready"), row
    classes = _classes(row)
    assert classes["hit_rate"] == "worse"
    assert classes["error_rate"] == "equal"
    assert "hit_rate" in row["evidence"]


def test_tail_only_regression_is_named(conn: Conn) -> None:
    # Only the slowest requests get slower: a heavier tail (sigma 0.5 -> 0.75) leaves the
    # median alone and lifts p99 by about 80%.
    row = _verdict(conn, LEGACY, NEW.but(sigma=0.75), 0.7)
    classes = _classes(row)
    assert classes["p99_response_time_ms"] == "worse", row["metrics"]
    assert classes["p50_response_time_ms"] == "equal"
    assert row["verdict"] in ("marginal", "not_ready")
    assert "p99_response_time_ms" in row["evidence"]


def test_no_rows_for_the_candidate(conn: Conn) -> None:
    start = recent_start(MINUTES)
    emit(conn, LEGACY, start, MINUTES, 0.2)
    roll_up(conn, start + timedelta(minutes=MINUTES + 1))
    row = conn.execute(
        "SELECT * FROM cachemon.migration_verdict(p_now => %s)",
        (start + timedelta(minutes=MINUTES, seconds=5),),
    ).fetchone()
    assert row is not None
    assert row["verdict"] == "not_enough_data"
    assert set(_classes(row).values()) == {"no_data"}


def test_extreme_values_are_judged_without_error(conn: Conn) -> None:
    """Latencies at the ends of the domain (0 and one day) and cache sizes at bigint max."""
    start = recent_start(10)
    for impl, ms in (("legacy", 0.0), ("new", 86_400_000.0)):
        conn.execute(
            "INSERT INTO cachemon.cache_metrics (recorded_at, implementation_type, event_type,"
            " response_time_ms, cache_size)"
            " SELECT %s::timestamptz + (g %% 10) * interval '1 minute', %s,"
            " CASE WHEN g %% 3 = 0 THEN 'miss' ELSE 'hit' END, %s, 9223372036854775807"
            " FROM generate_series(1, 2000) AS g",
            (start, impl, ms),
        )
    roll_up(conn, start + timedelta(minutes=11))
    row = conn.execute(
        "SELECT * FROM cachemon.migration_verdict('new', 'legacy', '10 minutes', %s)",
        (start + timedelta(minutes=10, seconds=5),),
    ).fetchone()
    assert row is not None
    classes = _classes(row)
    assert classes["p50_response_time_ms"] in ("no_data", "worse")
    assert row["verdict"] in ("not_ready", "not_enough_data", "marginal")


@pytest.mark.parametrize(
    "args",
    [
        ("new", "new", "1 hour"),
        (None, "legacy", "1 hour"),
        ("new", "legacy", "0 minutes"),
        ("new", "legacy", "40 days"),
    ],
)
def test_bad_arguments_are_refused(conn: Conn, args: tuple[Any, ...]) -> None:
    import psycopg

    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("SELECT * FROM cachemon.migration_verdict(%s, %s, %s::interval)", args)


def test_reader_may_call_it(conn: Conn) -> None:
    conn.execute("SET ROLE cachemon_reader")
    row = conn.execute("SELECT verdict FROM cachemon.migration_verdict()").fetchone()
    assert row == {"verdict": "not_enough_data"}


def test_cli_prints_the_verdict_as_json(conn: Conn, db_url: str) -> None:
    start = recent_start(MINUTES)
    emit(conn, LEGACY, start, MINUTES, 0.8)
    emit(conn, NEW, start, MINUTES, 0.9)
    roll_up(conn, start + timedelta(minutes=MINUTES + 1))
    cachemon = str(Path(sys.executable).parent / "cachemon")
    out = subprocess.run(
        [cachemon, "verdict", "--json", "--window", "2 hours", "--database-url", db_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    data = json.loads(out)
    assert data["verdict"] == "ready", data
    assert [m["metric"] for m in data["metrics"]] == METRICS
    text = subprocess.run(
        [cachemon, "verdict", "--window", "2 hours", "--database-url", db_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "READY" in text and "p99_response_time_ms" in text

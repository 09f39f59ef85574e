"""compute_baseline, every rule, run_auditor and migration_verdict stay finite and error-free
for every admitted value: response times 0 .. 86,400,000 ms, cache sizes up to bigint max,
rates of 0% and 100%, silence, a single event (hypothesis picks the minutes)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.auditor_traffic import Conn, recent_start, roll_up

BIGINT_MAX = 9_223_372_036_854_775_807
MINUTES = 70

# The latency domain of cache_metrics' CHECK: 0, or 1 ns (1e-6 ms) to one day.
latency = st.one_of(
    st.sampled_from([0.0, 86_400_000.0, 1e-6, 0.5]),
    st.floats(min_value=0, max_value=86_400_000, allow_nan=False, allow_infinity=False).filter(
        lambda ms: ms == 0 or ms >= 1e-6
    ),
)
event = st.tuples(
    st.sampled_from(["hit", "miss", "set", "evict", "error"]),
    st.one_of(st.none(), latency),
    st.one_of(st.none(), st.sampled_from([0, 1, BIGINT_MAX]), st.integers(0, BIGINT_MAX)),
)
minute = st.lists(event, min_size=0, max_size=6)


def _finite(value: Any) -> bool:
    return value is None or not isinstance(value, float) or math.isfinite(value)


@settings(max_examples=6)
@given(
    history=st.lists(minute, min_size=MINUTES, max_size=MINUTES),
    recent=st.lists(minute, min_size=6, max_size=6),
)
def test_everything_is_safe_at_the_edges(
    conn: Conn, history: list[list[tuple[str, float | None, int | None]]], recent: Any
) -> None:
    conn.execute("SET statement_timeout = '60s'")
    conn.execute(
        "TRUNCATE cachemon.cache_metrics, cachemon.cache_metrics_1min, cachemon._dirty_buckets,"
        " cachemon.cache_auditor_observations, cachemon._audit_state,"
        " cachemon.cache_baseline_metrics"
    )
    start = recent_start(MINUTES + 6)
    rows = []
    for i, events in enumerate(history + recent):
        for j, (kind, ms, size) in enumerate(events):
            # Both implementations get the same minute (legacy) or its mirror (new).
            for impl in ("legacy", "new"):
                rows.append((start + timedelta(minutes=i, seconds=j), impl, kind, ms, size))
    # One minute of each implementation always has data, so a baseline can be computed.
    rows.append((start, "legacy", "hit", 86_400_000.0, BIGINT_MAX))
    rows.append((start, "new", "miss", 0.0, 0))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO cachemon.cache_metrics (recorded_at, implementation_type, event_type,"
            " response_time_ms, cache_size) VALUES (%s, %s, %s, %s, %s)",
            rows,
        )
    end = start + timedelta(minutes=MINUTES + 6)
    roll_up(conn, end)
    conn.execute(
        "UPDATE cachemon._settings SET value = '1' WHERE name = 'baseline.min_sample_minutes'"
    )
    for impl in ("legacy", "new"):
        b = conn.execute(
            "SELECT statistics, hourly_profile FROM cachemon.compute_baseline(%s, '1 day', %s)",
            (impl, start + timedelta(minutes=MINUTES)),
        ).fetchone()
        assert b is not None
        assert "pooled" in b["statistics"]
    for k in range(1, 7):
        now = start + timedelta(minutes=MINUTES + k, seconds=5)
        run = conn.execute("SELECT * FROM cachemon.run_auditor(%s)", (now,)).fetchone()
        assert run is not None and run["skipped"] is None
    for f in conn.execute("SELECT * FROM cachemon.cache_auditor_observations").fetchall():
        assert all(_finite(f[c]) for c in ("observed_value", "baseline_value", "deviation_pct"))
    v = conn.execute(
        "SELECT * FROM cachemon.migration_verdict('new', 'legacy', '1 hour', %s)",
        (end + timedelta(seconds=5),),
    ).fetchone()
    assert v is not None
    assert v["verdict"] in ("ready", "marginal", "not_ready", "not_enough_data")
    assert v["score"] is None or 0 <= v["score"] <= 100
    assert len(v["metrics"]) == 6

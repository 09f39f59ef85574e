"""Edge rows, OpenTelemetry histograms and the scale-6 sketch, against the real database.

- the collector's index (Python) = cachemon.sketch_key (SQL) = the OpenTelemetry SDK's;
- any split of the same events between raw rows and edge rows gives the same minute row:
  counts and rates exactly, the same sketch, percentiles within the sketch's bound;
- an OpenTelemetry SDK's own exponential histogram output, ingested by ingest_otlp, merges
  exactly with cachemon's sketch of the same values;
- bad edge rows and data points are refused with an error naming the field, and nothing
  accepted stops a tick;
- the collector in aggregate mode stores each minute once.
"""

from __future__ import annotations

import itertools
import json
import math
import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from orchestrator.collector import Collector
from orchestrator.collector.edge import EdgeAggregator, otel_index
from orchestrator.collector.events import Event
from tests.rollup_helpers import Conn, tick_until_idle

_names = itertools.count()
BOUND = (2 ** (1 / 64) - 1) / (2 ** (1 / 64) + 1)  # 0.54%: the sketch's relative error


def _one(conn: Conn, query: str, *params: Any) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return next(iter(row.values()))


def _minute(conn: Conn, minutes_ago: int = 3) -> float:
    """Epoch seconds of the start of a minute a few minutes before the database's now."""
    return float(
        _one(
            conn,
            "SELECT extract(epoch FROM date_trunc('minute', now()) - make_interval(mins => %s))",
            minutes_ago,
        )
    )


latency = st.one_of(
    st.just(0.0),
    st.floats(min_value=1e-6, max_value=86_400_000.0),
    st.floats(min_value=0.05, max_value=400.0),
    st.sampled_from([0.5, 1.0, 2.0, 4.0, 1024.0, 2.0**-19]),  # powers of two: exact boundaries
)


@settings(max_examples=300, deadline=None)
@given(value=latency.filter(lambda v: v > 0))
def test_collector_index_is_sketch_key_and_the_sdk_index(conn: Conn, value: float) -> None:
    from opentelemetry.sdk.metrics._internal.exponential_histogram.mapping.logarithm_mapping import (  # noqa: E501
        LogarithmMapping,
    )

    sql_key = _one(conn, "SELECT cachemon.sketch_key(%s::double precision)", value)
    assert otel_index(value) == sql_key == LogarithmMapping(6).map_to_index(value)
    # The bucket convention: (2^(k/64), 2^((k+1)/64)], upper bound inclusive.
    assert 2 ** (sql_key / 64) < value * (1 + 1e-12)
    assert value <= 2 ** ((sql_key + 1) / 64) * (1 + 1e-12)


def test_zero_and_negative_latencies(conn: Conn) -> None:
    """Zeros are counted apart (OTLP's zero_count, threshold 0), negatives are refused."""
    sketch = conn.execute(
        "SELECT (s).zero_count AS z, (s).keys AS k, (s).counts AS c"
        "  FROM (SELECT cachemon.sketch_from_values('{0,0,2,3}') AS s) AS x"
    ).fetchone()
    assert sketch == {"z": 2, "k": [63, 101], "c": [1, 1]}
    assert _one(conn, "SELECT cachemon.sketch_quantile(cachemon.sketch_from_values('{0,0,5}'), 0.5)") == 0
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="value=-1"):
        conn.execute("SELECT cachemon.sketch_key(-1)")
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO cachemon.cache_metrics (recorded_at, implementation_type, event_type,"
            " response_time_ms) VALUES (now(), 'x', 'hit', -1)"
        )


@settings(max_examples=40, deadline=None)
@given(values=st.lists(latency, min_size=1, max_size=200), q=st.floats(0.0, 1.0))
def test_legacy_sketches_convert_within_the_stated_bound(
    conn: Conn, values: list[float], q: float
) -> None:
    """A sketch of the earlier mapping (keys ceil(ln x / ln gamma)), converted, answers
    quantiles within 1.5% of percentile_disc (0.9% of the old key, 0.55% of the new one)."""
    row = conn.execute(
        "WITH v AS (SELECT unnest(%(v)s::double precision[]) AS x),"
        " legacy AS (SELECT ROW(count(*) FILTER (WHERE x = 0),"
        "   coalesce((SELECT array_agg(k ORDER BY k) FROM (SELECT ceil(ln(x) / cachemon._sketch_ln_gamma())::int AS k"
        "     FROM v WHERE x > 0 GROUP BY 1) a), '{}'),"
        "   coalesce((SELECT array_agg(n ORDER BY k) FROM (SELECT ceil(ln(x) / cachemon._sketch_ln_gamma())::int AS k, count(*) AS n"
        "     FROM v WHERE x > 0 GROUP BY 1) b), '{}'))::cachemon.ddsketch AS s FROM v)"
        " SELECT cachemon.sketch_quantile(cachemon._sketch_from_legacy(s), %(q)s) AS est,"
        "        (SELECT percentile_disc(%(q)s) WITHIN GROUP (ORDER BY x) FROM v) AS exact"
        "   FROM legacy",
        {"v": values, "q": q},
    ).fetchone()
    assert row is not None
    if row["exact"] == 0:
        assert row["est"] == 0
    else:
        assert abs(row["est"] - row["exact"]) <= 0.015 * row["exact"]


# -- the split property -------------------------------------------------------------------

event_st = st.tuples(
    st.integers(0, 1),  # minute (0 or 1 of two consecutive minutes)
    st.sampled_from(["hit", "miss", "set", "evict", "error"]),
    st.one_of(st.none(), latency),
    st.one_of(st.none(), st.integers(0, 10**12)),
    st.booleans(),  # True: this event goes raw, False: through an edge row
    st.integers(0, 2),  # which of three source processes aggregates it
)


def _edge_rows(events: list[Event], source: str) -> list[dict[str, Any]]:
    agg = EdgeAggregator(source)
    for e in events:
        agg.add(e)
    return [row for row, _ in agg.take(None)]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=st.lists(event_st, min_size=1, max_size=120))
def test_any_split_between_raw_and_edge_rows_gives_the_same_minutes(
    conn: Conn, events: list[tuple[int, str, float | None, int | None, bool, int]]
) -> None:
    impl = f"split-{next(_names)}"
    base = _minute(conn, 5)
    raw: list[dict[str, Any]] = []
    edge_events: dict[int, list[Event]] = {0: [], 1: [], 2: []}
    every: list[tuple[float, str, float | None, int | None]] = []
    for i, (minute, et, rt, size, as_raw, src) in enumerate(events):
        at = base + 60 * minute + (i % 600) / 10.0
        every.append((at, et, rt, size))
        if as_raw:
            raw.append(
                {
                    "recorded_at": f"{at}",
                    "implementation_type": impl,
                    "event_type": et,
                    "response_time_ms": rt,
                    "cache_size": size,
                    **({"error_type": "Boom"} if et == "error" else {}),
                }
            )
        else:
            edge_events[src].append(
                (at, et, impl, None, rt, size, "Boom" if et == "error" else None, "m")
            )
    for r in raw:
        r["recorded_at"] = _one(
            conn, "SELECT to_char(to_timestamp(%s::float8) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')", r["recorded_at"]
        )
    if raw:
        conn.execute("SELECT cachemon.ingest_events(%s::jsonb)", (json.dumps(raw),))
    for src, evs in edge_events.items():
        rows = _edge_rows(evs, f"proc-{src}")
        if rows:
            conn.execute("SELECT cachemon.ingest_edge(%s::jsonb)", (json.dumps(rows),))
    tick_until_idle(conn)

    for minute in (0, 1):
        mine = [e for e in every if int((e[0] - base) // 60) == minute]
        has_edge = any(
            not as_raw and m == minute and rt is not None for m, _, rt, _, as_raw, _ in events
        )
        row = conn.execute(
            "SELECT m.*, (SELECT cachemon.sketch_from_values(%(v)s::double precision[])) AS whole,"
            " (SELECT percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY x)"
            "    FROM unnest(%(v)s::double precision[]) AS x) AS disc,"
            " (SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY x)"
            "    FROM unnest(%(v)s::double precision[]) AS x) AS cont"
            "  FROM cachemon.cache_metrics_1min AS m"
            " WHERE m.implementation_type = %(impl)s AND m.bucket = to_timestamp(%(at)s::float8)",
            {"v": [e[2] for e in mine], "impl": impl, "at": base + 60 * minute},
        ).fetchone()
        if not mine:
            assert row is None
            continue
        assert row is not None
        counts = {et: sum(1 for e in mine if e[1] == et) for et in ("hit", "miss", "set", "evict", "error")}
        assert (row["hits"], row["misses"], row["sets"], row["evictions"], row["errors"]) == (
            counts["hit"], counts["miss"], counts["set"], counts["evict"], counts["error"]
        )
        assert row["total_events"] == len(mine)
        lookups = counts["hit"] + counts["miss"]
        assert row["hit_rate"] == (None if lookups == 0 else _one(
            conn, "SELECT 100::numeric * %s / %s", counts["hit"], lookups))
        lat = [e[2] for e in mine if e[2] is not None]
        sizes = [e[3] for e in mine if e[3] is not None]
        assert row["latency_count"] == len(lat)
        assert math.isclose(row["latency_sum"], math.fsum(lat), rel_tol=1e-9, abs_tol=1e-9)
        assert row["max_response_time_ms"] == (max(lat) if lat else None)
        assert row["cache_size_count"] == len(sizes) and row["cache_size_sum"] == sum(sizes)
        assert row["max_cache_size"] == (max(sizes) if sizes else None)
        assert row["latency_sketch"] == row["whole"]  # the same sketch, whatever the split
        if not lat:
            assert row["percentiles_exact"] is None and row["p95_response_time_ms"] is None
        elif has_edge:
            assert row["percentiles_exact"] is False
            for est, exact in zip(
                (row["p50_response_time_ms"], row["p95_response_time_ms"], row["p99_response_time_ms"]),
                row["disc"],
                strict=True,
            ):
                assert abs(est - exact) <= (BOUND + 1e-9) * exact
        else:
            assert row["percentiles_exact"] is True
            assert [
                row["p50_response_time_ms"], row["p95_response_time_ms"], row["p99_response_time_ms"]
            ] == row["cont"]

"""Property-based tests of the latency sketch SQL API against the real database."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.rollup_helpers import Conn

latency = st.one_of(
    st.just(0.0),
    st.floats(min_value=1e-6, max_value=1e7, allow_nan=False, allow_infinity=False),
    st.floats(min_value=0.1, max_value=500.0),
)
latencies = st.lists(latency, min_size=1, max_size=300)


def _one(conn: Conn, sql: str, *params: Any) -> Any:
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return next(iter(row.values()))


@settings(max_examples=60)
@given(values=latencies, cuts=st.lists(st.integers(0, 300), max_size=4))
def test_merge_of_parts_equals_sketch_of_whole(
    conn: Conn, values: list[float], cuts: list[int]
) -> None:
    bounds = sorted({0, len(values), *(c % (len(values) + 1) for c in cuts)})
    parts = [values[a:b] for a, b in itertools.pairwise(bounds)]
    row = conn.execute(
        "SELECT (SELECT cachemon.sketch_merge(cachemon.sketch_from_values(s.p))"
        "          FROM unnest(%s::text[]) AS t(j),"
        "               LATERAL (SELECT array_agg(x::double precision) AS p"
        "                          FROM jsonb_array_elements_text(j::jsonb) AS x) AS s)"
        "          AS merged,"
        "       cachemon.sketch_from_values(%s::double precision[]) AS whole",
        ([json.dumps(p) for p in parts], values),
    ).fetchone()
    assert row is not None and row["whole"] is not None
    assert row["merged"] == row["whole"]


@settings(max_examples=80)
@given(values=latencies, q=st.floats(min_value=0.0, max_value=1.0))
def test_quantiles_within_one_percent_of_percentile_disc(
    conn: Conn, values: list[float], q: float
) -> None:
    row = conn.execute(
        "SELECT cachemon.sketch_quantile(cachemon.sketch_from_values(%(v)s::double precision[]),"
        " %(q)s) AS est,"
        " (SELECT percentile_disc(%(q)s) WITHIN GROUP (ORDER BY x)"
        "    FROM unnest(%(v)s::double precision[]) AS x) AS exact",
        {"v": values, "q": q},
    ).fetchone()
    assert row is not None
    est, exact = row["est"], row["exact"]
    if exact == 0:
        assert est == 0
    else:
        assert abs(est - exact) <= 0.01 * exact


def test_sketch_layout_and_edges(conn: Conn) -> None:
    sketch = _one(conn, "SELECT cachemon.sketch_from_values('{0,0,1,1,2,NULL}') AS s")
    assert sketch is not None
    assert _one(conn, "SELECT cachemon.sketch_from_values('{}') AS s") is None
    assert _one(conn, "SELECT cachemon.sketch_from_values('{NULL}') AS s") is None
    assert _one(conn, "SELECT cachemon.sketch_quantile(NULL, 0.5) AS q") is None
    assert (
        _one(
            conn,
            "SELECT cachemon.sketch_quantile(cachemon.sketch_from_values('{0,0,5}'), 0.5) AS q",
        )
        == 0
    )
    assert _one(conn, "SELECT cachemon.sketch_key(0) AS k") is None
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=r"quantile=1\.5"):
        conn.execute("SELECT cachemon.sketch_quantile(cachemon.sketch_from_values('{1}'), 1.5)")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="value=-1"):
        conn.execute("SELECT cachemon.sketch_key(-1)")


_example = itertools.count()


@settings(max_examples=25)
@given(
    values=st.lists(
        st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=86_400_000.0)),
        min_size=1,
        max_size=50,
    )
)
def test_tick_keys_equal_sketch_key(conn: Conn, values: list[float]) -> None:
    """tick() writes the key expression inline; the keys it stores in a minute's sketch must
    be cachemon.sketch_key of that minute's raw latencies, counted (zeros apart)."""
    impl = f"sketch-{next(_example)}"
    minute = _one(conn, "SELECT date_trunc('minute', now()) - interval '5 minutes' AS m")
    events = [
        {
            "recorded_at": (minute + timedelta(milliseconds=i)).isoformat(),
            "implementation_type": impl,
            "event_type": "hit",
            "response_time_ms": v,
        }
        for i, v in enumerate(values)
    ]
    conn.execute("SELECT cachemon.ingest_events(%s::jsonb)", (json.dumps(events),))
    while _one(conn, "SELECT buckets_left FROM cachemon.tick()"):
        pass
    row = conn.execute(
        "SELECT (latency_sketch).zero_count AS zeros, (latency_sketch).keys AS keys,"
        " (latency_sketch).counts AS counts FROM cachemon.cache_metrics_1min"
        " WHERE implementation_type = %s",
        (impl,),
    ).fetchone()
    assert row is not None
    expected = Counter(
        _one(conn, "SELECT cachemon.sketch_key(%s::double precision) AS k", v)
        for v in values
        if v > 0
    )
    assert row["zeros"] == sum(1 for v in values if v == 0)
    assert dict(zip(row["keys"], row["counts"], strict=True)) == dict(expected)

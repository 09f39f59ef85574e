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
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.rows import dict_row

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


def test_edge_index_bounds_are_the_keys_of_the_latency_domain(conn: Conn) -> None:
    src = _one(conn, "SELECT prosrc FROM pg_proc WHERE oid = 'cachemon._edge_check'::regproc")
    lo = _one(conn, "SELECT cachemon.sketch_key(0.000001)")
    hi = _one(conn, "SELECT cachemon.sketch_key(86400000)")
    assert f"CONSTANT integer := {lo};" in src and f"CONSTANT integer := {hi};" in src


def test_zero_and_negative_latencies(conn: Conn) -> None:
    """Zeros are counted apart (OTLP's zero_count, threshold 0), negatives are refused."""
    sketch = conn.execute(
        "SELECT (s).zero_count AS z, (s).keys AS k, (s).counts AS c"
        "  FROM (SELECT cachemon.sketch_from_values('{0,0,2,3}') AS s) AS x"
    ).fetchone()
    assert sketch == {"z": 2, "k": [63, 101], "c": [1, 1]}
    assert (
        _one(conn, "SELECT cachemon.sketch_quantile(cachemon.sketch_from_values('{0,0,5}'), 0.5)")
        == 0
    )
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
        "   coalesce((SELECT array_agg(k ORDER BY k) FROM (SELECT"
        "     ceil(ln(x) / cachemon._sketch_ln_gamma())::int AS k"
        "     FROM v WHERE x > 0 GROUP BY 1) a), '{}'),"
        "   coalesce((SELECT array_agg(n ORDER BY k) FROM (SELECT"
        "     ceil(ln(x) / cachemon._sketch_ln_gamma())::int AS k, count(*) AS n"
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
            conn,
            "SELECT to_char(to_timestamp(%s::float8) AT TIME ZONE 'UTC',"
            ' \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\')',
            r["recorded_at"],
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
        counts = {
            et: sum(1 for e in mine if e[1] == et)
            for et in ("hit", "miss", "set", "evict", "error")
        }
        assert (row["hits"], row["misses"], row["sets"], row["evictions"], row["errors"]) == (
            counts["hit"],
            counts["miss"],
            counts["set"],
            counts["evict"],
            counts["error"],
        )
        assert row["total_events"] == len(mine)
        lookups = counts["hit"] + counts["miss"]
        assert row["hit_rate"] == (
            None
            if lookups == 0
            else _one(conn, "SELECT 100::numeric * %s / %s", counts["hit"], lookups)
        )
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
                (
                    row["p50_response_time_ms"],
                    row["p95_response_time_ms"],
                    row["p99_response_time_ms"],
                ),
                row["disc"],
                strict=True,
            ):
                assert abs(est - exact) <= (BOUND + 1e-9) * exact
        else:
            assert row["percentiles_exact"] is True
            assert [
                row["p50_response_time_ms"],
                row["p95_response_time_ms"],
                row["p99_response_time_ms"],
            ] == row["cont"]


# -- OpenTelemetry --------------------------------------------------------------------------


def _sdk_export(values: list[float], attributes: dict[str, str]) -> dict[str, Any]:
    """What the OpenTelemetry SDK itself exports for these values: an exponential histogram
    at scale 6 (max_scale=6), delta temporality, as its own JSON (MetricsData.to_json)."""
    from opentelemetry.sdk.metrics import Histogram, MeterProvider
    from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
    from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
    from opentelemetry.sdk.resources import Resource

    reader = InMemoryMetricReader(preferred_temporality={Histogram: AggregationTemporality.DELTA})
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource.create({"service.instance.id": "sdk-test"}),
        views=[
            View(
                instrument_name="cache.latency",
                aggregation=ExponentialBucketHistogramAggregation(max_size=4096, max_scale=6),
            )
        ],
    )
    hist = provider.get_meter("cachemon-test").create_histogram("cache.latency", unit="ms")
    for v in values:
        hist.record(v, attributes)
    data = reader.get_metrics_data()
    provider.shutdown()
    assert data is not None
    exported: dict[str, Any] = json.loads(data.to_json())
    return exported


def _otlp_json(sdk: dict[str, Any]) -> dict[str, Any]:
    """The same data point in OTLP's protobuf JSON form (lowerCamelCase, 64-bit integers as
    strings, attributes as key/value lists), as an OTLP/HTTP JSON exporter sends it."""
    point = sdk["resource_metrics"][0]["scope_metrics"][0]["metrics"][0]["data"]["data_points"][0]
    kv = [{"key": k, "value": {"stringValue": v}} for k, v in point["attributes"].items()]
    return {
        "resourceMetrics": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.instance.id", "value": {"stringValue": "otlp-json"}}
                    ]
                },
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "cache.latency",
                                "exponentialHistogram": {
                                    "aggregationTemporality": "AGGREGATION_TEMPORALITY_DELTA",
                                    "dataPoints": [
                                        {
                                            "attributes": kv,
                                            "startTimeUnixNano": str(point["start_time_unix_nano"]),
                                            "timeUnixNano": str(point["time_unix_nano"]),
                                            "count": str(point["count"]),
                                            "sum": point["sum"],
                                            "scale": point["scale"],
                                            "zeroCount": str(point["zero_count"]),
                                            "positive": {
                                                "offset": point["positive"]["offset"],
                                                "bucketCounts": [
                                                    str(c)
                                                    for c in point["positive"]["bucket_counts"]
                                                ],
                                            },
                                            "negative": {"offset": 0, "bucketCounts": []},
                                            "min": point["min"],
                                            "max": point["max"],
                                        }
                                    ],
                                },
                            }
                        ]
                    }
                ],
            }
        ]
    }


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    values=st.lists(
        st.one_of(st.just(0.0), st.floats(min_value=0.01, max_value=60_000.0)),
        min_size=1,
        max_size=200,
    ),
    raw_share=st.integers(0, 3),
)
def test_opentelemetry_sdk_output_merges_exactly(
    conn: Conn, values: list[float], raw_share: int
) -> None:
    """The SDK's own histogram (scale 6) of some values, ingested by ingest_otlp, plus the
    rest of the values as raw events: the minute's sketch equals cachemon's sketch of all
    values, bucket for bucket, and its p95 is within the sketch's bound."""
    impl = f"otel-{next(_names)}"
    cut = len(values) * raw_share // 4
    raw, otel = values[:cut], values[cut:]
    sdk = _sdk_export(otel, {"implementation_type": impl, "event_type": "miss"})
    point = sdk["resource_metrics"][0]["scope_metrics"][0]["metrics"][0]["data"]["data_points"][0]
    # scale 6 (max_scale=6); a point of zeros only has no buckets and reports scale 0
    assert point["scale"] == (6 if any(otel) else 0)
    minute = _one(
        conn,
        "SELECT date_bin('1 minute', to_timestamp((%s::numeric - 1) / 1e9), '2000-01-01')",
        point["time_unix_nano"],
    )
    assert _one(conn, "SELECT cachemon.ingest_otlp(%s::jsonb)", json.dumps(sdk)) == 1
    if raw:
        events = [
            {
                "recorded_at": minute.isoformat(),
                "implementation_type": impl,
                "event_type": "hit",
                "response_time_ms": v,
            }
            for v in raw
        ]
        conn.execute("SELECT cachemon.ingest_events(%s::jsonb)", (json.dumps(events),))
    tick_until_idle(conn)
    row = conn.execute(
        "SELECT m.latency_sketch = cachemon.sketch_from_values(%(v)s::double precision[]) AS same,"
        " m.misses, m.hits, m.latency_count, m.percentiles_exact, m.p95_response_time_ms AS p95,"
        " (SELECT percentile_disc(0.95) WITHIN GROUP (ORDER BY x)"
        "    FROM unnest(%(v)s::double precision[]) x) AS exact"
        " FROM cachemon.cache_metrics_1min AS m WHERE m.implementation_type = %(impl)s",
        {"v": values, "impl": impl},
    ).fetchone()
    assert row is not None
    assert row["same"] is True
    assert (row["misses"], row["hits"], row["latency_count"]) == (len(otel), len(raw), len(values))
    assert row["percentiles_exact"] is False
    assert abs(row["p95"] - row["exact"]) <= (BOUND + 1e-9) * row["exact"]


def test_otlp_protobuf_json_form_and_finer_scales(conn: Conn) -> None:
    """The protobuf JSON form (camelCase, string integers, key/value attributes) is read the
    same way; a scale-8 point is downscaled exactly (index >> 2) to the scale-6 sketch."""
    impl = f"otlp-{next(_names)}"
    values = [0.3, 1.0, 2.5, 2.5, 17.0, 250.0, 0.0]
    sdk = _sdk_export(values, {"implementation_type": impl})
    assert _one(conn, "SELECT cachemon.ingest_otlp(%s::jsonb)", json.dumps(_otlp_json(sdk))) == 1
    tick_until_idle(conn)
    assert _one(
        conn,
        "SELECT latency_sketch = cachemon.sketch_from_values(%s::double precision[])"
        " FROM cachemon.cache_metrics_1min WHERE implementation_type = %s",
        values,
        impl,
    )
    assert (
        _one(
            conn,
            "SELECT source FROM cachemon.cache_metrics_edge WHERE implementation_type = %s",
            impl,
        )
        == "otlp-json"
    )

    fine = f"otlp-fine-{next(_names)}"
    positive = [v for v in values if v > 0]
    from opentelemetry.sdk.metrics._internal.exponential_histogram.mapping.logarithm_mapping import (  # noqa: E501
        LogarithmMapping,
    )

    idx8 = [LogarithmMapping(8).map_to_index(v) for v in positive]
    lo = min(idx8)
    counts = [0] * (max(idx8) - lo + 1)
    for i in idx8:
        counts[i - lo] += 1
    now_ns = int(
        _one(conn, "SELECT extract(epoch FROM now() - interval '2 minutes')::numeric * 1e9")
    )
    point = {
        "attributes": {"implementation_type": fine},
        "timeUnixNano": str(now_ns),
        "count": len(values),
        "sum": sum(values),
        "min": 0.0,
        "max": max(values),
        "scale": 8,
        "zeroCount": 1,
        "positive": {"offset": lo, "bucketCounts": counts},
    }
    assert _one(conn, "SELECT cachemon.ingest_otlp(%s::jsonb)", json.dumps([point])) == 1
    tick_until_idle(conn)
    assert _one(
        conn,
        "SELECT latency_sketch = cachemon.sketch_from_values(%s::double precision[])"
        " FROM cachemon.cache_metrics_1min WHERE implementation_type = %s",
        values,
        fine,
    )


# -- refusals -------------------------------------------------------------------------------


def _good_row(conn: Conn, impl: str, **changes: Any) -> dict[str, Any]:
    bucket = _one(conn, "SELECT date_trunc('minute', now()) - interval '2 minutes'")
    row: dict[str, Any] = {
        "bucket": bucket.isoformat(),
        "implementation_type": impl,
        "event_type": "hit",
        "source": "proc-1",
        "event_count": 3,
        "latency_count": 3,
        "latency_sum": 6.5,
        "latency_min": 1.5,
        "latency_max": 3.0,
        "zero_count": 0,
        "scale": 6,
        "bucket_offset": otel_index(1.5),
        "bucket_counts": [1]
        + [0] * (otel_index(2.0) - otel_index(1.5) - 1)
        + [1]
        + [0] * (otel_index(3.0) - otel_index(2.0) - 1)
        + [1],
    }
    row.update(changes)
    return row


BAD_ROWS = [
    ({"event_count": -1}, "event_count"),
    ({"event_count": 10**10, "latency_count": 3}, "event_count"),
    ({"latency_sum": 1e300}, "latency_sum"),
    ({"latency_sum": 1.0}, "latency_sum"),
    ({"latency_count": 5}, "latency_count"),
    ({"bucket_counts": [1, 1]}, "bucket_counts"),
    ({"bucket_counts": [5, -2]}, "bucket_counts"),
    ({"bucket_offset": 5000}, "bucket_offset"),
    ({"bucket_offset": -5000}, "bucket_offset"),
    ({"scale": 5}, "scale"),
    ({"latency_max": float("nan")}, "latency_max"),
    ({"bucket": "2020-01-01T00:00:30Z"}, "bucket"),
    ({"event_type": "error"}, "error_types"),
    (
        {"event_type": "error", "error_types": ["E"], "error_counts": [2], "error_samples": ["m"]},
        "error_counts",
    ),
    ({"cache_size_count": 1}, "cache_size_min"),
]


@pytest.mark.parametrize(("change", "field"), BAD_ROWS)
def test_bad_edge_rows_are_refused_naming_the_field(
    conn: Conn, db_url: str, change: dict[str, Any], field: str
) -> None:
    impl = f"bad-{next(_names)}"
    if field == "latency_max":
        row = _good_row(conn, impl, **change)
        text = json.dumps([row]).replace("NaN", '"NaN"')
        with pytest.raises(psycopg.errors.InvalidParameterValue, match='"latency_max"'):
            conn.execute("SELECT cachemon.ingest_edge(%s::jsonb)", (text,))
        # written as a number by a hostile writer through INSERT: the trigger names it too
        with pytest.raises(psycopg.errors.InvalidParameterValue, match='"latency_max"'):
            conn.execute(
                "INSERT INTO cachemon.cache_metrics_edge (bucket, implementation_type, event_type,"
                " source, event_count, latency_count, latency_sum, latency_min, latency_max)"
                " VALUES (date_trunc('minute', now()), %s, 'hit', 'p', 1, 1, 1, 1, 'NaN')",
                (impl,),
            )
    else:
        with pytest.raises(psycopg.errors.InvalidParameterValue, match=f'"{field}"'):
            conn.execute(
                "SELECT cachemon.ingest_edge(%s::jsonb)",
                (json.dumps([_good_row(conn, impl, **change)]),),
            )
    assert _one(conn, "SELECT count(*) FROM cachemon.cache_metrics_edge") == 0
    assert _one(conn, "SELECT count(*) FROM cachemon._dirty_buckets") == 0


def test_scale_change_and_replayed_batch_are_refused_and_ticks_go_on(conn: Conn) -> None:
    impl = f"replay-{next(_names)}"
    good = _good_row(conn, impl)
    batch = uuid.uuid4()
    assert _one(conn, "SELECT cachemon.ingest_edge(%s::jsonb, %s)", json.dumps([good]), batch) == 1
    # the same batch again (a retry after a lost reply): counted once
    assert _one(conn, "SELECT cachemon.ingest_edge(%s::jsonb, %s)", json.dumps([good]), batch) == 0
    # the same batch id with other content
    other = dict(good, event_count=4)
    with pytest.raises(psycopg.errors.UniqueViolation, match='"batch_id"'):
        conn.execute("SELECT cachemon.ingest_edge(%s::jsonb, %s)", (json.dumps([other]), batch))
    # a scale change inside one minute of one source and key (scale 7: indexes doubled)
    finer = dict(
        good,
        scale=7,
        bucket_offset=good["bucket_offset"] * 2,
        bucket_counts=[c for c in good["bucket_counts"] for c in (c, 0)][:-1],
    )
    with pytest.raises(
        psycopg.errors.InvalidParameterValue,
        match=r'field "scale" changes inside one minute: \{6,7\}',
    ):
        conn.execute("SELECT cachemon.ingest_edge(%s::jsonb)", (json.dumps([finer]),))
    # two scales inside one statement
    with pytest.raises(psycopg.errors.InvalidParameterValue, match='"scale" changes'):
        conn.execute(
            "SELECT cachemon.ingest_edge(%s::jsonb)",
            (json.dumps([dict(finer, source="p2"), dict(good, source="p2")]),),
        )
    # another source may use another scale in the same minute
    assert (
        _one(conn, "SELECT cachemon.ingest_edge(%s::jsonb)", json.dumps([dict(finer, source="p3")]))
        == 1
    )
    result = conn.execute("SELECT status, buckets_failed FROM cachemon.tick()").fetchone()
    assert result == {"status": "done", "buckets_failed": 0}
    row = conn.execute(
        "SELECT hits, latency_count, percentiles_exact FROM cachemon.cache_metrics_1min"
        " WHERE implementation_type = %s",
        (impl,),
    ).fetchone()
    assert row == {"hits": 6, "latency_count": 6, "percentiles_exact": False}


OTLP_BAD = [
    ({"scale": 5}, '"scale"'),
    ({"negative": {"offset": 0, "bucketCounts": ["1"]}}, '"negative.bucketCounts"'),
    ({"zeroThreshold": 0.001}, '"zeroThreshold"'),
    ({"count": "x"}, '"count"'),
    ({"attributes": {}}, '"implementation_type"'),
    ({"max": None}, '"max"'),
]


@pytest.mark.parametrize(("change", "field"), OTLP_BAD)
def test_bad_otlp_points_are_refused_naming_the_field(
    conn: Conn, change: dict[str, Any], field: str
) -> None:
    now_ns = int(_one(conn, "SELECT extract(epoch FROM now())::numeric * 1e9"))
    point: dict[str, Any] = {
        "attributes": {"implementation_type": "new"},
        "timeUnixNano": str(now_ns),
        "count": "2",
        "sum": 3.0,
        "min": 1.0,
        "max": 2.0,
        "scale": 6,
        "zeroCount": "0",
        "positive": {"offset": 63, "bucketCounts": ["1", "0"] + ["0"] * 62 + ["1"]},
    }
    point.update(change)
    point = {k: v for k, v in point.items() if v is not None}
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=field):
        conn.execute("SELECT cachemon.ingest_otlp(%s::jsonb)", (json.dumps(point),))
    cumulative = {
        "resourceMetrics": [
            {
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "l",
                                "exponentialHistogram": {
                                    "aggregationTemporality": 2,
                                    "dataPoints": [point],
                                },
                            }
                        ]
                    }
                ]
            }
        ]
    }
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="aggregationTemporality"):
        conn.execute("SELECT cachemon.ingest_otlp(%s::jsonb)", (json.dumps(cumulative),))
    assert _one(conn, "SELECT count(*) FROM cachemon.cache_metrics_edge") == 0


def test_writer_may_only_insert_edge_rows_and_no_one_runs_the_triggers(conn: Conn) -> None:
    writer = f"w_{uuid.uuid4().hex[:8]}"
    conn.execute(
        sql.SQL("CREATE ROLE {} LOGIN IN ROLE cachemon_writer").format(sql.Identifier(writer))
    )
    impl = f"roles-{next(_names)}"
    row = _good_row(conn, impl)
    try:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(writer)))
        assert _one(conn, "SELECT cachemon.ingest_edge(%s::jsonb)", json.dumps([row])) == 1
        with pytest.raises(psycopg.errors.InvalidParameterValue, match='"event_count"'):
            conn.execute(
                "INSERT INTO cachemon.cache_metrics_edge (bucket, implementation_type, event_type,"
                " source, event_count) VALUES (date_trunc('minute', now()), %s, 'hit', 'p', -5)",
                (impl,),
            )
        for forbidden in (
            "SELECT * FROM cachemon.cache_metrics_edge",
            "DELETE FROM cachemon.cache_metrics_edge",
            "SELECT cachemon._mark_edge_buckets()",
            "SELECT cachemon._edge_check()",
            "INSERT INTO cachemon._dirty_buckets (bucket, implementation_type) VALUES (now(), 'x')",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(forbidden)
    finally:
        conn.execute("RESET ROLE")
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(writer)))
    # a trigger function attached to another table by its owner refuses to run
    conn.execute("CREATE TABLE public.decoy (LIKE cachemon.cache_metrics_edge)")
    conn.execute(
        "CREATE TRIGGER decoy_mark AFTER INSERT ON public.decoy"
        " REFERENCING NEW TABLE AS edge_new_rows"
        " FOR EACH STATEMENT EXECUTE FUNCTION cachemon._mark_edge_buckets()"
    )
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="refuses to run"):
        conn.execute("INSERT INTO public.decoy SELECT * FROM cachemon.cache_metrics_edge")
    tick_until_idle(conn)
    assert (
        _one(
            conn,
            "SELECT hits FROM cachemon.cache_metrics_1min WHERE implementation_type = %s",
            impl,
        )
        == 3
    )


# -- the collector in aggregate mode ------------------------------------------------------


def test_collector_aggregate_mode_stores_each_minute_once(conn: Conn, db_url: str) -> None:
    impl = f"agg-{next(_names)}"
    base = _minute(conn, 4)
    c = Collector(db_url, mode="aggregate", flush_interval=0.2, edge_source="host-a:1").start()
    values = [0.0, 0.7, 1.0, 3.3, 12.5, 12.5, 80.0]
    try:
        for i, v in enumerate(values):
            c.record("hit" if i % 2 else "miss", f"k{i}", impl, v, 100 + i, recorded_at=base + i)
            c.record(
                "error", f"k{i}", impl, None, None, "Timeout", "slow", recorded_at=base + 61 + i
            )
        assert c.flush(timeout=30)
    finally:
        assert c.stop()
    stats = c.stats()
    assert stats.sent == stats.collected == 2 * len(values) and stats.dropped == 0
    rows = conn.execute(
        "SELECT bucket, event_type, event_count, error_types, error_counts, error_samples, batch_id"
        "  FROM cachemon.cache_metrics_edge WHERE implementation_type = %s ORDER BY 1, 2",
        (impl,),
    ).fetchall()
    assert [(r["event_type"], r["event_count"]) for r in rows] == [
        ("hit", 3),
        ("miss", 4),
        ("error", 7),
    ]
    assert rows[2]["error_types"] == ["Timeout"] and rows[2]["error_counts"] == [7]
    assert rows[2]["error_samples"] == ["slow"]
    # a retry of a stored batch (its acknowledgement lost) stores nothing more
    batch = rows[0]["batch_id"]
    assert (
        _one(conn, "SELECT source FROM cachemon._ingested_batches WHERE batch_id = %s", batch)
        == "ingest_edge"
    )
    tick_until_idle(conn)
    minute = conn.execute(
        "SELECT hits, misses, errors,"
        " latency_sketch = cachemon.sketch_from_values(%s::double precision[]) AS same"
        "  FROM cachemon.cache_metrics_1min"
        " WHERE implementation_type = %s AND bucket = to_timestamp(%s::float8)",
        (values, impl, base),
    ).fetchone()
    assert minute == {"hits": 3, "misses": 4, "errors": 0, "same": True}


def test_collector_aggregate_retry_with_the_same_batch_id_counts_once(
    conn: Conn, db_url: str
) -> None:
    """The writer's exactly-once: the batch id commits with the rows, a retry is a duplicate."""
    from orchestrator.collector.sink import BatchWriter

    impl = f"once-{next(_names)}"
    agg = EdgeAggregator("host-b:2")
    base = _minute(conn, 3)
    for i in range(5):
        agg.add((base + i, "hit", impl, None, 1.0 + i, None, None, None))
    rows = [r for r, _ in agg.take(None)]
    writer = BatchWriter(db_url)
    batch = uuid.uuid4()
    try:
        assert writer.write_edge(batch, rows) == "stored"
        assert writer.write_edge(batch, rows) == "duplicate"
    finally:
        writer.close()
    assert (
        _one(
            conn,
            "SELECT sum(event_count) FROM cachemon.cache_metrics_edge"
            " WHERE implementation_type = %s",
            impl,
        )
        == 5
    )


def test_collector_sample_keeps_errors_and_a_share_raw(conn: Conn, db_url: str) -> None:
    impl = f"sample-{next(_names)}"
    base = _minute(conn, 4)
    c = Collector(db_url, mode="aggregate", sample_rate=0.5, flush_interval=0.2).start()
    try:
        for i in range(200):
            c.record("hit", "k", impl, 1.0 + i % 7, recorded_at=base + i * 0.1)
        for i in range(5):
            c.record("error", "k", impl, None, None, "Boom", "m", recorded_at=base + 30 + i)
    finally:
        assert c.stop()
    raw = conn.execute(
        "SELECT count(*) FILTER (WHERE event_type = 'error') AS errors, count(*) AS n"
        "  FROM cachemon.cache_metrics WHERE implementation_type = %s",
        (impl,),
    ).fetchone()
    assert raw is not None and raw["errors"] == 5 and 5 < raw["n"] < 205
    tick_until_idle(conn)
    assert conn.execute(
        "SELECT hits, errors FROM cachemon.cache_metrics_1min WHERE implementation_type = %s",
        (impl,),
    ).fetchone() == {"hits": 200, "errors": 5}


def test_mode_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="mode"):
        Collector("postgresql://127.0.0.1:1/x", mode="bulk")
    monkeypatch.setenv("CACHE_METRICS_MODE", "aggregate")
    assert Collector("postgresql://127.0.0.1:1/x").mode == "aggregate"
    with pytest.raises(ValueError, match="sample_rate"):
        Collector("postgresql://127.0.0.1:1/x", sample_rate=1.5)


# -- sketches written before the mapping changed --------------------------------------------


def test_upgrade_converts_stored_sketches_and_flags_them(empty_db_url: str) -> None:
    """A database rolled up by the previous revision (sketches of the earlier mapping) is
    upgraded: every stored sketch is converted, its row flagged, its quantiles within 1.5%
    of exact; a minute recomputed from its raw events afterwards is exact and unflagged;
    the downgrade sets the new-mapping sketches to NULL instead of misreading them."""
    from orchestrator import dbversions

    dbversions.upgrade(empty_db_url, "0013_incident_boundary")
    values = [0.2, 0.9, 1.0, 3.7, 3.7, 12.0, 55.5, 120.0, 0.0, 800.0]
    with psycopg.connect(empty_db_url, autocommit=True, row_factory=dict_row) as c:
        events = [
            {"implementation_type": "old", "event_type": "hit", "response_time_ms": v}
            for v in values
        ]
        c.execute("SELECT cachemon.ingest_events(%s::jsonb)", (json.dumps(events),))
        tick_until_idle(c)
        before = _one(c, "SELECT (latency_sketch).keys FROM cachemon.cache_metrics_1min")
    dbversions.upgrade(empty_db_url, "head")
    with psycopg.connect(empty_db_url, autocommit=True, row_factory=dict_row) as c:
        rows = c.execute(
            "SELECT 'min' AS level, latency_sketch AS s, latency_sketch_converted AS f"
            "  FROM cachemon.cache_metrics_1min"
            " UNION ALL SELECT 'hour', latency_sketch, latency_sketch_converted"
            "  FROM cachemon.cache_metrics_1hour"
            " UNION ALL SELECT 'day', latency_sketch, latency_sketch_converted"
            "  FROM cachemon._cache_metrics_1day"
        ).fetchall()
        assert [r["f"] for r in rows] == [True, True, True]
        after = _one(c, "SELECT (latency_sketch).keys FROM cachemon.cache_metrics_1min")
        assert after != before
        for q in (0.1, 0.5, 0.9, 0.95, 1.0):
            est = _one(
                c,
                "SELECT cachemon.sketch_quantile(latency_sketch, %s)"
                "  FROM cachemon.cache_metrics_1min",
                q,
            )
            exact = _one(
                c,
                "SELECT percentile_disc(%s) WITHIN GROUP (ORDER BY x)"
                "  FROM unnest(%s::double precision[]) AS x",
                q,
                values,
            )
            assert abs(est - exact) <= 0.015 * exact
        # recomputed from raw events: exact, current mapping, no flag; its hour follows
        c.execute(
            "INSERT INTO cachemon._dirty_buckets (bucket, implementation_type)"
            " SELECT bucket, implementation_type FROM cachemon.cache_metrics_1min"
        )
        tick_until_idle(c)
        row = c.execute(
            "SELECT m.latency_sketch = cachemon.sketch_from_values(%s::double precision[]) AS same,"
            " m.latency_sketch_converted AS f, m.percentiles_exact AS exact,"
            " (SELECT latency_sketch_converted FROM cachemon.cache_metrics_1hour) AS hour_f"
            " FROM cachemon.cache_metrics_1min AS m",
            (values,),
        ).fetchone()
        assert row == {"same": True, "f": False, "exact": True, "hour_f": False}
    dbversions.downgrade(empty_db_url, "0013_incident_boundary")
    with psycopg.connect(empty_db_url, autocommit=True, row_factory=dict_row) as c:
        assert _one(c, "SELECT count(latency_sketch) FROM cachemon.cache_metrics_1min") == 0
        assert _one(c, "SELECT hits FROM cachemon.cache_metrics_1min") == len(values)


def test_extreme_accepted_edge_rows_do_not_stop_a_tick(conn: Conn) -> None:
    """The largest values the checks accept, from several sources into one minute, roll up."""
    impl = f"extreme-{next(_names)}"
    lo, hi = otel_index(0.000001), otel_index(86_400_000.0)
    n = 1_000_000_000
    rows = [
        _good_row(
            conn,
            impl,
            source=f"p{i}",
            event_count=n,
            latency_count=n,
            zero_count=n - 2,
            latency_min=0.0,
            latency_max=86_400_000.0,
            latency_sum=86_400_000.0 + 0.000001,
            bucket_offset=lo,
            bucket_counts=[1] + [0] * (hi - lo - 1) + [1],
            cache_size_count=n,
            cache_size_sum=(2**63 - 1) * n,
            cache_size_min=0,
            cache_size_max=2**63 - 1,
        )
        for i in range(8)
    ]
    assert _one(conn, "SELECT cachemon.ingest_edge(%s::jsonb)", json.dumps(rows)) == 8
    result = conn.execute("SELECT status, buckets_failed, failure FROM cachemon.tick()").fetchone()
    assert result == {"status": "done", "buckets_failed": 0, "failure": None}
    row = conn.execute(
        "SELECT hits, max_response_time_ms, p99_response_time_ms, percentiles_exact"
        "  FROM cachemon.cache_metrics_1min WHERE implementation_type = %s",
        (impl,),
    ).fetchone()
    assert row is not None and row["hits"] == 8 * n and row["max_response_time_ms"] == 86_400_000.0
    assert row["p99_response_time_ms"] == 0 and row["percentiles_exact"] is False


def test_maintenance_deletes_edge_rows_past_raw_retention(conn: Conn) -> None:
    impl = f"old-{next(_names)}"
    kept = _good_row(conn, impl)
    assert _one(conn, "SELECT cachemon.ingest_edge(%s::jsonb)", json.dumps([kept])) == 1
    # a row that has aged past raw retention (written with triggers off, as time would)
    conn.execute("SET session_replication_role = replica")
    conn.execute(
        "INSERT INTO cachemon.cache_metrics_edge (bucket, implementation_type, event_type, source,"
        " event_count) VALUES (date_trunc('day', now()) - interval '9 days', %s, 'hit', 'p', 1)",
        (impl,),
    )
    conn.execute("RESET session_replication_role")
    conn.execute("SELECT cachemon.run_maintenance()")
    assert conn.execute(
        "SELECT bucket FROM cachemon.cache_metrics_edge WHERE implementation_type = %s", (impl,)
    ).fetchall() == [{"bucket": _one(conn, "SELECT %s::timestamptz", kept["bucket"])}]
    assert conn.execute("SELECT status, buckets_failed FROM cachemon.tick()").fetchone() == {
        "status": "done",
        "buckets_failed": 0,
    }


def test_collector_edge_batch_with_a_lost_commit_reply_is_stored_once(
    conn: Conn, db_url: str
) -> None:
    """Aggregate mode through a real network fault: the COMMIT of an edge batch reaches the
    server but its reply is lost; the collector retries the batch under the same id, and
    the minute is counted once."""
    from tests.tcpproxy import TcpProxy

    impl = f"lost-{next(_names)}"
    base = _minute(conn, 4)
    proxy = TcpProxy(db_url)
    try:
        c = Collector(
            proxy.url, mode="aggregate", flush_interval=0.2, retry_base_delay=0.05
        ).start()
        c.record("hit", "warm", impl, 1.0, recorded_at=base - 60)
        assert c.flush(10)
        proxy.swallow_next_commit_reply()
        for i in range(40):
            c.record("miss", f"k{i}", impl, 2.0 + i, recorded_at=base + i)
        assert c.flush(30)
        assert proxy.commits_swallowed == 1
        stats = c.stats()
        assert stats.failed_attempts >= 1 and stats.sent == stats.collected == 41
        assert c.stop()
    finally:
        proxy.close()
    assert conn.execute(
        "SELECT event_type, sum(event_count) AS n, count(*) AS rows"
        "  FROM cachemon.cache_metrics_edge WHERE implementation_type = %s"
        " GROUP BY 1 ORDER BY 1",
        (impl,),
    ).fetchall() == [
        {"event_type": "hit", "n": 1, "rows": 1},
        {"event_type": "miss", "n": 40, "rows": 1},
    ]


def test_error_breakdown_counts_edge_errors(conn: Conn) -> None:
    impl = f"errs-{next(_names)}"
    bucket = _one(conn, "SELECT date_trunc('minute', now()) - interval '2 minutes'")
    row = {
        "bucket": bucket.isoformat(),
        "implementation_type": impl,
        "event_type": "error",
        "source": "p",
        "event_count": 5,
        "error_types": ["Timeout", "Refused"],
        "error_counts": [3, 2],
        "error_samples": ["slow", "no"],
    }
    assert _one(conn, "SELECT cachemon.ingest_edge(%s::jsonb)", json.dumps([row])) == 1
    conn.execute(
        "SELECT cachemon.ingest_events(%s::jsonb)",
        (
            json.dumps(
                [
                    {
                        "implementation_type": impl,
                        "event_type": "error",
                        "error_type": "Timeout",
                        "error_message": "latest",
                    }
                ]
            ),
        ),
    )
    got = conn.execute(
        "SELECT error_type, errors, last_message FROM cachemon.get_error_breakdown('1 hour', %s)",
        (impl,),
    ).fetchall()
    assert got == [
        {"error_type": "Timeout", "errors": 4, "last_message": "latest"},
        {"error_type": "Refused", "errors": 2, "last_message": "no"},
    ]

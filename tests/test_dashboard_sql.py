"""The dashboard's read API (get_timeseries, get_error_breakdown, get_traffic_share,
get_live_findings) against an independent recomputation from raw rows.

Counts and rates must be exact; merged percentiles within the sketch's relative error (0.9%,
checked at 1%) of percentile_disc over the bucket's raw events; 1-minute percentiles are the
stored exact percentile_cont. User-given windows and resolutions are drawn by hypothesis:
every call either answers correctly or refuses with invalid_parameter_value naming the
parameter.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.rollup_helpers import Conn, insert_events, tick_until_idle

# Raw events older than retention.raw (7 days) are refused: the data ends at today 00:00 UTC.
T0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=4)
DAYS = 3
ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
MAX_RT = 86_400_000.0
MAX_SIZE = 9_223_372_036_854_775_807

EXPECTED = """
SELECT date_bin(%(res)s, recorded_at, '2000-01-01 00:00:00+00') AS bucket, implementation_type,
       count(*) AS total_events,
       count(*) FILTER (WHERE event_type = 'hit') AS hits,
       count(*) FILTER (WHERE event_type = 'miss') AS misses,
       count(*) FILTER (WHERE event_type = 'set') AS sets,
       count(*) FILTER (WHERE event_type = 'evict') AS evictions,
       count(*) FILTER (WHERE event_type = 'error') AS errors,
       avg(response_time_ms) AS avg_rt, max(response_time_ms) AS max_rt,
       percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time_ms) AS disc,
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time_ms) AS cont,
       avg(cache_size)::double precision AS avg_cs, max(cache_size) AS max_cs
  FROM cachemon.cache_metrics
 WHERE recorded_at >= %(start)s AND recorded_at < %(end)s
   AND (%(impl)s::text IS NULL OR implementation_type = %(impl)s::text)
 GROUP BY 1, 2
 ORDER BY 1, 2
"""


def _dataset(conn: Conn, seed: int = 3) -> None:
    """DAYS days of sparse, bursty traffic of two implementations (every event kind, latencies
    from 0 to the one-day ceiling, cache sizes up to bigint max), rolled up by tick."""
    rng = random.Random(seed)
    events: list[tuple[datetime, str, str, float | None, int | None]] = []
    minute = T0
    end = T0 + timedelta(days=DAYS)
    while minute < end:
        for impl in ("legacy", "new"):
            for _ in range(rng.randint(0, 12)):
                kind = rng.choices(["hit", "miss", "set", "evict", "error"], [8, 3, 2, 1, 1])[0]
                rt: float | None = rng.lognormvariate(1.5, 1.0)
                r = rng.random()
                if r < 0.03:
                    rt = 0.0
                elif r < 0.04:
                    rt = None
                elif r < 0.042:
                    rt = MAX_RT
                size: int | None = rng.randint(0, 10_000) if rng.random() < 0.9 else None
                if rng.random() < 0.002:
                    size = MAX_SIZE
                at = minute + timedelta(seconds=rng.uniform(0, 59.999))
                events.append((at, impl, kind, rt, size))
        minute += timedelta(minutes=rng.choice([1, 1, 2, 3, 7, 13]))
    insert_events(conn, events)
    conn.execute("UPDATE cachemon._settings SET value = '100000' WHERE name = 'tick.max_buckets'")
    tick_until_idle(conn)


def _bounds(window: timedelta, res: timedelta, now: datetime) -> tuple[datetime, datetime]:
    """The buckets get_timeseries must cover, computed independently of its SQL."""
    res_s = res.total_seconds()
    last = ORIGIN + timedelta(seconds=math.floor((now - ORIGIN).total_seconds() / res_s) * res_s)
    end = last + res
    n = math.ceil(window.total_seconds() / res_s)
    return end - n * res, end


def _close(a: float | None, b: float | None, rel: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= rel * max(1.0, abs(b))


def _check(
    conn: Conn, window: timedelta, res: timedelta, impl: str | None, now: datetime
) -> list[dict[str, Any]]:
    got = conn.execute(
        "SELECT * FROM cachemon.get_timeseries(%s, %s, %s, %s)", (window, res, impl, now)
    ).fetchall()
    start, end = _bounds(window, res, now)
    expected = conn.execute(
        EXPECTED, {"res": res, "start": start, "end": end, "impl": impl}
    ).fetchall()
    assert [(r["bucket"], r["implementation_type"]) for r in got] == [
        (e["bucket"], e["implementation_type"]) for e in expected
    ]
    minutes = res.total_seconds() / 60
    for g, e in zip(got, expected, strict=True):
        where = f"{g['bucket']} {g['implementation_type']} res={res}"
        assert g["bucket_end"] == g["bucket"] + res, where
        for k in ("total_events", "hits", "misses", "sets", "evictions", "errors", "max_cs"):
            assert g[k if k != "max_cs" else "max_cache_size"] == e[k], (where, k)
        lookups = e["hits"] + e["misses"]
        assert g["hit_rate"] == (None if lookups == 0 else 100 * e["hits"] / lookups) or _close(
            float(g["hit_rate"]), 100 * e["hits"] / lookups, 1e-12
        ), where
        denom = lookups + e["sets"] + e["errors"]
        want_err = None if denom == 0 else 100 * e["errors"] / denom
        assert _close(
            None if g["error_rate"] is None else float(g["error_rate"]), want_err, 1e-12
        ), where
        assert _close(g["events_per_minute"], e["total_events"] / minutes, 1e-12), where
        assert _close(
            g["avg_response_time_ms"], None if e["avg_rt"] is None else float(e["avg_rt"]), 1e-9
        ), where
        assert g["max_response_time_ms"] == e["max_rt"], where
        assert _close(g["avg_cache_size"], e["avg_cs"], 1e-9), where
        percentiles = (
            g["p50_response_time_ms"],
            g["p95_response_time_ms"],
            g["p99_response_time_ms"],
        )
        if res == timedelta(minutes=1):
            assert list(percentiles) == list(e["cont"] or [None] * 3), where
        else:
            for got_p, disc in zip(percentiles, e["disc"] or [None] * 3, strict=True):
                assert _close(got_p, disc, 0.01), (where, got_p, disc)
        assert g["level"] == (
            "1day"
            if res.total_seconds() % 86400 == 0
            else "1hour"
            if res.total_seconds() % 3600 == 0
            else "1min"
        )
    return got


@pytest.fixture
def data(conn: Conn) -> Conn:
    conn.execute("SET statement_timeout = '60s'")
    _dataset(conn)
    return conn


RESOLUTIONS = [1, 2, 5, 15, 60, 120, 360, 1440, 2880]


@settings(max_examples=40)
@given(
    window_min=st.integers(1, (DAYS + 1) * 1440),
    res_min=st.sampled_from(RESOLUTIONS),
    impl=st.sampled_from([None, "legacy", "new", "absent"]),
    now_s=st.integers(0, (DAYS + 1) * 86400),
)
def test_timeseries_equals_recomputation_from_raw_rows(
    data: Conn, window_min: int, res_min: int, impl: str | None, now_s: int
) -> None:
    window, res = timedelta(minutes=window_min), timedelta(minutes=res_min)
    if math.ceil(window / res) > 10_000:
        return
    _check(data, window, res, impl, T0 + timedelta(seconds=now_s))


@pytest.mark.parametrize("res_min", [1, 60, 1440, 180])
def test_timeseries_whole_dataset_each_level(data: Conn, res_min: int) -> None:
    got = _check(
        data,
        timedelta(days=DAYS + 2),
        timedelta(minutes=res_min),
        None,
        T0 + timedelta(days=DAYS + 1),
    )
    assert {r["implementation_type"] for r in got} == {"legacy", "new"}
    assert (
        sum(r["total_events"] for r in got)
        == data.execute("SELECT count(*) AS n FROM cachemon.cache_metrics").fetchone()["n"]  # type: ignore[index]
    )


def test_default_resolution_picks_a_level(data: Conn) -> None:
    now = T0 + timedelta(days=DAYS)
    for window, level in (
        ("1 hour", "1min"),
        ("24 hours", "1min"),
        ("7 days", "1hour"),
        ("30 days", "1hour"),
        ("90 days", "1day"),
    ):
        rows = data.execute(
            "SELECT DISTINCT level, bucket_end - bucket AS width"
            " FROM cachemon.get_timeseries(%s::interval, NULL, NULL, %s)",
            (window, now),
        ).fetchall()
        assert [r["level"] for r in rows] == [level], window


@pytest.mark.parametrize(
    ("window", "resolution", "parameter"),
    [
        (None, None, "time_window"),
        ("0", None, "time_window"),
        ("-1 hour", None, "time_window"),
        ("30 seconds", None, "time_window"),
        ("1 month", None, "time_window"),
        ("401 days", None, "time_window"),
        ("1 hour", "30 seconds", "resolution"),
        ("1 hour", "90 seconds", "resolution"),
        ("1 hour", "0", "resolution"),
        ("1 hour", "-5 minutes", "resolution"),
        ("1 year", "1 day", "time_window"),
        ("1 day", "1 mon", "resolution"),
        ("400 days", "1 minute", "resolution"),
    ],
)
def test_nonsense_is_refused_naming_the_parameter(
    conn: Conn, window: str | None, resolution: str | None, parameter: str
) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue) as err:
        conn.execute(
            "SELECT * FROM cachemon.get_timeseries(%s::interval, %s::interval)",
            (window, resolution),
        )
    assert parameter in str(err.value)
    assert "get_timeseries" in str(err.value)


@settings(max_examples=60)
@given(
    months=st.integers(-2, 2),
    days=st.integers(-500, 500),
    micros=st.integers(-(10**11), 10**11),
    res_months=st.integers(-1, 1),
    res_days=st.integers(-2, 2),
    res_micros=st.integers(-(10**10), 10**10),
)
def test_any_interval_is_answered_or_refused_clearly(
    conn: Conn,
    months: int,
    days: int,
    micros: int,
    res_months: int,
    res_days: int,
    res_micros: int,
) -> None:
    window = f"{months} mons {days} days {micros} microseconds"
    res = f"{res_months} mons {res_days} days {res_micros} microseconds"
    for r in (None, res):
        try:
            conn.execute(
                "SELECT count(*) FROM cachemon.get_timeseries(%s::interval, %s::interval)",
                (window, r),
            )
        except psycopg.errors.InvalidParameterValue as exc:
            assert "time_window" in str(exc) or "resolution" in str(exc)


def test_edges_of_the_value_domains(conn: Conn) -> None:
    at = T0 + timedelta(seconds=5)
    insert_events(
        conn,
        [
            (at, "edge", "hit", 0.0, 0),
            (at, "edge", "miss", MAX_RT, MAX_SIZE),
            (at + timedelta(hours=1), "edge", "hit", MAX_RT, MAX_SIZE),
        ],
    )
    tick_until_idle(conn)
    for res in (1, 60, 120, 1440):
        _check(conn, timedelta(days=2), timedelta(minutes=res), None, T0 + timedelta(days=1))


def test_error_breakdown_equals_raw_rows(conn: Conn) -> None:
    probe = "<img src=x onerror=alert(1)>"
    rows = [
        ("legacy", "TimeoutError", "t1", 0),
        ("legacy", "TimeoutError", "t2", 10),
        ("legacy", "RedisConnectionError", "conn refused", 20),
        ("new", "TimeoutError", probe, 30),
        ("new", None, "no type", 40),
        ("new", "TimeoutError", "older", 5),
    ]
    conn.execute(
        "INSERT INTO cachemon.cache_metrics"
        " (recorded_at, implementation_type, event_type, error_type, error_message)"
        " SELECT %s + make_interval(secs => s), i, 'error', t, m"
        " FROM unnest(%s::text[], %s::text[], %s::text[], %s::int[]) AS u(i, t, m, s)",
        (T0, *[list(c) for c in zip(*rows, strict=True)]),
    )
    got = conn.execute(
        "SELECT * FROM cachemon.get_error_breakdown('1 hour', NULL, %s)",
        (T0 + timedelta(minutes=1),),
    ).fetchall()
    simple: list[tuple[Any, ...]] = [
        (
            r["implementation_type"],
            r["error_type"],
            r["errors"],
            float(r["share"]),
            r["last_message"],
        )
        for r in got
    ]
    assert simple == [
        ("legacy", "TimeoutError", 2, pytest.approx(66.667), "t2"),
        ("legacy", "RedisConnectionError", 1, pytest.approx(33.333), "conn refused"),
        ("new", "TimeoutError", 2, pytest.approx(66.667), probe),
        ("new", None, 1, pytest.approx(33.333), "no type"),
    ]
    # The window is (p_now - time_window, p_now].
    only_new = conn.execute(
        "SELECT error_type, errors FROM cachemon.get_error_breakdown('1 minute', 'new', %s)",
        (T0 + timedelta(seconds=70),),
    ).fetchall()
    assert only_new == [
        {"error_type": "TimeoutError", "errors": 1},
        {"error_type": None, "errors": 1},
    ]
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="time_window"):
        conn.execute("SELECT * FROM cachemon.get_error_breakdown('2 mons')")


def test_traffic_share_adds_up_with_the_series(data: Conn) -> None:
    now = T0 + timedelta(days=1)
    shares = data.execute(
        "SELECT * FROM cachemon.get_traffic_share('1 day', %s)", (now,)
    ).fetchall()
    series = data.execute(
        "SELECT implementation_type, sum(total_events) AS n, sum(hits + misses) AS lookups"
        " FROM cachemon.get_timeseries('1 day', NULL, NULL, %s) GROUP BY 1",
        (now,),
    ).fetchall()
    total = float(sum(r["n"] for r in series))
    assert {r["implementation_type"]: r["total_events"] for r in shares} == {
        r["implementation_type"]: r["n"] for r in series
    }
    for r in shares:
        n = next(s for s in series if s["implementation_type"] == r["implementation_type"])
        assert r["lookups"] == n["lookups"]
        assert float(r["share"]) == pytest.approx(100 * float(n["n"]) / total, abs=1e-3)
    assert sum(float(r["share"]) for r in shares) == pytest.approx(100, abs=1e-2)


def test_live_findings_newest_first(conn: Conn) -> None:
    for i, status in enumerate(["open", "acknowledged", "resolved", "open"]):
        conn.execute(
            "INSERT INTO cachemon.cache_auditor_observations"
            " (implementation_type, rule, severity, category, status, message, first_seen_at,"
            "  last_seen_at, resolved_at)"
            " VALUES (%s, 'r', 'warning', 'performance', %s, 'm', %s, %s, %s)",
            (
                f"impl{i}",
                status,
                T0 + timedelta(minutes=i),
                T0 + timedelta(minutes=i),
                T0 + timedelta(minutes=i) if status == "resolved" else None,
            ),
        )
    got = conn.execute("SELECT implementation_type FROM cachemon.get_live_findings()").fetchall()
    assert [r["implementation_type"] for r in got] == ["impl3", "impl1", "impl0"]
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="p_limit"):
        conn.execute("SELECT * FROM cachemon.get_live_findings(0)")


def test_reader_role_can_call_the_read_api(conn: Conn, data: Conn) -> None:
    """A cachemon_reader login gets every row of the read API, the same rows as the owner."""
    conn.execute(
        "INSERT INTO cachemon.cache_auditor_observations"
        " (implementation_type, rule, severity, category, status, message, first_seen_at,"
        "  last_seen_at) VALUES ('new', 'r', 'warning', 'performance', 'open', 'm', %s, %s)",
        (T0, T0),
    )
    queries = (
        "SELECT * FROM cachemon.get_timeseries('1 day', NULL, NULL, %(now)s)",
        "SELECT * FROM cachemon.get_error_breakdown('1 day', NULL, %(now)s)",
        "SELECT * FROM cachemon.get_traffic_share('1 day', %(now)s)",
        "SELECT * FROM cachemon.get_live_findings()",
    )
    params = {"now": T0 + timedelta(days=1)}

    def read_all() -> list[list[str]]:
        return [sorted(map(repr, conn.execute(q, params).fetchall())) for q in queries]

    as_owner = read_all()
    assert all(as_owner), "the data set gives every read function rows"
    conn.execute("CREATE ROLE dash_reader LOGIN IN ROLE cachemon_reader")
    try:
        conn.execute("SET ROLE dash_reader")
        assert read_all() == as_owner
    finally:
        conn.execute("RESET ROLE")
        conn.execute("DROP ROLE dash_reader")


@pytest.mark.parametrize(
    ("res", "table"),
    [
        ("2 minutes", "cache_metrics_1min"),
        ("15 minutes", "cache_metrics_1min"),
        ("6 hours", "cache_metrics_1hour"),
        ("1 day", "_cache_metrics_1day"),
    ],
)
def test_merged_percentiles_are_those_of_the_merged_sketch(
    data: Conn, res: str, table: str
) -> None:
    """Coarse buckets: exactly sketch_quantiles(sketch_merge(...)) of the bucket's rows."""
    now = T0 + timedelta(days=DAYS)
    got = data.execute(
        "SELECT bucket, implementation_type,"
        " ARRAY[p50_response_time_ms, p95_response_time_ms, p99_response_time_ms] AS p"
        " FROM cachemon.get_timeseries('4 days', %s::interval, NULL, %s)"
        " ORDER BY 1, 2",
        (res, now),
    ).fetchall()
    want = data.execute(
        f"SELECT date_bin(%s::interval, bucket, '2000-01-01 00:00:00+00') AS bucket,"
        " implementation_type, cachemon.sketch_quantiles(cachemon.sketch_merge(latency_sketch),"
        " ARRAY[0.5, 0.95, 0.99]) AS p"
        f" FROM cachemon.{table} WHERE bucket < %s GROUP BY 1, 2 ORDER BY 1, 2",
        (res, now + timedelta(days=1)),
    ).fetchall()
    want = [w for w in want if w["bucket"] >= got[0]["bucket"]]
    assert got == want

"""Rollup invariants against the real database: exact minutes, merged hours, late events,
concurrent sessions, refusals, roles, and tick cost shown by query plans."""

from __future__ import annotations

import json
import random
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from orchestrator import errors, rollup
from tests.rollup_helpers import (
    EVENT_TYPES,
    Conn,
    day_mismatches,
    db_now,
    hour_mismatches,
    insert_events,
    minute_floor,
    minute_mismatches,
    tick_until_idle,
)

Event = tuple[datetime, str, str, float | None, int | None]


def make_events(rng: random.Random, base: datetime, n: int, spread_minutes: int) -> list[Event]:
    events: list[Event] = []
    for _ in range(n):
        at = base - timedelta(seconds=rng.uniform(0, spread_minutes * 60))
        rt = rng.choice([None, 0.0, round(rng.lognormvariate(2, 1), 3), rng.uniform(0, 500)])
        size = rng.choice([None, rng.randint(0, 10_000)])
        events.append((at, rng.choice(["legacy", "new"]), rng.choice(EVENT_TYPES), rt, size))
    return events


def test_tick_rolls_up_minutes_and_hours_exactly(conn: Conn) -> None:
    now = db_now(conn)
    insert_events(conn, make_events(random.Random(1), now, 600, 150))
    result = rollup.tick(conn)
    assert result.status == "done"
    assert result.minutes_done > 100 and result.hours_done >= 6
    assert result.buckets_left == 0 and result.oldest_pending is None
    assert result.auditor == "ran"  # the auditor's revision is installed
    assert minute_mismatches(conn) == []
    assert hour_mismatches(conn) == [] and day_mismatches(conn) == []
    # Nothing new: nothing done.
    again = rollup.tick(conn)
    assert (again.minutes_done, again.hours_done, again.marks_claimed) == (0, 0, 0)


def test_late_events_and_deletes_are_folded_in(conn: Conn) -> None:
    now = db_now(conn)
    rng = random.Random(2)
    insert_events(conn, make_events(rng, now, 200, 30))
    tick_until_idle(conn)
    # Late events, as far back as 6 days, into minutes already rolled up.
    insert_events(conn, make_events(rng, now - timedelta(days=6), 100, 60))
    insert_events(conn, make_events(rng, now, 100, 30))
    assert minute_mismatches(conn) != []  # not yet folded in
    tick_until_idle(conn)
    assert (
        minute_mismatches(conn) == [] and hour_mismatches(conn) == [] and day_mismatches(conn) == []
    )
    # An admin deleting raw rows: the emptied minutes (and hours) disappear, the rest update.
    conn.execute(
        "DELETE FROM cachemon.cache_metrics WHERE recorded_at < %s", (now - timedelta(days=5),)
    )
    tick_until_idle(conn)
    assert (
        minute_mismatches(conn) == [] and hour_mismatches(conn) == [] and day_mismatches(conn) == []
    )
    old = conn.execute(
        "SELECT count(*) AS n FROM cachemon.cache_metrics_1hour WHERE bucket < %s",
        (now - timedelta(days=5, hours=2),),
    ).fetchone()
    assert old is not None and old["n"] == 0


def test_tick_work_is_bounded_by_the_cap(conn: Conn) -> None:
    now = db_now(conn)
    conn.execute("UPDATE cachemon._settings SET value = '7' WHERE name = 'tick.max_buckets'")
    insert_events(conn, make_events(random.Random(3), now, 300, 20))
    queued = conn.execute(
        "SELECT count(*) AS n, min(bucket) AS oldest FROM"
        " (SELECT DISTINCT bucket, implementation_type FROM cachemon._dirty_buckets) AS q"
    ).fetchone()
    assert queued is not None and queued["n"] > 7
    newest = conn.execute(
        "SELECT DISTINCT bucket, implementation_type FROM cachemon._dirty_buckets"
        " ORDER BY bucket DESC, implementation_type DESC LIMIT 7"
    ).fetchall()
    first = rollup.tick(conn)
    assert first.minutes_done == 7
    assert first.buckets_left == queued["n"] - 7
    # All within the hour up to now: the newest first (the current minute never waits).
    assert first.oldest_pending == queued["oldest"]
    left = conn.execute(
        "SELECT bucket, implementation_type FROM cachemon._dirty_buckets"
    ).fetchall()
    assert not any(b in left for b in newest)
    assert tick_until_idle(conn) >= 2
    assert (
        minute_mismatches(conn) == [] and hour_mismatches(conn) == [] and day_mismatches(conn) == []
    )


@settings(max_examples=12)
@given(
    ops=st.lists(
        st.one_of(
            st.tuples(
                st.just("ingest"),
                st.integers(1, 40),  # events
                st.integers(0, 6 * 24 * 60),  # minutes back (late data within retention)
                st.integers(0, 2**31),  # seed
            ),
            st.tuples(st.just("tick"), st.integers(1, 5), st.just(0), st.just(0)),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_any_interleaving_of_ingests_and_ticks_ends_exact(
    db_url: str, ops: list[tuple[str, int, int, int]]
) -> None:
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute(
            "TRUNCATE cachemon.cache_metrics, cachemon.cache_metrics_1min,"
            " cachemon.cache_metrics_1hour, cachemon._cache_metrics_1day, cachemon._dirty_buckets"
        )
        now = db_now(conn)
        for kind, a, b, seed in ops:
            if kind == "ingest":
                insert_events(
                    conn, make_events(random.Random(seed), now - timedelta(minutes=b), a, 3)
                )
            else:
                conn.execute(
                    "UPDATE cachemon._settings SET value = %s WHERE name = 'tick.max_buckets'",
                    (str(a),),
                )
                rollup.tick(conn)
        conn.execute("UPDATE cachemon._settings SET value = '5000' WHERE name = 'tick.max_buckets'")
        tick_until_idle(conn)
        assert minute_mismatches(conn) == []
        assert hour_mismatches(conn) == [] and day_mismatches(conn) == []


def test_mark_of_an_ingest_committing_after_tick_survives(db_url: str) -> None:
    """The race of the invariant: an ingest's rows and mark are invisible to a tick that runs
    while the ingest is open; the mark commits with the rows and the next tick folds them in."""
    with (
        psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as ticker,
        psycopg.connect(db_url, row_factory=dict_row) as ingest,
    ):
        now = db_now(ticker)
        minute = minute_floor(now) - timedelta(minutes=3)
        insert_events(ticker, [(minute + timedelta(seconds=1), "new", "hit", 5.0, 1)])
        assert rollup.tick(ticker).minutes_done == 1
        # The ingest transaction writes rows of the same minute and stays open...
        insert_events(ingest, [(minute + timedelta(seconds=2), "new", "miss", 7.0, 2)] * 3)
        # ... while a tick runs and commits: it sees neither the rows nor their mark.
        during = rollup.tick(ticker)
        assert during.minutes_done == 0
        ingest.commit()
        queued = ticker.execute(
            "SELECT count(*) AS n FROM cachemon._dirty_buckets WHERE bucket = %s", (minute,)
        ).fetchone()
        assert queued is not None and queued["n"] == 1
        row = ticker.execute(
            "SELECT total_events FROM cachemon.cache_metrics_1min WHERE bucket = %s", (minute,)
        ).fetchone()
        assert row is not None and row["total_events"] == 1  # not yet folded in
        after = rollup.tick(ticker)
        assert after.minutes_done == 1
        assert (
            minute_mismatches(ticker) == []
            and hour_mismatches(ticker) == []
            and day_mismatches(ticker) == []
        )


def test_concurrent_tick_is_busy_and_ingest_never_waits(db_url: str) -> None:
    with (
        psycopg.connect(db_url, row_factory=dict_row) as first,
        psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as second,
        psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as writer,
    ):
        now = db_now(second)
        insert_events(second, make_events(random.Random(4), now, 50, 10))
        held = rollup.tick(first)  # its transaction (and the lock) stays open
        assert held.status == "done"
        busy = rollup.tick(second)
        assert busy.status == "busy" and busy.minutes_done == 0
        writer.execute("SET statement_timeout = '3s'")
        insert_events(writer, make_events(random.Random(5), now, 50, 10))  # does not block
        first.commit()
        tick_until_idle(second)
        assert (
            minute_mismatches(second) == []
            and hour_mismatches(second) == []
            and day_mismatches(second) == []
        )


def test_concurrent_sessions_never_lose_or_double_count(db_url: str) -> None:
    """Three ingesting sessions and two ticking sessions at once, late events included."""
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as conn:
        now = db_now(conn)
        conn.execute("UPDATE cachemon._settings SET value = '20' WHERE name = 'tick.max_buckets'")
    inserted = [0, 0, 0]
    failures: list[BaseException] = []
    ingest_done = threading.Event()

    def ingester(i: int) -> None:
        try:
            rng = random.Random(100 + i)
            with psycopg.connect(db_url, row_factory=dict_row) as c:
                for _ in range(15):
                    late = rng.random() < 0.3
                    base = now - timedelta(days=rng.uniform(1, 5)) if late else now
                    events = make_events(rng, base, rng.randint(5, 40), 20)
                    insert_events(c, events)
                    c.commit()
                    inserted[i] += len(events)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    def ticker() -> None:
        try:
            with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as c:
                while not ingest_done.is_set():
                    rollup.tick(c)
        except BaseException as exc:
            failures.append(exc)

    ingesters = [threading.Thread(target=ingester, args=(i,)) for i in range(3)]
    tickers = [threading.Thread(target=ticker) for _ in range(2)]
    for t in ingesters + tickers:
        t.start()
    for t in ingesters:
        t.join(timeout=120)
    ingest_done.set()
    for t in tickers:
        t.join(timeout=120)
    assert failures == []
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as conn:
        tick_until_idle(conn)
        totals = conn.execute(
            "SELECT (SELECT sum(total_events) FROM cachemon.cache_metrics_1min) AS minutes,"
            " (SELECT sum(total_events) FROM cachemon.cache_metrics_1hour) AS hours,"
            " (SELECT count(*) FROM cachemon.cache_metrics) AS raw"
        ).fetchone()
        assert totals is not None
        assert totals["raw"] == totals["minutes"] == totals["hours"] == sum(inserted)
        assert (
            minute_mismatches(conn) == []
            and hour_mismatches(conn) == []
            and day_mismatches(conn) == []
        )


@pytest.mark.parametrize(
    ("offset", "what"),
    [(timedelta(days=7, minutes=1), "older"), (timedelta(days=-1, minutes=-1), "future")],
)
def test_events_outside_retention_or_future_are_refused(
    conn: Conn, offset: timedelta, what: str
) -> None:
    now = db_now(conn)
    good = (now - timedelta(minutes=1), "new", "hit", 1.0, 1)
    bad = (now - offset, "new", "hit", 1.0, 1)
    with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
        insert_events(conn, [good, bad])
    message = str(info.value)
    assert "recorded_at" in message and "outside the accepted range" in message
    assert str(bad[0].year) in message
    with pytest.raises(errors.InvalidInput), errors.translated():
        insert_events(conn, [bad])
    counts = conn.execute(
        "SELECT (SELECT count(*) FROM cachemon.cache_metrics) AS raw,"
        " (SELECT count(*) FROM cachemon._dirty_buckets) AS marks"
    ).fetchone()
    assert counts == {"raw": 0, "marks": 0}  # nothing of the statement was kept


def test_copy_marks_buckets(conn: Conn) -> None:
    now = db_now(conn)
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY cachemon.cache_metrics (recorded_at, implementation_type, event_type,"
            " response_time_ms) FROM STDIN"
        ) as copy,
    ):
        for i in range(50):
            copy.write_row((now - timedelta(minutes=i % 5), "legacy", "hit", float(i)))
    marks = conn.execute(
        "SELECT count(DISTINCT bucket) AS n FROM cachemon._dirty_buckets"
    ).fetchone()
    assert marks is not None and marks["n"] in (5, 6)
    tick_until_idle(conn)
    assert minute_mismatches(conn) == []


def test_roles_writer_ingests_admin_ticks_reader_summarizes(conn: Conn) -> None:
    now = db_now(conn)
    conn.execute("SET ROLE cachemon_writer")
    insert_events(conn, make_events(random.Random(6), now, 40, 10))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT cachemon.tick()")
    conn.execute("RESET ROLE")
    conn.execute("SET ROLE cachemon_admin")
    assert rollup.tick(conn).minutes_done > 0
    assert rollup.run_maintenance(conn).status == "done"
    conn.execute("RESET ROLE")
    conn.execute("SET ROLE cachemon_reader")
    rows = rollup.performance_summary(conn, None, timedelta(hours=1))
    assert sum(r.total_events for r in rows) > 0
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT count(*) FROM cachemon.cache_metrics")
    conn.execute("RESET ROLE")


def _plans_of(conn: Conn, sql: str) -> list[dict[str, Any]]:
    """The JSON plans (with actual rows) of every statement ``sql`` runs, via auto_explain."""
    messages: list[str] = []
    conn.add_notice_handler(lambda d: messages.append(d.message_primary or ""))
    conn.execute("LOAD 'auto_explain'")
    for setting in (
        "auto_explain.log_min_duration = 0",
        "auto_explain.log_nested_statements = on",
        "auto_explain.log_analyze = on",
        "auto_explain.log_format = 'json'",
        "client_min_messages = log",
    ):
        conn.execute(f"SET {setting}")
    conn.execute(sql)
    conn.execute("RESET client_min_messages")
    conn.execute("SET auto_explain.log_min_duration = -1")
    plans = []
    for m in messages:
        if "plan:" in m:
            plans.append(json.loads(m.split("plan:", 1)[1]))
    return plans


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    out = [plan]
    for child in plan.get("Plans", []):
        out.extend(_nodes(child))
    return out


def test_tick_cost_follows_marked_buckets_not_table_size(conn: Conn) -> None:
    """EXPLAIN (auto_explain, with actual rows) of tick's statements: the raw table is read by
    index for the marked bucket only, never by a sequential scan; an empty tick reads no rollup
    or raw table at all."""
    now = minute_floor(db_now(conn))
    rng = random.Random(7)
    # 20,000 raw rows over 2 days, rolled up; then 1 new event in one minute.
    conn.execute(
        "INSERT INTO cachemon.cache_metrics (recorded_at, implementation_type, event_type,"
        " response_time_ms) SELECT %s - g * interval '8.64 s', CASE WHEN g %% 2 = 0 THEN 'legacy'"
        " ELSE 'new' END, 'hit', g %% 97 FROM generate_series(1, 20000) AS g",
        (now,),
    )
    tick_until_idle(conn)
    conn.execute("ANALYZE cachemon.cache_metrics")
    target = now - timedelta(hours=30)
    insert_events(conn, [(target + timedelta(seconds=rng.uniform(0, 59)), "new", "hit", 3.0, 1)])
    in_bucket = conn.execute(
        "SELECT count(*) AS n FROM cachemon.cache_metrics WHERE implementation_type = 'new'"
        " AND recorded_at >= %s AND recorded_at < %s",
        (target, target + timedelta(minutes=1)),
    ).fetchone()
    assert in_bucket is not None

    plans = _plans_of(conn, "SELECT * FROM cachemon.tick()")
    raw_plans = [p for p in plans if "FROM cachemon.cache_metrics AS m" in p["Query Text"]]
    assert len(raw_plans) == 1
    nodes = _nodes(raw_plans[0]["Plan"])
    raw_scans = [
        n
        for n in nodes
        if re.fullmatch(r"cache_metrics_(p[0-9]{8}|default)", n.get("Relation Name", ""))
    ]
    assert raw_scans, "the raw table is read"
    # Partitions the bucket cannot be in are pruned at run time (never executed, loops 0);
    # the one it is in is read through the (implementation_type, recorded_at) index.
    executed = [n for n in raw_scans if n["Actual Loops"] > 0]
    assert executed and all(n["Node Type"] != "Seq Scan" for n in executed)
    assert any("Index" in n["Node Type"] for n in nodes if n["Actual Loops"] > 0)
    assert sum(n["Actual Rows"] * n["Actual Loops"] for n in raw_scans) == in_bucket["n"]
    hour_plans = [p for p in plans if "JOIN cachemon.cache_metrics_1min AS m" in p["Query Text"]]
    hour_nodes = [n for p in hour_plans for n in _nodes(p["Plan"])]
    assert all(
        not (n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "cache_metrics_1min")
        for n in hour_nodes
    )
    assert (
        minute_mismatches(conn) == [] and hour_mismatches(conn) == [] and day_mismatches(conn) == []
    )

    # An empty tick never reads raw events: its rollup part touches only the queue, and the
    # auditor it calls reads the 1-minute window, baselines and its own tables.
    plans = _plans_of(conn, "SELECT * FROM cachemon.tick()")
    touched = {
        n.get("Relation Name") for p in plans for n in _nodes(p["Plan"]) if "Relation Name" in n
    }
    assert not {
        t for t in touched if t and (t.startswith("cache_metrics_p") or t.endswith("_default"))
    }
    assert "cache_metrics_1hour" not in touched
    conn.execute("ALTER FUNCTION cachemon.run_auditor(timestamptz) RENAME TO run_auditor_off")
    plans = _plans_of(conn, "SELECT * FROM cachemon.tick()")
    touched = {
        n.get("Relation Name") for p in plans for n in _nodes(p["Plan"]) if "Relation Name" in n
    }
    assert touched <= {"_dirty_buckets", "_settings"}


def test_summary_reads_hours_and_ragged_minutes(conn: Conn) -> None:
    """A window that is not hour-aligned and spans several hours: counts exact, percentiles
    within 1% of percentile_disc over the window's raw events, from merged sketches."""
    now = db_now(conn)
    rng = random.Random(8)
    insert_events(conn, make_events(rng, now, 1500, 5 * 60))
    tick_until_idle(conn)
    window = timedelta(hours=3, minutes=17)
    rows = {r.implementation_type: r for r in rollup.performance_summary(conn, None, window, now)}
    expected = conn.execute(
        """
        SELECT implementation_type, count(*) AS total_events,
               count(*) FILTER (WHERE event_type = 'hit') AS hits,
               count(*) FILTER (WHERE event_type = 'miss') AS misses,
               max(response_time_ms) AS max_rt,
               avg(response_time_ms) AS avg_rt,
               percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time_ms)
                   AS pct
          FROM cachemon.cache_metrics
         WHERE recorded_at >= date_trunc('minute', %(now)s) - %(w)s
           AND recorded_at < date_trunc('minute', %(now)s)
         GROUP BY 1
        """,
        {"now": now, "w": window},
    ).fetchall()
    assert {e["implementation_type"] for e in expected} == set(rows)
    for e in expected:
        r = rows[e["implementation_type"]]
        assert (r.total_events, r.hits, r.misses) == (e["total_events"], e["hits"], e["misses"])
        assert r.max_response_time_ms == e["max_rt"]
        assert r.avg_response_time_ms == pytest.approx(e["avg_rt"], rel=1e-9)
        got = [r.p50_response_time_ms, r.p95_response_time_ms, r.p99_response_time_ms]
        for est, exact in zip(got, e["pct"], strict=True):
            assert est is not None
            assert abs(est - exact) <= 0.01 * exact
    # The hourly path was taken: whole hours of the window exist as hourly rows.
    hours = conn.execute(
        "SELECT count(*) AS n FROM cachemon.cache_metrics_1hour"
        " WHERE bucket >= date_trunc('minute', %(now)s) - %(w)s",
        {"now": now, "w": window},
    ).fetchone()
    assert hours is not None and hours["n"] >= 4
    only = rollup.performance_summary(conn, "legacy", window, now)[0]
    assert only.total_events == rows["legacy"].total_events
    assert only.p95_response_time_ms == rows["legacy"].p95_response_time_ms
    with pytest.raises(ValueError, match="window"):
        rollup.performance_summary(conn, None, timedelta(0))


def test_summary_reads_whole_days_ragged_hours_and_minutes(conn: Conn) -> None:
    """A window with ragged minutes, ragged hours and whole UTC days at both ends: the day
    level (_cache_metrics_1day) is read for the whole days, and the result equals a direct
    computation from raw rows (counts, rates, averages exact; percentiles within 1% of
    percentile_disc). Every day row is the merge of its hours."""
    now = db_now(conn).astimezone(UTC)
    # A fixed p_now in the past, off every hour and minute boundary, so both ends are ragged
    # at every level whatever the clock says; data on both sides of the window too.
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    p_now = day - timedelta(days=1) + timedelta(hours=13, minutes=29, seconds=30)
    window = timedelta(days=2, hours=7, minutes=43)
    rng = random.Random(31)
    events = make_events(
        rng, p_now + timedelta(hours=1), 2500, int((window.total_seconds() + 4 * 3600) / 60)
    )
    insert_events(conn, events)
    tick_until_idle(conn)
    assert minute_mismatches(conn) == [] and hour_mismatches(conn) == []
    assert day_mismatches(conn) == []
    v_end = minute_floor(p_now)
    v_start = v_end - window
    whole_days = conn.execute(
        "SELECT count(*) AS n FROM cachemon._cache_metrics_1day"
        " WHERE bucket >= %(s)s AND bucket + interval '1 day' <= %(e)s",
        {"s": v_start, "e": v_end},
    ).fetchone()
    assert whole_days is not None and whole_days["n"] >= 2  # one whole day, two implementations
    assert v_start.minute != 0 and v_end.minute != 0  # ragged minutes at both ends
    assert v_start.hour != 0 and v_end.hour != 0  # ragged hours at both ends

    expected = conn.execute(
        """
        SELECT implementation_type, count(*) AS total_events,
               count(*) FILTER (WHERE event_type = 'hit') AS hits,
               count(*) FILTER (WHERE event_type = 'miss') AS misses,
               count(*) FILTER (WHERE event_type = 'set') AS sets,
               count(*) FILTER (WHERE event_type = 'evict') AS evictions,
               count(*) FILTER (WHERE event_type = 'error') AS errors,
               cachemon.calculate_hit_rate(count(*) FILTER (WHERE event_type = 'hit'),
                                           count(*) FILTER (WHERE event_type = 'miss')) AS hit_rate,
               max(response_time_ms) AS max_rt, avg(response_time_ms) AS avg_rt,
               avg(cache_size)::double precision AS avg_cs, max(cache_size) AS max_cs,
               percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time_ms)
                   AS pct
          FROM cachemon.cache_metrics
         WHERE recorded_at >= %(s)s AND recorded_at < %(e)s
         GROUP BY 1
        """,
        {"s": v_start, "e": v_end},
    ).fetchall()
    for impl in (None, "new"):
        rows = {
            r.implementation_type: r for r in rollup.performance_summary(conn, impl, window, p_now)
        }
        wanted = [e for e in expected if impl is None or e["implementation_type"] == impl]
        assert {e["implementation_type"] for e in wanted} == set(rows)
        for e in wanted:
            r = rows[e["implementation_type"]]
            assert (r.window_start, r.window_end) == (v_start, v_end)
            assert (r.total_events, r.hits, r.misses, r.sets, r.evictions, r.errors) == (
                e["total_events"],
                e["hits"],
                e["misses"],
                e["sets"],
                e["evictions"],
                e["errors"],
            )
            assert r.hit_rate == e["hit_rate"]
            assert (r.max_response_time_ms, r.max_cache_size) == (e["max_rt"], e["max_cs"])
            assert r.avg_response_time_ms == pytest.approx(e["avg_rt"], rel=1e-9)
            assert r.avg_cache_size == pytest.approx(e["avg_cs"], rel=1e-9)
            got = [r.p50_response_time_ms, r.p95_response_time_ms, r.p99_response_time_ms]
            for est, exact in zip(got, e["pct"], strict=True):
                assert est is not None
                assert abs(est - exact) <= 0.01 * exact


def test_day_rows_follow_late_events_and_deletes(conn: Conn) -> None:
    """Day rows are rebuilt by tick when their hours change (late events, admin deletes)."""
    now = db_now(conn)
    insert_events(conn, make_events(random.Random(5), now, 400, 3 * 24 * 60))
    tick_until_idle(conn)
    assert day_mismatches(conn) == []
    insert_events(conn, make_events(random.Random(6), now - timedelta(days=2), 50, 60))
    conn.execute(
        "DELETE FROM cachemon.cache_metrics WHERE recorded_at < %s",
        (now - timedelta(days=2, hours=12),),
    )
    tick_until_idle(conn)
    assert hour_mismatches(conn) == [] and day_mismatches(conn) == []

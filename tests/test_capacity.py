"""The raw path's fixed costs: the minute table's push runs once per statement (one message
per row still), an idle tick does not rerun the auditor for a minute it judged, and the
pre-bound recorder records exactly what the collector's verbs record."""

from __future__ import annotations

import json
from collections.abc import Callable

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator import Collector, rollup
from tests.auditor_helpers import Conn

ROWS = """
    INSERT INTO cachemon.cache_metrics_1min (bucket, implementation_type, hits, misses,
                                             total_events, hit_rate)
    SELECT date_trunc('minute', now()) - g * interval '1 minute', 'new', 8, 2, 10, 80
      FROM generate_series(1, %s) AS g
"""


def test_one_statement_of_many_rows_sends_one_message_per_row_in_order(
    conn: Conn, db_url: str
) -> None:
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute("LISTEN cachemon_events")
        conn.execute(ROWS, (50,))
        conn.execute("UPDATE cachemon.cache_metrics_1min SET hits = 9, total_events = 11")
        notes = [json.loads(n.payload) for n in listener.notifies(timeout=3, stop_after=100)]
    assert len(notes) == 100
    assert [n["op"] for n in notes] == ["INSERT"] * 50 + ["UPDATE"] * 50
    inserted = [n["bucket"] for n in notes[:50]]
    assert inserted == sorted(inserted) and len(set(inserted)) == 50
    assert all(set(n) == {"topic", "table", "op", "bucket", "implementation_type"} for n in notes)


def test_supabase_broadcast_checks_once_and_sends_every_row(conn: Conn) -> None:
    conn.execute("CREATE SCHEMA realtime")
    conn.execute("CREATE TABLE realtime.calls (payload jsonb, event text, topic text, p boolean)")
    conn.execute(
        "CREATE FUNCTION realtime.send(payload jsonb, event text, topic text,"
        " private boolean DEFAULT true) RETURNS void LANGUAGE sql"
        " AS $$ INSERT INTO realtime.calls VALUES (payload, event, topic, private) $$"
    )
    conn.execute(ROWS, (30,))
    calls = conn.execute("SELECT * FROM realtime.calls").fetchall()
    assert len(calls) == 30
    assert {c["topic"] for c in calls} == {"cachemon:metrics_1min"}
    assert all(c["payload"]["hit_rate"] == 80 for c in calls)


@pytest.mark.parametrize(
    "ddl",
    [
        # A table of one's own with the trigger function attached.
        "CREATE TABLE public.decoy (bucket timestamptz, implementation_type text);"
        " CREATE TRIGGER t AFTER INSERT ON public.decoy REFERENCING NEW TABLE AS new_rows"
        " FOR EACH STATEMENT EXECUTE FUNCTION cachemon._push_metrics_1min();"
        " INSERT INTO public.decoy VALUES (now(), 'new')",
        # The right table, but a row trigger (no transition table of its own making).
        "CREATE TRIGGER t AFTER INSERT ON cachemon.cache_metrics_1min"
        " FOR EACH ROW EXECUTE FUNCTION cachemon._push_metrics_1min();"
        " INSERT INTO cachemon.cache_metrics_1min (bucket, implementation_type)"
        " VALUES (date_trunc('minute', now()), 'new')",
    ],
)
def test_the_push_trigger_function_refuses_other_tables_and_shapes(conn: Conn, ddl: str) -> None:
    refused = "_push_metrics_1min: refuses to run"
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match=refused):
        conn.execute(ddl)


def test_nobody_may_execute_the_push_trigger_function(conn: Conn) -> None:
    row = conn.execute(
        "SELECT pg_get_userbyid(proowner) AS owner, coalesce(proacl::text[], '{}') AS acl"
        " FROM pg_proc WHERE oid = 'cachemon._push_metrics_1min()'::regprocedure"
    ).fetchone()
    assert row is not None
    assert [item.split("=")[0] for item in row["acl"]] in ([], [row["owner"]])


def _insert_events(conn: Conn, n: int) -> None:
    conn.execute(
        "INSERT INTO cachemon.cache_metrics (recorded_at, implementation_type, event_type,"
        " response_time_ms) SELECT now() - interval '2 minutes', 'new', 'hit', 1.5"
        " FROM generate_series(1, %s)",
        (n,),
    )


def test_an_idle_tick_does_not_rerun_the_auditor_for_a_minute_it_judged(conn: Conn) -> None:
    _insert_events(conn, 20)
    first = rollup.tick(conn)
    assert first.minutes_done == 1 and first.auditor == "ran"
    judged = conn.execute(
        "SELECT count(*) AS n FROM cachemon._audit_state"
        " WHERE last_window_end = date_trunc('minute', now())"
    ).fetchone()
    idle = rollup.tick(conn)
    if judged is not None and judged["n"] > 0:
        assert (idle.marks_claimed, idle.auditor) == (0, "skipped: minute already judged")
    else:  # the minute turned between the two statements: the auditor judges the new one
        assert idle.auditor == "ran"
    # New events: something is rolled up, so the auditor runs again in the same minute.
    _insert_events(conn, 5)
    assert rollup.tick(conn).auditor == "ran"
    # Another minute (p_now a minute later): judged afresh even with nothing new.
    later = conn.execute("SELECT now() + interval '1 minute' AS t").fetchone()
    assert later is not None
    assert rollup.tick(conn, later["t"]).auditor == "ran"


def test_an_idle_tick_without_any_judged_minute_runs_the_auditor(conn: Conn) -> None:
    # No data at all: the auditor has no state rows, so nothing says the minute was judged.
    assert rollup.tick(conn).auditor == "ran"
    assert rollup.tick(conn).auditor == "ran"


VALUES = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=5),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    verb=st.sampled_from(["hit", "miss", "set", "evict"]),
    key=st.one_of(st.none(), st.text(max_size=20), st.integers(), st.binary(max_size=5)),
    rt=VALUES,
    size=VALUES,
)
def test_a_recorder_records_or_refuses_exactly_as_the_collector_verbs(
    verb: str, key: object, rt: object, size: object
) -> None:
    a = Collector("postgresql://u@127.0.0.1:1/x", batch_size=10**6)
    b = Collector("postgresql://u@127.0.0.1:1/x", batch_size=10**6)
    rec = a.recorder("new")
    outcome: list[tuple[type[Exception], str] | None] = []
    calls: tuple[Callable[[], object], ...] = (
        lambda: getattr(rec, verb)(key, rt, size),
        lambda: getattr(b, f"record_cache_{verb}")(key, "new", rt, size),
    )
    for call in calls:
        try:
            call()
            outcome.append(None)
        except (TypeError, ValueError) as exc:
            outcome.append((type(exc), str(exc)))
    assert outcome[0] == outcome[1]
    assert [e[1:] for e in a._buf] == [e[1:] for e in b._buf]


def test_a_recorder_checks_its_implementation_once_and_records_errors() -> None:
    c = Collector("postgresql://u@127.0.0.1:1/x", batch_size=10**6)
    with pytest.raises(ValueError, match="implementation_type"):
        c.recorder("")
    rec = c.recorder("new")
    rec.error("k", "TimeoutError", "slow", 2.5, 7)
    with pytest.raises(ValueError, match="error_type"):
        rec.error("k", "", None)
    assert [e[1:] for e in c._buf] == [
        ("error", "new", "k", 2.5, 7, "TimeoutError", "slow"),
    ]
    off = Collector("postgresql://u@127.0.0.1:1/x", enabled=False).recorder("new")
    off.hit("k", 1.0, 1)  # a disabled collector's recorder does nothing


def test_a_recorder_batch_reaches_the_database(db_url: str, conn: Conn) -> None:
    c = Collector(db_url, batch_size=50, flush_interval=0.2).start()
    rec = c.recorder("legacy")
    for i in range(120):
        rec.hit(f"k{i}", 1.25, i)
    rec.miss("m", None, None)
    assert c.stop(30)
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE event_type = 'hit') AS hits,"
        " count(*) FILTER (WHERE event_type = 'miss') AS misses,"
        " min(implementation_type) AS impl FROM cachemon.cache_metrics"
    ).fetchone()
    assert row == {"hits": 120, "misses": 1, "impl": "legacy"}

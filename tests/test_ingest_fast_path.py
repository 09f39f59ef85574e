"""ingest_events' fast path changes speed, never the outcome.

The reference is the careful statement alone: ingest_events with its fast-path block cut out,
installed as cachemon.ingest_events_careful. For generated batches (valid events and values at
and across the edges of each field's domain: wrong JSON types, 100.0, "5", nulls, missing and
unknown fields, timestamps without an offset, control characters, non-objects), both must store
the same rows or refuse with the same SQLSTATE, message and detail.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.paths import sql_dir
from tests.rollup_helpers import Conn

FAST_BLOCK = re.compile(r"\n    -- The fast path:.*?\n    END;\n", re.S)
COLUMNS = (
    "recorded_at, implementation_type, event_type, cache_key, response_time_ms, cache_size, "
    "error_type, error_message"
)


def install_careful(conn: Conn) -> None:
    text = (sql_dir() / "functions" / "ingest_events.sql").read_text()
    text, cut = FAST_BLOCK.subn("\n", text)
    assert cut == 1, "the fast-path block of ingest_events.sql was not found"
    text = text.replace("cachemon.ingest_events(", "cachemon.ingest_events_careful(")
    text = text.replace("ingest_events.batch_id", "ingest_events_careful.batch_id")
    conn.execute(text.split("COMMENT ON FUNCTION")[0].encode())


def outcome(conn: Conn, fn: str, payload: str) -> tuple[str, Any]:
    batch = uuid.uuid4()
    with conn.transaction(force_rollback=True):
        try:
            with conn.transaction():
                conn.execute(f"SELECT cachemon.{fn}(%s::jsonb, %s)", (payload, batch))
        except psycopg.Error as exc:
            diag = exc.diag
            return "error", (diag.sqlstate, diag.message_primary, diag.message_detail)
        rows = conn.execute(
            f"SELECT {COLUMNS}, recorded_at > now() - interval '1 minute' AS defaulted "
            "FROM cachemon.cache_metrics WHERE batch_id = %s "
            f"ORDER BY {COLUMNS}",
            (batch,),
        ).fetchall()
        # Rows without recorded_at get now(), the same instant in both calls' transactions
        # only by accident: compare whether it was defaulted, not the instant.
        return "stored", [
            {**r, "recorded_at": None if r["defaulted"] and r["recorded_at"] else r["recorded_at"]}
            for r in rows
        ]


NOW = datetime.now(UTC).replace(microsecond=0)
recent = st.integers(min_value=0, max_value=3 * 24 * 60).map(lambda m: NOW - timedelta(minutes=m))
timestamps = st.one_of(
    recent.map(lambda t: t.isoformat()),  # +00:00
    recent.map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")),
    recent.map(lambda t: t.strftime("%Y-%m-%d %H:%M:%S+0000")),
    recent.map(lambda t: t.strftime("%Y-%m-%dt%H:%M:%S.123z")),
    recent.map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%S+00")),
    recent.map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%S")),  # no offset
    recent.map(lambda t: t.strftime("%Y-%m-%dT%H")),
    st.sampled_from(["2026-02-30T00:00:00Z", "now", "infinity", "", "2026-01-02T12"]),
)
texts = st.one_of(
    st.sampled_from(["new", "legacy", " new", "new ", "a\x1bb", "x\u202e", "", "x" * 65]),
    st.text(max_size=8),
)
numbers = st.one_of(
    st.integers(min_value=-5, max_value=2**63 + 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([100.0, 0.5, 1e-320, 86_400_000, 86_400_001, 2**63 - 1]),
)
json_values = st.one_of(
    st.none(), st.booleans(), numbers, texts, st.just([]), st.just(["x"]), st.just({"a": 1})
)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "recorded_at": st.one_of(timestamps, json_values),
    "implementation_type": st.one_of(st.sampled_from(["new", "legacy"]), json_values),
    "event_type": st.one_of(st.sampled_from(["hit", "miss", "error", "HIT"]), json_values),
    "cache_key": st.one_of(st.text(max_size=12), json_values),
    "response_time_ms": st.one_of(st.floats(0, 1000), json_values, st.just("5")),
    "cache_size": st.one_of(st.integers(0, 10**6), json_values, st.just("5")),
    "error_type": st.one_of(st.just("TimeoutError"), json_values),
    "error_message": st.one_of(st.just("no answer"), json_values),
}


@st.composite
def events(draw: st.DrawFn, valid: bool) -> Any:
    """An event: valid (every field from its domain), or with some fields drawn anywhere."""
    event: dict[str, Any] = {
        "recorded_at": draw(timestamps.filter(lambda s: s.endswith(("Z", "z", "00")))),
        "implementation_type": draw(st.sampled_from(["new", "legacy"])),
        "event_type": draw(st.sampled_from(["hit", "miss", "set", "evict", "error"])),
    }
    for field in ("cache_key", "response_time_ms", "cache_size", "error_type"):
        if draw(st.booleans()):
            event[field] = {
                "cache_key": draw(st.text(alphabet="abcdef0123", max_size=16)),
                "response_time_ms": draw(st.floats(0, 10_000)),
                "cache_size": draw(st.integers(0, 2**40)),
                "error_type": "TimeoutError",
            }[field]
    if valid:
        return event
    for field in draw(st.lists(st.sampled_from(sorted(FIELD_VALUES)), min_size=1, max_size=2)):
        if draw(st.booleans()):
            event[field] = draw(FIELD_VALUES[field])
        else:
            event.pop(field, None)
    if draw(st.integers(0, 9)) == 0:
        event[draw(st.sampled_from(["extra", "Cache_key", "batch_id", "received_at"]))] = 1
    if draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from([1, "x", None, [], [event]]))
    return event


batches = st.lists(st.one_of(events(True), events(False)), min_size=1, max_size=4)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(batch=batches)
def test_fast_path_and_careful_statement_agree(conn: Conn, batch: list[Any]) -> None:
    row = conn.execute("SELECT to_regproc('cachemon.ingest_events_careful') AS f").fetchone()
    if row is None or not row["f"]:
        install_careful(conn)
    payload = json.dumps(batch)
    assert outcome(conn, "ingest_events", payload) == outcome(
        conn, "ingest_events_careful", payload
    )


def test_the_fast_path_stores_a_valid_batch_and_falls_back_for_100_point_0(conn: Conn) -> None:
    """100.0 is refused by the fast path (bigint input) and stored as 100 by the careful one."""
    event = {"implementation_type": "new", "event_type": "hit", "cache_size": 100.0}
    row = conn.execute(
        "SELECT cachemon.ingest_events(%s::jsonb) AS n", (json.dumps([event, event]),)
    ).fetchone()
    assert row is not None and row["n"] == 2
    sizes = conn.execute("SELECT cache_size FROM cachemon.cache_metrics").fetchall()
    assert [r["cache_size"] for r in sizes] == [100, 100]


ODD_VALUES: list[Any] = [
    None,
    True,
    5,
    -1,
    100.0,
    1.5,
    1e-400,
    "5",
    "NaN",
    "Infinity",
    "",
    "x",
    [],
    ["x"],
    {"a": 1},
    "2026-01-02T03:04:05",
    "now",
    2**63,
    86_400_001,
]


def test_every_field_with_every_odd_value_agrees(conn: Conn) -> None:
    """Each field of a valid event replaced by (or without) each odd value: same outcome."""
    install_careful(conn)
    base = {
        "recorded_at": NOW.isoformat(),
        "implementation_type": "new",
        "event_type": "hit",
        "cache_key": "k",
        "response_time_ms": 1.5,
        "cache_size": 10,
        "error_type": "E",
        "error_message": "m",
    }
    cases: list[Any] = [[base], [base, {**base, "extra": 1}], [base, 5], [[base]]]
    for field in base:
        cases.append([base, {k: v for k, v in base.items() if k != field}])
        cases += [[base, {**base, field: value}] for value in ODD_VALUES]
    for batch in cases:
        payload = json.dumps(batch)
        fast = outcome(conn, "ingest_events", payload)
        assert fast == outcome(conn, "ingest_events_careful", payload), payload

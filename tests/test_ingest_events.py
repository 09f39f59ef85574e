"""cachemon.ingest_events: validation naming index, field and value; idempotency; privileges."""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg import sql
from psycopg.rows import dict_row

from tests.rollup_helpers import Conn, ingest

# Recent times: the database refuses events older than raw retention.
RECENT = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0).isoformat()
RECENT_US = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=123456).isoformat()


def count(conn: Conn) -> int:
    row = conn.execute("SELECT count(*) AS n FROM cachemon.cache_metrics").fetchone()
    assert row is not None
    return int(row["n"])


GOOD = {
    "implementation_type": "new",
    "event_type": "hit",
    "cache_key": "k1",
    "response_time_ms": 12.5,
    "cache_size": 450,
}


def test_stores_events_and_defaults_recorded_at(conn: Conn) -> None:
    events = [
        GOOD,
        {"implementation_type": "legacy", "event_type": "miss"},
        {
            "implementation_type": "legacy",
            "event_type": "error",
            "error_type": "RedisConnectionError",
            "error_message": "Connection timeout",
            "recorded_at": RECENT_US,
        },
    ]
    bid = uuid.uuid4()
    assert ingest(conn, events, bid) == 3
    rows = conn.execute(
        "SELECT implementation_type, event_type, cache_key, response_time_ms, cache_size,"
        " error_type, recorded_at, batch_id, recorded_at > now() - interval '1 minute' AS recent"
        " FROM cachemon.cache_metrics ORDER BY recorded_at"
    ).fetchall()
    assert [r["event_type"] for r in rows] == ["error", "hit", "miss"]
    assert rows[0]["recorded_at"].isoformat() == RECENT_US
    assert rows[1]["recent"] and rows[2]["recent"]
    assert {r["batch_id"] for r in rows} == {bid}
    assert rows[1]["cache_size"] == 450 and rows[1]["response_time_ms"] == 12.5


def test_same_batch_id_is_stored_once(conn: Conn) -> None:
    bid = uuid.uuid4()
    assert ingest(conn, [GOOD, GOOD], bid) == 2
    assert ingest(conn, [GOOD, GOOD], bid) == 0
    assert count(conn) == 2
    # Without a batch id every call is a new batch.
    assert ingest(conn, [GOOD]) == 1
    assert ingest(conn, [GOOD]) == 1
    assert count(conn) == 4


@pytest.mark.parametrize(
    ("event", "field", "value"),
    [
        ({**GOOD, "event_type": "hot"}, "event_type", '"hot"'),
        ({**GOOD, "implementation_type": ""}, "implementation_type", '""'),
        ({**GOOD, "implementation_type": "x" * 65}, "implementation_type", "xxxx"),
        ({**GOOD, "implementation_type": " new"}, "implementation_type", '" new"'),
        ({"event_type": "hit"}, "implementation_type", "(missing)"),
        ({**GOOD, "response_time_ms": -1}, "response_time_ms", "-1"),
        ({**GOOD, "response_time_ms": "12"}, "response_time_ms", '"12"'),
        ({**GOOD, "cache_size": 1.5}, "cache_size", "1.5"),
        ({**GOOD, "cache_size": -3}, "cache_size", "-3"),
        ({**GOOD, "recorded_at": "yesterday"}, "recorded_at", '"yesterday"'),
        ({**GOOD, "recorded_at": "2024-13-45T00:00:00Z"}, "recorded_at", "2024-13-45"),
        ({**GOOD, "cache_key": 5}, "cache_key", "5"),
        ({**GOOD, "error_type": "e" * 300}, "error_type", "eeee"),
    ],
)
def test_bad_event_refuses_whole_batch_naming_index_field_value(
    conn: Conn, event: dict[str, Any], field: str, value: str
) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
        ingest(conn, [GOOD, GOOD, event])
    message = str(info.value)
    assert "event 2" in message
    assert f'"{field}"' in message
    assert value in message
    assert count(conn) == 0


def test_unknown_field_and_non_array(conn: Conn) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue, match='event 0: unknown field "x"'):
        ingest(conn, [{**GOOD, "x": 1}])
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="JSON array"):
        ingest(conn, {"events": []})
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="event 1 must be a JSON object"):
        ingest(conn, [GOOD, 3])


def test_writer_role_may_ingest_and_public_may_not(conn: Conn, db_url: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    writer, nobody = f"w_{suffix}", f"n_{suffix}"
    conn.execute(
        sql.SQL("CREATE ROLE {} LOGIN IN ROLE cachemon_writer").format(sql.Identifier(writer))
    )
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(nobody)))
    try:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(writer)))
        bid = uuid.uuid4()
        assert ingest(conn, [GOOD], bid) == 1
        assert ingest(conn, [GOOD], bid) == 0
        conn.execute("RESET ROLE")
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(nobody)))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            ingest(conn, [GOOD])
    finally:
        conn.execute("RESET ROLE")
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(writer)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(nobody)))
    assert count(conn) == 1


def test_forget_ingested_batches_after_retention(conn: Conn) -> None:
    ingest(conn, [GOOD], uuid.uuid4())
    row = conn.execute("SELECT cachemon._forget_ingested_batches(now()) AS n").fetchone()
    assert row is not None and row["n"] == 0
    row = conn.execute(
        "SELECT cachemon._forget_ingested_batches(now() + interval '9 days') AS n"
    ).fetchone()
    assert row is not None and row["n"] == 1


json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=70).filter(lambda s: "\x00" not in s),
)
event_strategy = st.fixed_dictionaries(
    {},
    optional={
        "implementation_type": st.one_of(st.sampled_from(["new", "legacy", " x", ""]), json_scalar),
        "event_type": st.one_of(
            st.sampled_from(["hit", "miss", "set", "evict", "error"]), json_scalar
        ),
        "response_time_ms": st.one_of(st.floats(min_value=0, max_value=1e6), json_scalar),
        "cache_size": st.one_of(st.integers(min_value=0, max_value=10**12), json_scalar),
        "cache_key": json_scalar,
        "error_type": json_scalar,
        "recorded_at": st.one_of(st.just(RECENT), json_scalar),
    },
)


CONTROL = re.compile("[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _text_ok(value: object, limit: int) -> bool:
    return isinstance(value, str) and len(value) <= limit and not CONTROL.search(value)


def expected_valid(event: dict[str, Any]) -> bool:
    impl = event.get("implementation_type")
    if not (_text_ok(impl, 64) and isinstance(impl, str) and impl and impl == impl.strip()):
        return False
    if event.get("event_type") not in ("hit", "miss", "set", "evict", "error"):
        return False
    rt = event.get("response_time_ms")
    if rt is not None and (isinstance(rt, bool | str) or not (rt == 0 or 1e-6 <= rt <= 86_400_000)):
        return False
    size = event.get("cache_size")
    if size is not None and (
        isinstance(size, bool | str)
        or not (isinstance(size, int) or (isinstance(size, float) and size.is_integer()))
        or not (0 <= size <= 2**63 - 1)
    ):
        return False
    key = event.get("cache_key")
    if key is not None and not _text_ok(key, 4096):
        return False
    et = event.get("error_type")
    if et is not None and not _text_ok(et, 256):
        return False
    ra = event.get("recorded_at")
    return ra is None or ra == RECENT


@given(events=st.lists(event_strategy, max_size=5))
def test_property_accepts_exactly_the_valid_batches(
    conn: Conn, events: list[dict[str, Any]]
) -> None:
    before = count(conn)
    valid = all(expected_valid(e) for e in events)
    if valid:
        assert ingest(conn, events) == len(events)
        assert count(conn) == before + len(events)
    else:
        bad = next(i for i, e in enumerate(events) if not expected_valid(e))
        with pytest.raises(psycopg.errors.InvalidParameterValue, match=f"event {bad}\\b"):
            ingest(conn, events)
        assert count(conn) == before


def test_float_values_round_trip(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as c:
        ingest(c, [{**GOOD, "response_time_ms": 0.1 + 0.2}])
        row = c.execute("SELECT response_time_ms FROM cachemon.cache_metrics").fetchone()
        assert row is not None and math.isclose(row["response_time_ms"], 0.30000000000000004)


# --- The payload cap (ingest.max_payload_bytes) ----------------------------------------------


def test_an_oversized_payload_is_refused_before_it_is_read(conn: Conn) -> None:
    """One 20 MB field (the attack: a 200 MB field took the backend to 1.9 GB): refused, as
    the writer, before any event is read, with the size and the setting in the error; nothing
    stored, no batch id recorded. Within the cap the same shape is ingested."""
    conn.execute("SET ROLE cachemon_writer")
    huge = [{**GOOD, "error_message": "x" * 20_000_000}]
    with pytest.raises(
        psycopg.errors.InvalidParameterValue,
        match=r"payload is \d{8} bytes, above ingest\.max_payload_bytes = 16777216",
    ):
        ingest(conn, huge)
    conn.execute("RESET ROLE")
    assert count(conn) == 0
    row = conn.execute("SELECT count(*) AS n FROM cachemon._ingested_batches").fetchone()
    assert row == {"n": 0}
    conn.execute("SET ROLE cachemon_writer")
    assert ingest(conn, [GOOD] * 1000) == 1000


def test_the_payload_cap_is_a_validated_setting(conn: Conn) -> None:
    """An admin may lower it (here to 1 KiB: 20 events are refused, 2 are not) and may not
    set it outside [1024, 268435455] or to a non-integer."""
    conn.execute("SET ROLE cachemon_admin")
    conn.execute(
        "UPDATE cachemon._settings SET value = '1024' WHERE name = 'ingest.max_payload_bytes'"
    )
    for bad in ("1023", "268435456", "16 MB", "1e6"):
        with pytest.raises(
            psycopg.errors.InvalidParameterValue, match=r"ingest\.max_payload_bytes"
        ):
            conn.execute(
                "UPDATE cachemon._settings SET value = %s WHERE name = 'ingest.max_payload_bytes'",
                (bad,),
            )
    conn.execute("SET ROLE cachemon_writer")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="= 1024"):
        ingest(conn, [GOOD] * 20)
    assert ingest(conn, [GOOD] * 2) == 2

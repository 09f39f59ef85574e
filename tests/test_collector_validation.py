"""The collector's validation (orchestrator/collector/events.py) agrees with the SQL domains.

A value the collector accepts is one that COPY (the collector's path) and ingest_events store;
a value it refuses is refused at the call site with a ValueError naming the field. The SQL
side is the real cluster's CHECK constraints, never a copy of them.
"""

from __future__ import annotations

import functools
import json
import math
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.collector import events as ev
from orchestrator.collector.sink import BatchWriter
from orchestrator.errors import InvalidInput

CONTROL = [chr(c) for c in (*range(1, 32), *range(0x7F, 0xA0), *range(0x202A, 0x202F))] + [
    chr(c) for c in range(0x2066, 0x206A)
]


@pytest.fixture
def writer(db_url: str) -> Iterator[BatchWriter]:
    w = BatchWriter(db_url)
    try:
        yield w
    finally:
        w.close()


def _event(**fields: Any) -> ev.Event:
    base: dict[str, Any] = {
        "t": time.time(),
        "event_type": "hit",
        "impl": "new",
        "key": None,
        "rt": None,
        "size": None,
        "error_type": None,
        "error_message": None,
    }
    base.update(fields)
    return (
        base["t"],
        base["event_type"],
        base["impl"],
        base["key"],
        base["rt"],
        base["size"],
        base["error_type"],
        base["error_message"],
    )


def _stored_by_copy(writer: BatchWriter, event: ev.Event) -> bool:
    try:
        writer.write(uuid.uuid4(), [event])
    except InvalidInput:
        return False
    return True


def _stored_by_ingest_events(db_url: str, event: dict[str, Any]) -> bool:
    with psycopg.connect(db_url, autocommit=True) as conn:
        try:
            conn.execute("SELECT cachemon.ingest_events(%s::jsonb)", (json.dumps([event]),))
        except (psycopg.errors.InvalidParameterValue, psycopg.errors.CheckViolation):
            return False
    return True


def _outcome(check: Callable[[], object], field: str) -> bool:
    """Whether the check accepts; a refusal must name the field."""
    try:
        check()
    except ValueError as exc:
        assert field in str(exc), str(exc)
        return False
    return True


# --- the checks at their edges ----------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 0.0, -0.0, 1e-6, 2e-6, 12.5, 86_400_000, 86_400_000.0])
def test_response_time_accepted(value: float) -> None:
    assert ev.check_response_time(value) == float(value)


REFUSED_LATENCIES = (-1e-9, 5e-324, 1e-300, 9.99e-7, 86_400_000.000001, 9.9e307, math.inf)


@pytest.mark.parametrize("value", [*REFUSED_LATENCIES, math.nan, 10**400, True, "12", None])
def test_response_time_refused_naming_the_field(value: Any) -> None:
    with pytest.raises(ValueError, match="response_time_ms"):
        ev.check_response_time(value)


@pytest.mark.parametrize(
    ("value", "stored"), [(0, 0), (2**63 - 1, 2**63 - 1), (100.0, 100), (1e18, 10**18)]
)
def test_cache_size_accepted(value: Any, stored: int) -> None:
    assert ev.check_cache_size(value) == stored


@pytest.mark.parametrize("value", [-1, 2**63, 1.5, 1e19, math.nan, math.inf, True, "3", None])
def test_cache_size_refused_naming_the_field(value: Any) -> None:
    with pytest.raises(ValueError, match="cache_size"):
        ev.check_cache_size(value)


@pytest.mark.parametrize("char", CONTROL)
def test_control_and_bidi_characters_refused_in_names(char: str) -> None:
    with pytest.raises(ValueError, match="implementation_type") as info:
        ev.check_implementation_type("new" + char + "x")
    assert char not in str(info.value)  # shown escaped
    with pytest.raises(ValueError, match="error_type"):
        ev.check_error("Timeout" + char, None)
    with pytest.raises(ValueError, match="cache_key"):
        ev.check_cache_key("k" + char, full=True)
    ev.check_cache_key("k" + char, full=False)  # hashed before it is stored


def test_error_message_is_cleaned_not_refused() -> None:
    _, message = ev.check_error(
        "Timeout", "Traceback:\r\n  line 1\n\x1b[31mred\x1b[0m \u202eevil\t" + "x" * 5000
    )
    assert message is not None and not ev.has_forbidden(message)
    assert message.startswith("Traceback:   line 1 \ufffd[31mred\ufffd[0m \ufffdevil ")
    assert len(message) == ev.MAX_ERROR_MESSAGE_LENGTH


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02 03:04:05.25+01:00", datetime(2026, 1, 2, 2, 4, 5, 250000, tzinfo=UTC)),
        ("2026-01-02T03:04-0230", datetime(2026, 1, 2, 5, 34, tzinfo=UTC)),
        (
            datetime(2026, 1, 2, tzinfo=timezone(timedelta(hours=-5))),
            datetime(2026, 1, 2, 5, tzinfo=UTC),
        ),
        (1767225600, datetime(2026, 1, 1, tzinfo=UTC)),
    ],
)
def test_recorded_at_with_an_offset(value: Any, expected: datetime) -> None:
    assert ev.check_recorded_at(value) == expected.timestamp()


@pytest.mark.parametrize(
    "value",
    ["2026-01-02T03:04:05", "2026-01-02", datetime(2026, 1, 2), "yesterday", math.nan, "now"],
)
def test_recorded_at_without_an_offset_is_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="recorded_at"):
        ev.check_recorded_at(value)


def test_recorded_at_agrees_with_ingest_events(db_url: str) -> None:
    """Same texts, same verdicts: SQL needs an offset too (docs/security.md)."""
    recent = datetime.now(UTC) - timedelta(hours=1)
    texts = [
        recent.isoformat(),
        recent.strftime("%Y-%m-%dT%H:%M:%SZ"),
        recent.strftime("%Y-%m-%d %H:%M:%S+0000"),
        recent.strftime("%Y-%m-%dT%H:%M:%S"),
        recent.strftime("%Y-%m-%d"),
    ]
    for text in texts:
        python = _outcome(functools.partial(ev.check_recorded_at, text), "recorded_at")
        sql = _stored_by_ingest_events(
            db_url, {"implementation_type": "new", "event_type": "hit", "recorded_at": text}
        )
        assert python == sql, text


# --- property: what the collector accepts, the database stores --------------------------------

latencies = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0, max_value=1e8),
    st.sampled_from([0.0, 86_400_000.0, 86_400_000.000001, 5e-324, 1e-6, 9.99e-7, -0.0]),
    st.integers(min_value=-10, max_value=10**10),
)
sizes = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([0, 2**63 - 1, 2**63, 100.0, 1.5, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
)
texts = st.text(
    alphabet=st.one_of(st.characters(blacklist_categories=["Cs"]), st.sampled_from(CONTROL)),
    max_size=12,
)


@settings(max_examples=60)
@given(rt=latencies, size=sizes)
def test_numbers_the_collector_accepts_are_stored(
    writer: BatchWriter, db_url: str, rt: Any, size: Any
) -> None:
    rt_ok = _outcome(lambda: ev.check_response_time(rt), "response_time_ms")
    size_ok = _outcome(lambda: ev.check_cache_size(size), "cache_size")
    if rt_ok:
        assert _stored_by_copy(writer, _event(rt=ev.check_response_time(rt)))
        assert _stored_by_ingest_events(
            db_url, {"implementation_type": "new", "event_type": "hit", "response_time_ms": rt}
        )
    if size_ok:
        assert _stored_by_copy(writer, _event(size=ev.check_cache_size(size)))
        assert _stored_by_ingest_events(
            db_url, {"implementation_type": "new", "event_type": "set", "cache_size": size}
        )
    # And the converse for the table: a number the CHECKs refuse, the collector refuses.
    if isinstance(rt, float) and not (0 <= rt <= 86_400_000):
        assert not rt_ok


@settings(max_examples=60)
@given(name=texts, error_type=texts, message=texts, key=texts)
def test_texts_the_collector_accepts_are_stored(
    writer: BatchWriter, db_url: str, name: str, error_type: str, message: str, key: str
) -> None:
    name_ok = _outcome(lambda: ev.check_implementation_type(name), "implementation_type")
    type_ok = _outcome(lambda: ev.check_error(error_type, None), "error_type")
    key_ok = _outcome(lambda: ev.check_cache_key(key, full=True), "cache_key")
    if name_ok:
        assert _stored_by_copy(writer, _event(impl=name))
    if type_ok:
        _, cleaned = ev.check_error(error_type, message)  # a message is always accepted
        assert _stored_by_copy(
            writer, _event(event_type="error", error_type=error_type, error_message=cleaned)
        )
    if key_ok:
        assert _stored_by_copy(writer, _event(key=key))
    # Text holding a forbidden character is refused by both sides.
    if ev.has_forbidden(name):
        assert not name_ok
    if ev.has_forbidden(error_type):
        assert not type_ok

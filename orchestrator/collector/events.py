"""Cache events: validation at the call site, and their binary COPY encoding.

Validation applies the value domains of ``cachemon.cache_metrics`` (its CHECK constraints,
docs/security.md), so an event the collector accepts is one COPY stores, and an event it
refuses is refused at the call site with a ``ValueError`` naming the field:

- ``response_time_ms``: 0, or a number from 0.000001 (1 ns) to 86,400,000 (one day);
- ``cache_size``: an integer from 0 to 2**63 - 1 (an integral float such as 100.0 is 100);
- text (implementation_type, error_type, a key kept in full): no control characters (C0, DEL,
  C1) and no bidi controls (U+202A-U+202E, U+2066-U+2069); an error *message* is the
  application's diagnostic text, so it is cleaned instead (line breaks and tabs become spaces,
  other such characters U+FFFD) and cut to its column's length;
- ``recorded_at``: epoch seconds, an aware datetime, or ISO 8601 text with an explicit UTC
  offset (the rule of ``cachemon.ingest_events``); a naive time is refused, never guessed.

An event travels as a plain tuple, the cheapest thing to build on the caller's thread::

    (recorded_at_epoch, event_type, implementation_type, cache_key, response_time_ms,
     cache_size, error_type, error_message)

``recorded_at_epoch`` is ``time.time()`` when the event was recorded. The cache key is raw
until the flusher thread applies the key mode (``keys.py``); spooled events carry the key as
stored.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

EVENT_TYPES = ("hit", "miss", "set", "evict", "error")
MAX_IMPLEMENTATION_LENGTH = 64
MAX_KEY_LENGTH = 4096
MAX_ERROR_TYPE_LENGTH = 256
MAX_ERROR_MESSAGE_LENGTH = 4096
MAX_RESPONSE_TIME_MS = 86_400_000.0  # one day: cache_metrics_response_time_ms_check
# 1 ns: a latency above 0 and below it is refused (percentiles and variances of such values
# underflow in double precision, which PostgreSQL reports as an error).
MIN_RESPONSE_TIME_MS = 1e-6
MAX_CACHE_SIZE = 2**63 - 1  # bigint

# Characters no stored text may hold: NUL (PostgreSQL text cannot), C0, DEL, C1 and the bidi
# embedding/override/isolate controls. The same class as the CHECKs' regular expression
# '[\x01-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]' (plus NUL).
FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile("\r\n|[\r\n\t\v\f]")
# ISO 8601 with an explicit offset, the pattern cachemon.ingest_events accepts.
ISO_WITH_OFFSET = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
    r"([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)",
    re.ASCII,
)

Event = tuple[float, str, str, Any, float | None, int | None, str | None, str | None]

# Columns written by COPY, in this order.
COLUMNS = (
    "recorded_at",
    "implementation_type",
    "event_type",
    "cache_key",
    "response_time_ms",
    "cache_size",
    "error_type",
    "error_message",
    "batch_id",
)


def _show(value: object) -> str:
    """A short repr (``repr`` escapes control characters, so it is safe for a terminal)."""
    text = repr(value)
    if FORBIDDEN.search(text):  # repr escapes them already; never let one through
        text = text.encode("ascii", "backslashreplace").decode("ascii")
    return text if len(text) <= 80 else text[:77] + "..."


def has_forbidden(text: str) -> bool:
    """Whether ``text`` holds a character no stored text may hold (see ``FORBIDDEN``)."""
    return FORBIDDEN.search(text) is not None


def check_implementation_type(value: object) -> str:
    """The implementation name, or ``ValueError`` naming the field and the value."""
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= MAX_IMPLEMENTATION_LENGTH
        or value != value.strip()
        or has_forbidden(value)
    ):
        raise ValueError(
            f"implementation_type must be a string of 1 to {MAX_IMPLEMENTATION_LENGTH} "
            f"characters without surrounding blanks, control or bidi characters, "
            f"got {_show(value)}"
        )
    return value


def check_response_time(value: object) -> float:
    """A response time of 0 or from ``MIN_RESPONSE_TIME_MS`` to ``MAX_RESPONSE_TIME_MS``
    milliseconds, as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"response_time_ms must be a number >= 0, got {_show(value)}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range
        number = math.inf
    if not (number == 0.0 or MIN_RESPONSE_TIME_MS <= number <= MAX_RESPONSE_TIME_MS):
        raise ValueError(
            f"response_time_ms must be 0 or from {MIN_RESPONSE_TIME_MS:g} (1 ns) to "
            f"{MAX_RESPONSE_TIME_MS:.0f} (one day), got {_show(value)}"
        )
    return number


def check_cache_size(value: object) -> int:
    """A cache size: an integer from 0 to 2**63 - 1 (an integral float counts as its integer)."""
    if isinstance(value, float) and value.is_integer() and 0 <= value <= MAX_CACHE_SIZE:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CACHE_SIZE:
        raise ValueError(
            f"cache_size must be an integer from 0 to {MAX_CACHE_SIZE}, got {_show(value)}"
        )
    return value


def check_cache_key(value: object, full: bool) -> None:
    """A cache key is a str, bytes or None; kept in full, it must fit the column."""
    if value is None:
        return
    if not isinstance(value, str | bytes):
        raise ValueError(f"cache_key must be a str, bytes or None, got {_show(value)}")
    if not full:
        return
    text = value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value
    if len(text) > MAX_KEY_LENGTH or has_forbidden(text):
        raise ValueError(
            f"cache_key (key mode 'full') must have at most {MAX_KEY_LENGTH} characters "
            f"and no control or bidi characters, got {_show(value)}"
        )


def check_error(error_type: object, error_message: object) -> tuple[str, str | None]:
    """The error type (required) and message (optional, cut to the column's length)."""
    if (
        not isinstance(error_type, str)
        or not 1 <= len(error_type) <= MAX_ERROR_TYPE_LENGTH
        or has_forbidden(error_type)
    ):
        raise ValueError(
            f"error_type must be a string of 1 to {MAX_ERROR_TYPE_LENGTH} characters "
            f"without control or bidi characters, got {_show(error_type)}"
        )
    if error_message is None:
        return error_type, None
    if not isinstance(error_message, str):
        raise ValueError(f"error_message must be a string or None, got {_show(error_message)}")
    return error_type, clean_error_message(error_message)


def clean_error_message(message: str) -> str:
    """An error message as stored: the application's diagnostic text is cleaned, not refused.

    Line breaks and tabs become spaces, other control and bidi characters U+FFFD, and the
    result is cut to the column's length.
    """
    if has_forbidden(message):
        message = FORBIDDEN.sub("\ufffd", _SPACES.sub(" ", message))
    return message[:MAX_ERROR_MESSAGE_LENGTH]


def check_event_type(value: object) -> str:
    if value not in EVENT_TYPES:
        raise ValueError(f"event_type must be one of {', '.join(EVENT_TYPES)}, got {_show(value)}")
    return str(value)


def check_recorded_at(value: object) -> float:
    """``recorded_at`` from a file or an API, as epoch seconds: epoch seconds, an aware
    datetime, or an ISO 8601 string with an explicit UTC offset ("Z" or "+01:00"), the same
    rule as ``cachemon.ingest_events``. A time without an offset is refused: read in some
    session's TimeZone, it would silently mean another instant."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"recorded_at must be an aware datetime (e.g. datetime.now(UTC)), "
                f"got a naive {_show(value)}"
            )
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value):
            return float(value)
    elif isinstance(value, str):
        text = value.strip()
        if ISO_WITH_OFFSET.fullmatch(text):
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                pass
            else:
                return check_recorded_at(parsed)
    raise ValueError(
        "recorded_at must be epoch seconds or an ISO 8601 timestamp with a UTC offset "
        f"(e.g. 2026-01-02T03:04:05Z), got {_show(value)}"
    )


# --- binary COPY -------------------------------------------------------------------------

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)
_EPOCH_2000 = 946684800.0  # 2000-01-01 UTC, PostgreSQL's timestamp epoch, in Unix seconds
_NULL = b"\xff\xff\xff\xff"
_ROW_AND_TS = struct.Struct(">hiq")  # field count, length 8, microseconds since 2000
_F8 = struct.Struct(">id")
_I8 = struct.Struct(">iq")
_LEN = struct.Struct(">i")


def _text(value: str | None) -> bytes:
    if value is None:
        return _NULL
    data = value.encode("utf-8", "replace")
    return _LEN.pack(len(data)) + data


def encode_rows(events: Iterable[Event], batch_id: UUID, chunk_rows: int = 5000) -> Iterator[bytes]:
    """Binary COPY data (header, rows, trailer) for ``events``, in chunks of ``chunk_rows``.

    Keys must already be in their stored form (str or None). Hand-built rather than through
    psycopg's row dumpers: this is the flusher's inner loop, and one ``struct.pack`` plus a
    join per row is the cheapest way to turn an epoch float into a timestamptz.
    """
    batch_tail = _LEN.pack(16) + batch_id.bytes
    no_error_tail = _NULL + _NULL + batch_tail
    heads: dict[tuple[str, str], bytes] = {}
    keys: dict[str, bytes] = {}  # a batch's keys repeat (hashed keys: 16 hex digits)
    pack_ts, pack_f8, pack_i8, pack_len = _ROW_AND_TS.pack, _F8.pack, _I8.pack, _LEN.pack
    out: list[bytes] = [COPY_HEADER]
    append = out.append
    for rows, (t, et, impl, key, rt, size, err_type, err_msg) in enumerate(events, 1):
        head = heads.get((impl, et))
        if head is None:
            head = heads[(impl, et)] = _text(impl) + _text(et)
        if key is None:
            kb = _NULL
        else:
            cached = keys.get(key)
            if cached is None:
                data = key.encode("utf-8", "replace")
                kb = pack_len(len(data)) + data
                if len(keys) < 65_536:
                    keys[key] = kb
            else:
                kb = cached
        append(
            b"".join(
                (
                    pack_ts(9, 8, round((t - _EPOCH_2000) * 1e6)),
                    head,
                    kb,
                    _NULL if rt is None else pack_f8(8, rt),
                    _NULL if size is None else pack_i8(8, size),
                    no_error_tail
                    if err_type is None and err_msg is None
                    else _text(err_type) + _text(err_msg) + batch_tail,
                )
            )
        )
        if rows % chunk_rows == 0:
            yield b"".join(out)
            out.clear()
    append(COPY_TRAILER)
    yield b"".join(out)

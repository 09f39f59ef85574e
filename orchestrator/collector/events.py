"""Cache events: validation at the call site, and their binary COPY encoding.

An event travels as a plain tuple, the cheapest thing to build on the caller's thread::

    (recorded_at_epoch, event_type, implementation_type, cache_key, response_time_ms,
     cache_size, error_type, error_message)

``recorded_at_epoch`` is ``time.time()`` when the event was recorded. The cache key is raw
until the flusher thread applies the key mode (``keys.py``); spooled events carry the key as
stored.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

EVENT_TYPES = ("hit", "miss", "set", "evict", "error")
MAX_IMPLEMENTATION_LENGTH = 64
MAX_KEY_LENGTH = 4096
MAX_ERROR_TYPE_LENGTH = 256
MAX_ERROR_MESSAGE_LENGTH = 4096

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
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_implementation_type(value: object) -> str:
    """The implementation name, or ``ValueError`` naming the field and the value."""
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= MAX_IMPLEMENTATION_LENGTH
        or value != value.strip()
        or not value.isprintable()
    ):
        raise ValueError(
            f"implementation_type must be a printable string of 1 to "
            f"{MAX_IMPLEMENTATION_LENGTH} characters without surrounding blanks, "
            f"got {_show(value)}"
        )
    return value


def check_response_time(value: object) -> float:
    """A finite response time >= 0 in milliseconds, as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"response_time_ms must be a number >= 0, got {_show(value)}")
    number = float(value)
    if not (0.0 <= number < math.inf):
        raise ValueError(f"response_time_ms must be finite and >= 0, got {_show(value)}")
    return number


def check_cache_size(value: object) -> int:
    """A cache size: an integer from 0 to 2**63 - 1."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ValueError(f"cache_size must be an integer >= 0, got {_show(value)}")
    return value


def check_cache_key(value: object, full: bool) -> None:
    """A cache key is a str, bytes or None; kept in full, it must fit the column."""
    if value is None:
        return
    if not isinstance(value, str | bytes):
        raise ValueError(f"cache_key must be a str, bytes or None, got {_show(value)}")
    if full and (len(value) > MAX_KEY_LENGTH or "\x00" in str(value)):
        raise ValueError(
            f"cache_key (key mode 'full') must have at most {MAX_KEY_LENGTH} characters "
            f"and no NUL, got {_show(value)}"
        )


def check_error(error_type: object, error_message: object) -> tuple[str, str | None]:
    """The error type (required) and message (optional, cut to the column's length)."""
    if (
        not isinstance(error_type, str)
        or not 1 <= len(error_type) <= MAX_ERROR_TYPE_LENGTH
        or "\x00" in error_type
    ):
        raise ValueError(
            f"error_type must be a string of 1 to {MAX_ERROR_TYPE_LENGTH} characters, "
            f"got {_show(error_type)}"
        )
    if error_message is None:
        return error_type, None
    if not isinstance(error_message, str):
        raise ValueError(f"error_message must be a string or None, got {_show(error_message)}")
    # An error message is the application's diagnostic text: cut it rather than refuse it.
    return error_type, error_message[:MAX_ERROR_MESSAGE_LENGTH].replace("\x00", "\ufffd")


def check_event_type(value: object) -> str:
    if value not in EVENT_TYPES:
        raise ValueError(f"event_type must be one of {', '.join(EVENT_TYPES)}, got {_show(value)}")
    return str(value)


def check_recorded_at(value: object) -> float:
    """``recorded_at`` from a file or an API: epoch seconds, a datetime or an ISO 8601 string."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value):
            return float(value)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return check_recorded_at(parsed)
    raise ValueError(
        f"recorded_at must be an ISO 8601 timestamp or epoch seconds, got {_show(value)}"
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
            data = key.encode("utf-8", "replace")
            kb = pack_len(len(data)) + data
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

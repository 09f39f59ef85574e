"""A pre-bound recorder: one implementation's five verbs with the name checked once.

``collector.recorder('new')`` returns a ``Recorder`` whose ``hit``, ``miss``, ``set``,
``evict`` and ``error`` record events of that implementation::

    rec = collector.recorder("new")
    rec.hit(key, 1.5, 450)  # the event of collector.record_cache_hit(key, "new", 1.5, 450)

The implementation name is validated when the recorder is made, and each verb is a closure
over the collector's buffer and the fixed parts of its row, so a call does only what depends
on its arguments: the same value checks as the collector's verbs (the fast path for a float
latency, an int size and a str key; anything else goes through the same check functions and
raises the same errors), one ``deque.append`` and the batch-size test. Rows are identical to
the collector's own verbs' rows.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from orchestrator.collector.events import (
    MAX_RESPONSE_TIME_MS,
    MIN_RESPONSE_TIME_MS,
    check_cache_key,
    check_cache_size,
    check_implementation_type,
    check_response_time,
)


class _Bound(Protocol):
    """What a recorder uses of its collector (orchestrator.collector.Collector)."""

    enabled: bool
    batch_size: int
    _buf: deque[Any]
    _limit: int
    _full_keys: bool

    def _learn_impl(self, value: object) -> None: ...
    def _after_append(self, n: int) -> None: ...
    def record_cache_error(
        self,
        cache_key: Any,
        implementation_type: str,
        error_type: str,
        error_message: str | None = ...,
        response_time_ms: float | None = ...,
        cache_size: int | None = ...,
    ) -> None: ...


_RT_LIMIT = math.nextafter(MAX_RESPONSE_TIME_MS, math.inf)
_SIZE_LIMIT = 2**63

Verb = Callable[..., None]


def _noop(*args: object, **kwargs: object) -> None:
    return None


class Recorder:
    """The five verbs of one implementation, bound to one collector (see the module doc)."""

    __slots__ = ("collector", "error", "evict", "hit", "implementation_type", "miss", "set")

    hit: Verb
    miss: Verb
    set: Verb
    evict: Verb
    error: Verb

    def __init__(self, collector: _Bound, implementation_type: str) -> None:
        check_implementation_type(implementation_type)
        self.collector = collector
        self.implementation_type = implementation_type
        if not collector.enabled:
            self.hit = self.miss = self.set = self.evict = self.error = _noop
            return
        collector._learn_impl(implementation_type)
        self.hit = _verb(collector, implementation_type, "hit")
        self.miss = _verb(collector, implementation_type, "miss")
        self.set = _verb(collector, implementation_type, "set")
        self.evict = _verb(collector, implementation_type, "evict")
        self.error = _error_verb(collector, implementation_type)

    def __repr__(self) -> str:
        return f"Recorder({self.implementation_type!r})"


def _verb(collector: _Bound, impl: str, event_type: str) -> Verb:
    append = collector._buf.append
    buf_len = collector._buf.__len__
    full_keys = collector._full_keys
    batch_size = collector.batch_size
    after_append = collector._after_append
    now = time.time
    lo = MIN_RESPONSE_TIME_MS
    hi = _RT_LIMIT
    size_hi = _SIZE_LIMIT

    fast_keys = not full_keys

    def checked(cache_key: Any, rt: Any, size: Any) -> tuple[Any, float | None, int | None]:
        # The collector verbs' checks, in their order (the same errors, the same values).
        if rt is not None and not (type(rt) is float and lo <= rt < hi):
            rt = check_response_time(rt)
        if size is not None and not (type(size) is int and 0 <= size < size_hi):
            size = check_cache_size(size)
        if cache_key is not None and (full_keys or type(cache_key) is not str):
            check_cache_key(cache_key, full_keys)
        return cache_key, rt, size

    def record(
        cache_key: Any, response_time_ms: float | None = None, cache_size: int | None = None
    ) -> None:
        # One test for the common case (a float latency in range, an int size, a str key in
        # hash mode, or None for any of them); anything else takes the verbs' checks.
        if not (
            (
                (type(response_time_ms) is float and lo <= response_time_ms < hi)
                or response_time_ms is None
            )
            and ((type(cache_size) is int and 0 <= cache_size < size_hi) or cache_size is None)
            and ((type(cache_key) is str and fast_keys) or cache_key is None)
        ):
            cache_key, response_time_ms, cache_size = checked(
                cache_key, response_time_ms, cache_size
            )
        append((now(), event_type, impl, cache_key, response_time_ms, cache_size, None, None))
        n = buf_len()
        if n == batch_size or n >= collector._limit:
            after_append(n)

    record.__name__ = record.__qualname__ = event_type
    record.__doc__ = (
        f"Record a {event_type} of {impl!r}: (cache_key, response_time_ms, cache_size)."
    )
    return record


def _error_verb(collector: _Bound, impl: str) -> Verb:
    record_error = collector.record_cache_error

    def error(
        cache_key: Any,
        error_type: str,
        error_message: str | None = None,
        response_time_ms: float | None = None,
        cache_size: int | None = None,
    ) -> None:
        record_error(cache_key, impl, error_type, error_message, response_time_ms, cache_size)

    error.__doc__ = (
        f"Record a failed operation of {impl!r}: (cache_key, error_type, error_message,"
        " response_time_ms, cache_size)."
    )
    return error

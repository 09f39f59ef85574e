"""Instrumentation helpers: time cache calls without writing timing code.

``collector.lookup(key, 'new')`` is a context manager around one lookup::

    with collector.lookup(key, "new") as op:
        value = cache.get(key)
        op.hit() if value is not None else op.miss()

It records a hit or a miss (a miss when neither was called) with the block's duration, and an
error (the exception's class name and message) when the block raises; the exception
propagates. ``instrument(cache, 'new', collector)`` wraps any object with ``get``/``set``
(a dict-like cache, a redis-py client): ``get`` records a hit when the result is not None
(or when ``is_hit(result)``), ``set`` records a set, and everything else passes through.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol

from orchestrator.collector.events import (
    check_implementation_type as _check_implementation_type,
)

_clock = time.perf_counter


class _Recorder(Protocol):
    def record_cache_hit(
        self,
        cache_key: Any,
        implementation_type: str,
        response_time_ms: float | None = ...,
        cache_size: int | None = ...,
    ) -> None: ...
    def record_cache_miss(
        self,
        cache_key: Any,
        implementation_type: str,
        response_time_ms: float | None = ...,
        cache_size: int | None = ...,
    ) -> None: ...
    def record_cache_set(
        self,
        cache_key: Any,
        implementation_type: str,
        response_time_ms: float | None = ...,
        cache_size: int | None = ...,
    ) -> None: ...
    def record_cache_error(
        self,
        cache_key: Any,
        implementation_type: str,
        error_type: str,
        error_message: str | None = ...,
        response_time_ms: float | None = ...,
        cache_size: int | None = ...,
    ) -> None: ...


class Operation:
    """One timed cache operation; mark its outcome with ``hit()``, ``miss()`` or ``set()``."""

    __slots__ = ("_collector", "_kind", "_size", "_start", "cache_key", "implementation_type")

    def __init__(self, collector: _Recorder, cache_key: Any, implementation_type: str, kind: str):
        self._collector = collector
        self.cache_key = cache_key
        self.implementation_type = implementation_type
        self._kind = kind
        self._size: int | None = None
        self._start = 0.0

    def hit(self, cache_size: int | None = None) -> None:
        self._kind, self._size = "hit", cache_size

    def miss(self, cache_size: int | None = None) -> None:
        self._kind, self._size = "miss", cache_size

    def set(self, cache_size: int | None = None) -> None:
        self._kind, self._size = "set", cache_size

    def __enter__(self) -> Operation:
        self._start = _clock()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        elapsed_ms = (_clock() - self._start) * 1000.0
        c = self._collector
        if exc_type is not None:
            c.record_cache_error(
                self.cache_key,
                self.implementation_type,
                exc_type.__name__[:256],
                str(exc)[:4096] if exc is not None else None,
                elapsed_ms,
                self._size,
            )
            return
        record = {
            "hit": c.record_cache_hit,
            "miss": c.record_cache_miss,
            "set": c.record_cache_set,
        }[self._kind]
        record(self.cache_key, self.implementation_type, elapsed_ms, self._size)


class InstrumentedCache:
    """A proxy for an object with ``get`` and ``set`` that records every call."""

    def __init__(
        self,
        cache: Any,
        implementation_type: str,
        collector: _Recorder,
        *,
        is_hit: Callable[[Any], bool] | None = None,
        cache_size: Callable[[Any], int | None] | None = None,
    ) -> None:
        self._cache = cache
        self._impl = _check_implementation_type(implementation_type)
        self._collector = collector
        self._is_hit = is_hit or (lambda value: value is not None)
        self._cache_size = cache_size

    def _size(self) -> int | None:
        return self._cache_size(self._cache) if self._cache_size is not None else None

    def get(self, key: Any, *args: Any, **kwargs: Any) -> Any:
        with Operation(self._collector, key, self._impl, "miss") as op:
            value = self._cache.get(key, *args, **kwargs)
            if self._is_hit(value):
                op.hit(self._size())
            else:
                op.miss(self._size())
        return value

    def set(self, key: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        with Operation(self._collector, key, self._impl, "set") as op:
            result = self._cache.set(key, value, *args, **kwargs)
            op.set(self._size())
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cache, name)

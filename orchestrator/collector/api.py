"""The module-level collector (``record_cache_hit`` ...), configured from the environment.

``await start_collector()`` starts the default collector; ``record_cache_*`` record on it
(events recorded before the start wait in its bounded buffer); ``await stop_collector()``
flushes what remains. With ``CACHE_METRICS_ENABLED=false`` every call is a cheap no-op.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from orchestrator.collector.collector import Collector
from orchestrator.collector.instrument import InstrumentedCache, _Recorder
from orchestrator.collector.stats import CollectorStats

_default: Collector | None = None
_lock = threading.Lock()


def get_collector() -> Collector:
    """The default collector (created from the environment on first use, not started)."""
    global _default
    collector = _default
    if collector is None:
        with _lock:
            if _default is None:
                _default = Collector()
            collector = _default
    return collector


async def start_collector(database_url: str | None = None, **options: Any) -> Collector:
    """Start the default collector. Options as for ``Collector``; the first call configures it."""
    global _default
    with _lock:
        if _default is None or ((options or database_url) and _default._thread is None):
            previous = _default
            _default = Collector(database_url, **options)
            if previous is not None:  # keep what was recorded before the start
                _default._buf.extend(previous._buf)
                previous._buf.clear()
        collector = _default
    return collector.start()


async def stop_collector(timeout: float | None = None) -> bool:
    """Flush the default collector (at most ``timeout`` seconds) and stop it."""
    collector = _default
    if collector is None:
        return True
    return await asyncio.to_thread(collector.stop, timeout)


def get_collector_stats() -> CollectorStats:
    """The default collector's statistics (``CollectorStats``; ``.as_dict()`` for a dict)."""
    return get_collector().stats()


def instrument(
    cache: Any,
    implementation_type: str,
    collector: _Recorder | None = None,
    *,
    is_hit: Callable[[Any], bool] | None = None,
    cache_size: Callable[[Any], int | None] | None = None,
) -> InstrumentedCache:
    """Wrap ``cache`` (anything with ``get``/``set``) so each call is recorded (on the default
    collector unless ``collector`` is given)."""
    return InstrumentedCache(
        cache,
        implementation_type,
        collector if collector is not None else get_collector(),
        is_hit=is_hit,
        cache_size=cache_size,
    )


def record_cache_hit(
    cache_key: Any,
    implementation_type: str,
    response_time_ms: float | None = None,
    cache_size: int | None = None,
) -> None:
    (_default or get_collector()).record_cache_hit(
        cache_key, implementation_type, response_time_ms, cache_size
    )


def record_cache_miss(
    cache_key: Any,
    implementation_type: str,
    response_time_ms: float | None = None,
    cache_size: int | None = None,
) -> None:
    (_default or get_collector()).record_cache_miss(
        cache_key, implementation_type, response_time_ms, cache_size
    )


def record_cache_set(
    cache_key: Any,
    implementation_type: str,
    response_time_ms: float | None = None,
    cache_size: int | None = None,
) -> None:
    (_default or get_collector()).record_cache_set(
        cache_key, implementation_type, response_time_ms, cache_size
    )


def record_cache_evict(
    cache_key: Any,
    implementation_type: str,
    response_time_ms: float | None = None,
    cache_size: int | None = None,
) -> None:
    (_default or get_collector()).record_cache_evict(
        cache_key, implementation_type, response_time_ms, cache_size
    )


def record_cache_error(
    cache_key: Any,
    implementation_type: str,
    error_type: str,
    error_message: str | None = None,
    response_time_ms: float | None = None,
    cache_size: int | None = None,
) -> None:
    (_default or get_collector()).record_cache_error(
        cache_key, implementation_type, error_type, error_message, response_time_ms, cache_size
    )

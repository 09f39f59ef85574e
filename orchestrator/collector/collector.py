"""The collector: record cache events on the caller's thread, store them from a flusher thread.

The caller's work is a few type checks and one ``deque.append`` of a tuple; it never touches
the network and never raises because of the database. A daemon thread (the flusher) applies
the key mode, encodes rows for binary COPY and writes batches through ``BatchWriter``, which
makes each batch count once (see ``sink.py``).

Order and bounds. Events leave the in-memory buffer only in order, into an *outbox* of
batches (in memory, or lines of spool files) that the flusher delivers strictly head first.
A batch that failed stays at the head and is retried, with the same batch id, after a backoff
with jitter; nothing behind it is sent before it. Memory holds at most ``max_buffer`` events
(buffer plus the batch being retried); beyond that, events go to the spool when
``spool_dir`` is set (the whole buffer, oldest first, so the spool stays ahead of memory in
the outbox), else the oldest are dropped and counted.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator.collector import config
from orchestrator.collector.edge import check_mode, default_source
from orchestrator.collector.events import (
    EVENT_TYPES,
    MAX_IMPLEMENTATION_LENGTH,
    MAX_RESPONSE_TIME_MS,
    MIN_RESPONSE_TIME_MS,
    check_cache_key,
    check_cache_size,
    check_error,
    check_implementation_type,
    check_recorded_at,
    check_response_time,
)
from orchestrator.collector.flusher import Flusher
from orchestrator.collector.instrument import Operation
from orchestrator.collector.keys import check_key_mode
from orchestrator.collector.lifecycle import live as _live
from orchestrator.collector.recorder import Recorder
from orchestrator.collector.sink import BatchWriter
from orchestrator.collector.spool import SpoolFile
from orchestrator.collector.state import _MemBatch
from orchestrator.collector.stats import CollectorStats

log = logging.getLogger("cachemon.collector")

# The fast path's bounds: ``x < _RT_LIMIT`` is ``x <= MAX_RESPONSE_TIME_MS`` for a float;
# 0.0 and everything outside [MIN_RESPONSE_TIME_MS, MAX] take check_response_time.
_RT_LIMIT = math.nextafter(MAX_RESPONSE_TIME_MS, math.inf)
_time = time.time


def _noop(*args: object, **kwargs: object) -> None:
    return None


class Collector(Flusher):
    """Buffers cache events and stores them in ``cachemon.cache_metrics``, each once.

    Arguments left ``None`` come from the environment: ``CACHEMON_DATABASE_URL`` (else
    ``DATABASE_URL``), ``CACHE_METRICS_ENABLED`` (true), ``CACHE_METRICS_BATCH_SIZE`` (100),
    ``CACHE_METRICS_FLUSH_INTERVAL`` (60 s), ``CACHE_METRICS_MAX_BUFFER`` (100000),
    ``CACHE_METRICS_MAX_BATCH`` (10000), ``CACHE_METRICS_SPOOL_DIR`` (none),
    ``CACHE_METRICS_KEY_MODE`` (hash), ``CACHE_METRICS_STOP_TIMEOUT`` (10 s),
    ``CACHE_METRICS_RETRY_MAX_DELAY`` (30 s), ``CACHE_METRICS_PERMANENT_RETRY_DELAY`` (60 s:
    the pace of retries after an error a human must fix, e.g. a wrong password),
    ``CACHE_METRICS_MODE`` (``events``: every event is a row; ``aggregate``: one edge row per
    process, minute, implementation and event type, see ``edge.py``) and
    ``CACHE_METRICS_SAMPLE_RATE`` (aggregate mode, unset by default: when set, every error
    and this share of the other events are sent as raw events instead of being aggregated,
    for drill-down).
    """

    def __init__(
        self,
        database_url: str | None = None,
        batch_size: int | None = None,
        flush_interval: float | None = None,
        *,
        enabled: bool | None = None,
        max_buffer: int | None = None,
        max_batch: int | None = None,
        spool_dir: str | os.PathLike[str] | None = None,
        key_mode: str | None = None,
        stop_timeout: float | None = None,
        retry_max_delay: float | None = None,
        retry_base_delay: float = 0.5,
        permanent_retry_delay: float | None = None,
        source: str = "collector",
        mode: str | None = None,
        sample_rate: float | None = None,
        edge_grace: float = 5.0,
        edge_source: str | None = None,
    ) -> None:
        env = config
        self.mode = check_mode(mode or os.environ.get("CACHE_METRICS_MODE", "").strip() or "events")
        if sample_rate is None:
            sample_rate = env.env_value("CACHE_METRICS_SAMPLE_RATE", float, -1.0, "a number")
            sample_rate = None if sample_rate == -1.0 else sample_rate
        self.sample_rate = None if sample_rate is None else config.share("sample_rate", sample_rate)
        self.edge_grace = config.positive_float("edge_grace", edge_grace)
        self.edge_source = edge_source or default_source()
        if not 1 <= len(self.edge_source) <= 128:
            raise ValueError(f"edge_source: 1 to 128 characters, got {self.edge_source!r}")
        self.enabled = (
            env.env_bool("CACHE_METRICS_ENABLED", True) if enabled is None else bool(enabled)
        )
        self.batch_size = config.positive_int(
            "batch_size",
            batch_size
            if batch_size is not None
            else env.env_value("CACHE_METRICS_BATCH_SIZE", int, 100, "an integer"),
        )
        self.flush_interval = config.positive_float(
            "flush_interval",
            flush_interval
            if flush_interval is not None
            else env.env_value("CACHE_METRICS_FLUSH_INTERVAL", float, 60.0, "a number"),
        )
        self.max_buffer = config.positive_int(
            "max_buffer",
            max_buffer
            if max_buffer is not None
            else env.env_value("CACHE_METRICS_MAX_BUFFER", int, 100_000, "an integer"),
        )
        self.max_batch = config.positive_int(
            "max_batch",
            max_batch
            if max_batch is not None
            else env.env_value("CACHE_METRICS_MAX_BATCH", int, 10_000, "an integer"),
        )
        self.key_mode = check_key_mode(
            key_mode or os.environ.get("CACHE_METRICS_KEY_MODE", "").strip() or "hash"
        )
        self.stop_timeout = config.positive_float(
            "stop_timeout",
            stop_timeout
            if stop_timeout is not None
            else env.env_value("CACHE_METRICS_STOP_TIMEOUT", float, 10.0, "a number"),
        )
        self.retry_max_delay = config.positive_float(
            "retry_max_delay",
            retry_max_delay
            if retry_max_delay is not None
            else env.env_value("CACHE_METRICS_RETRY_MAX_DELAY", float, 30.0, "a number"),
        )
        self.retry_base_delay = config.positive_float("retry_base_delay", retry_base_delay)
        self.permanent_retry_delay = config.positive_float(
            "permanent_retry_delay",
            permanent_retry_delay
            if permanent_retry_delay is not None
            else env.env_value("CACHE_METRICS_PERMANENT_RETRY_DELAY", float, 60.0, "a number"),
        )
        spool_path = spool_dir or os.environ.get("CACHE_METRICS_SPOOL_DIR", "").strip() or None
        self.spool_dir = Path(spool_path) if spool_path else None
        self.database_url = database_url
        self.source = source
        self._full_keys = self.key_mode == "full"
        self._known_impls: set[str] = set()
        self._thread: threading.Thread | None = None
        self._writer: BatchWriter | None = None
        self._init_state()
        if not self.enabled:
            # Every verb becomes a no-op: one attribute lookup and an empty call.
            for verb in ("hit", "miss", "set", "evict", "error"):
                setattr(self, f"record_cache_{verb}", _noop)
        _live.add(self)

    # -- state ------------------------------------------------------------------------------

    def record_cache_hit(
        self,
        cache_key: Any,
        implementation_type: str,
        response_time_ms: float | None = None,
        cache_size: int | None = None,
    ) -> None:
        """Record a cache hit (the key was found)."""
        try:
            known = implementation_type in self._known_impls
        except TypeError:  # unhashable: certainly not a name
            known = False
        if not known:
            self._learn_impl(implementation_type)
        if response_time_ms is not None and not (
            type(response_time_ms) is float and MIN_RESPONSE_TIME_MS <= response_time_ms < _RT_LIMIT
        ):
            response_time_ms = check_response_time(response_time_ms)
        if cache_size is not None and not (type(cache_size) is int and 0 <= cache_size < 2**63):
            cache_size = check_cache_size(cache_size)
        if cache_key is not None and (type(cache_key) is not str or self._full_keys):
            check_cache_key(cache_key, self._full_keys)
        buf = self._buf
        buf.append(
            (
                _time(),
                "hit",
                implementation_type,
                cache_key,
                response_time_ms,
                cache_size,
                None,
                None,
            )
        )
        n = len(buf)
        if n == self.batch_size or n >= self._limit:
            self._after_append(n)

    def record_cache_miss(
        self,
        cache_key: Any,
        implementation_type: str,
        response_time_ms: float | None = None,
        cache_size: int | None = None,
    ) -> None:
        """Record a cache miss (the key was not found)."""
        self._record("miss", cache_key, implementation_type, response_time_ms, cache_size)

    def record_cache_set(
        self,
        cache_key: Any,
        implementation_type: str,
        response_time_ms: float | None = None,
        cache_size: int | None = None,
    ) -> None:
        """Record that a value was stored in the cache."""
        self._record("set", cache_key, implementation_type, response_time_ms, cache_size)

    def record_cache_evict(
        self,
        cache_key: Any,
        implementation_type: str,
        response_time_ms: float | None = None,
        cache_size: int | None = None,
    ) -> None:
        """Record that an entry was evicted."""
        self._record("evict", cache_key, implementation_type, response_time_ms, cache_size)

    def record_cache_error(
        self,
        cache_key: Any,
        implementation_type: str,
        error_type: str,
        error_message: str | None = None,
        response_time_ms: float | None = None,
        cache_size: int | None = None,
    ) -> None:
        """Record a failed cache operation (``error_type`` e.g. the exception's class name)."""
        error_type, error_message = check_error(error_type, error_message)
        self._record(
            "error",
            cache_key,
            implementation_type,
            response_time_ms,
            cache_size,
            error_type,
            error_message,
        )

    def record(
        self,
        event_type: str,
        cache_key: Any,
        implementation_type: str,
        response_time_ms: float | None = None,
        cache_size: int | None = None,
        error_type: str | None = None,
        error_message: str | None = None,
        *,
        recorded_at: float | datetime | str,
    ) -> None:
        """Record an event that happened at ``recorded_at`` (epoch seconds, an aware datetime
        or ISO text with a UTC offset; a naive time is refused, never guessed).

        For replaying or importing events; live code uses the ``record_cache_*`` verbs, which
        stamp the current time.
        """
        if event_type not in EVENT_TYPES:
            raise ValueError(f"event_type: expected one of {EVENT_TYPES}, got {event_type!r}")
        at = check_recorded_at(recorded_at)
        if event_type == "error":
            error_type, error_message = check_error(error_type, error_message)
        elif error_type is not None or error_message is not None:
            raise ValueError(f"error_type: only error events carry one, got {error_type!r}")
        self._record(
            event_type,
            cache_key,
            implementation_type,
            response_time_ms,
            cache_size,
            error_type,
            error_message,
            at,
        )

    def _record(
        self,
        event_type: str,
        cache_key: Any,
        implementation_type: str,
        response_time_ms: float | None,
        cache_size: int | None,
        error_type: str | None = None,
        error_message: str | None = None,
        at: float | None = None,
    ) -> None:
        try:
            known = implementation_type in self._known_impls
        except TypeError:  # unhashable: certainly not a name
            known = False
        if not known:
            self._learn_impl(implementation_type)
        if response_time_ms is not None and not (
            type(response_time_ms) is float and MIN_RESPONSE_TIME_MS <= response_time_ms < _RT_LIMIT
        ):
            response_time_ms = check_response_time(response_time_ms)
        if cache_size is not None and not (type(cache_size) is int and 0 <= cache_size < 2**63):
            cache_size = check_cache_size(cache_size)
        if cache_key is not None and (type(cache_key) is not str or self._full_keys):
            check_cache_key(cache_key, self._full_keys)
        buf = self._buf
        buf.append(
            (
                _time() if at is None else at,
                event_type,
                implementation_type,
                cache_key,
                response_time_ms,
                cache_size,
                error_type,
                error_message,
            )
        )
        n = len(buf)
        if n == self.batch_size or n >= self._limit:
            self._after_append(n)

    def _learn_impl(self, value: object) -> None:
        check_implementation_type(value)
        assert isinstance(value, str) and len(value) <= MAX_IMPLEMENTATION_LENGTH
        if len(self._known_impls) < 10_000:  # a runaway set of names must not grow memory
            self._known_impls.add(value)

    def _after_append(self, n: int) -> None:
        if n >= self._limit:
            self._overflow()
        self._wake.set()

    # -- instrumentation --------------------------------------------------------------------

    def recorder(self, implementation_type: str) -> Recorder:
        """The five verbs of one implementation, its name checked once:
        ``rec = c.recorder('new'); rec.hit(key, 1.5, 450)`` records what
        ``c.record_cache_hit(key, 'new', 1.5, 450)`` records, at less cost per call."""
        return Recorder(self, implementation_type)

    def lookup(self, cache_key: Any, implementation_type: str) -> Operation:
        """A timed lookup: ``with c.lookup(key, 'new') as op: ...; op.hit()`` (default: miss)."""
        return Operation(self, cache_key, implementation_type, "miss")

    def store(self, cache_key: Any, implementation_type: str) -> Operation:
        """A timed write: ``with c.store(key, 'new'): cache.set(key, value)`` records a set."""
        return Operation(self, cache_key, implementation_type, "set")

    # -- control ----------------------------------------------------------------------------

    def start(self) -> Collector:
        """Start the flusher thread (idempotent). Does not wait for the database."""
        if not self.enabled or (self._thread is not None and self._thread.is_alive()):
            return self
        self._stopping = False
        self._started = True
        if self._writer is None:
            self._writer = BatchWriter(self.database_url, source=self.source)
        self._thread = threading.Thread(
            target=self._run, name="cachemon-collector-flusher", daemon=True
        )
        self._thread.start()
        return self

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything recorded so far; True when it is stored (False: timed out)."""
        if not self.enabled:
            return True
        if self._thread is None or not self._thread.is_alive():
            return not self._buf and not self._outbox
        with self._done:
            self._flush_requested += 1
            target = self._flush_requested
        self._wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._done:
            while self._flush_done < target:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._done.wait(remaining)
        return True

    def stop(self, timeout: float | None = None) -> bool:
        """Flush for at most ``timeout`` seconds (default ``stop_timeout``), then stop.

        What could not be sent goes to the spool (or is counted as dropped without one).
        Returns True when everything recorded was stored or spooled.
        """
        if not self.enabled:
            return True
        timeout = self.stop_timeout if timeout is None else timeout
        thread = self._thread
        if thread is None or not thread.is_alive():
            self._final_spool()
            return self._stopped_clean()
        self._stop_deadline = time.monotonic() + timeout
        self._lost_at_stop = 0
        self._stopping = True
        self._wake.set()
        thread.join(timeout + 30)  # bounded by connect_timeout and tcp_user_timeout
        self._thread = None
        return self._stopped_clean()

    def _stopped_clean(self) -> bool:
        with self._lock:
            in_memory = bool(self._buf) or any(isinstance(i, _MemBatch) for i in self._outbox)
        return not in_memory and not self._lost_at_stop

    def stats(self) -> CollectorStats:
        with self._lock:
            in_memory = len(self._buf) + sum(
                len(i.events) for i in self._outbox if isinstance(i, _MemBatch)
            )
            spooled = sum(i.events for i in self._outbox if isinstance(i, SpoolFile))
            taken = self._taken
        return CollectorStats(
            collected=taken + len(self._buf) - self._replayed,
            sent=self._sent,
            batches_sent=self._batches_sent,
            failed_attempts=self._failed,
            dropped=self._dropped,
            rejected=self._rejected,
            buffered=in_memory,
            spooled=spooled,
            spooled_total=self._spooled_total,
            replayed=self._replayed,
            quarantined_lines=self._spool.quarantined_lines if self._spool else 0,
            quarantined_files=self._spool.quarantined_files if self._spool else 0,
            connected=self._writer is not None and self._writer.reached_server,
            last_error=self._health.last_error,
            last_error_at=self._health.last_error_at,
            failing_since=self._health.failing_since,
            error_is_permanent=self._health.permanent,
            last_flush_at=self._last_flush_at,
        )

    # -- processes --------------------------------------------------------------------------

    def _after_fork_in_child(self) -> None:
        """A forked child starts fresh: no parent events, no parent connection or spool lock."""
        was_running = self._thread is not None and self._started and not self._stopping
        if self._writer is not None:
            self._writer.forget_after_fork()
        for item in self._outbox:
            if isinstance(item, SpoolFile) and item.fd is not None:
                with contextlib.suppress(OSError):
                    os.close(item.fd)  # unbuffered: writes nothing; the parent keeps its lock
        self._thread = None
        self._init_state()
        if was_running:
            self.start()
            try:
                from multiprocessing import util

                # multiprocessing children end with os._exit: atexit would not run.
                util.Finalize(self, self.stop, exitpriority=10)
            except Exception:  # pragma: no cover - multiprocessing is stdlib
                pass

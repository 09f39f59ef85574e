"""The collector's state, shared by its parts (``outbox.py``, ``flusher.py``, ``collector.py``).

``CollectorState`` declares every attribute the parts use and creates them in
``_init_state``; each part is a class deriving from it, and ``Collector`` derives from all.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.collector.edge import EdgeAggregator
from orchestrator.collector.events import Event
from orchestrator.collector.health import Health
from orchestrator.collector.sink import BatchWriter
from orchestrator.collector.spool import Spool, SpoolFile


@dataclass
class _MemBatch:
    batch_id: uuid.UUID
    events: list[Event]
    keys_ready: bool = False


@dataclass
class _EdgeBatch:
    """Edge rows of closed minutes (aggregate mode), sent as one batch under one id."""

    batch_id: uuid.UUID
    rows: list[dict[str, Any]]
    events: int  # the events these rows stand for


_Item = _MemBatch | SpoolFile


class CollectorState:
    """Settings (set by ``Collector.__init__``) and the mutable state of a collector."""

    # settings
    enabled: bool
    batch_size: int
    flush_interval: float
    max_buffer: int
    max_batch: int
    key_mode: str
    stop_timeout: float
    retry_max_delay: float
    retry_base_delay: float
    permanent_retry_delay: float
    spool_dir: Path | None
    database_url: str | None
    source: str
    mode: str
    sample_rate: float | None
    edge_grace: float
    edge_source: str
    _full_keys: bool
    _known_impls: set[str]
    _thread: threading.Thread | None
    _writer: BatchWriter | None
    _stop_deadline: float

    def _init_state(self) -> None:
        self._buf: deque[Event] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._done = threading.Condition(threading.Lock())
        self._outbox: deque[_Item] = deque()
        self._limit = self.max_buffer
        self._spool = Spool.open(self.spool_dir) if self.spool_dir is not None else None
        self._known_spool: set[Path] = set()
        self._stopping = False
        self._started = False
        self._flush_requested = 0
        self._flush_done = 0
        self._taken = 0
        self._sent = 0
        self._batches_sent = 0
        self._failed = 0
        self._dropped = 0
        self._rejected = 0
        self._spooled_total = 0
        self._replayed = 0
        self._lost_at_stop = 0
        self._health = Health()
        self._logged_problems: set[tuple[str, str, int]] = set()
        self._failure: Exception | None = None  # the error of the last failed delivery
        self._last_flush_at: float | None = None
        # Aggregate mode: open minutes, and edge batches waiting to be stored (in order).
        self._edge = EdgeAggregator(self.edge_source)
        self._edge_out: deque[_EdgeBatch] = deque()
        self._sample_seq = 0

"""The collector's outbox: batches waiting in order, in memory or in spool files.

Events leave the buffer only in order, into the outbox, which the flusher delivers strictly
head first. Beyond ``max_buffer`` events in memory, the whole buffer goes to the spool (when
``spool_dir`` is set), else the oldest events are dropped and counted. At stop, what is still
in memory goes to the spool or is counted as dropped, with the reason logged.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Sequence

from orchestrator.collector.events import Event
from orchestrator.collector.keys import apply_key_mode
from orchestrator.collector.spool import SpoolFile
from orchestrator.collector.state import CollectorState, _MemBatch

log = logging.getLogger("cachemon.collector")


class Outbox(CollectorState):
    """Buffer bounds, spooling, and what happens to unsent events at stop."""

    def _overflow(self) -> None:
        """The buffer reached its bound: spool all of it (oldest first), or drop the oldest."""
        with self._lock:
            buf = self._buf
            if len(buf) < self._limit:
                return
            if self._spool is not None:
                self._spool_buffer_locked()
                return
            excess = len(buf) - self._limit + max(1, self._limit // 100)
            excess = min(excess, len(buf))
            for _ in range(excess):
                buf.popleft()
            self._taken += excess
            self._dropped += excess

    def _final_spool(self) -> None:
        """At stop: what is still in memory goes to the spool, or is counted as dropped."""
        with self._lock:
            if self._spool is not None:
                mem = [i for i in self._outbox if isinstance(i, _MemBatch)]
                rest = [i for i in self._outbox if not isinstance(i, _MemBatch)]
                self._outbox = deque(rest)
                target: SpoolFile | None = None
                for batch in mem:
                    target = target or self._spool.new_file()
                    events = batch.events if batch.keys_ready else self._stored_keys(batch.events)
                    self._spool.append(target, batch.batch_id, events)
                    self._spooled_total += len(events)
                if target is not None:
                    target.sealed = True
                    self._outbox.appendleft(target)
                self._spool_buffer_locked()
                kept = 0
                for item in self._outbox:
                    if isinstance(item, SpoolFile):
                        self._spool.sync(item)
                        self._spool.release(item)  # unlocked: the next process replays it
                        kept += item.events
                if kept:
                    log.warning(
                        "cachemon collector stopped with %d events not stored yet, kept in %s "
                        "for the next start, because %s",
                        kept,
                        self.spool_dir,
                        self._health.reason(),
                    )
            else:
                lost = len(self._buf) + sum(
                    len(i.events) for i in self._outbox if isinstance(i, _MemBatch)
                )
                self._taken += len(self._buf)
                self._buf.clear()
                self._outbox.clear()
                self._lost_at_stop = lost
                if lost:
                    self._dropped += lost
                    log.warning(
                        "cachemon collector stopped with %d events not stored, dropped because "
                        "%s (set CACHE_METRICS_SPOOL_DIR to keep them for the next start)",
                        lost,
                        self._health.reason(),
                    )
            self._limit = self.max_buffer

    def _stored_keys(self, events: Sequence[Event]) -> list[Event]:
        return apply_key_mode(events, self.key_mode)

    def _spool_buffer_locked(self) -> None:
        """Move the whole buffer, as one batch, to the spool (caller holds ``_lock``)."""
        assert self._spool is not None
        buf = self._buf
        if not buf:
            return
        events = [buf.popleft() for _ in range(len(buf))]
        self._taken += len(events)
        stored = self._stored_keys(events)
        last = self._outbox[-1] if self._outbox else None
        if isinstance(last, SpoolFile) and last.own and not last.sealed:
            target = last
        else:
            target = self._spool.new_file()
            self._outbox.append(target)
        self._spool.append(target, uuid.uuid4(), stored)
        self._spooled_total += len(stored)

    def _maybe_spool_during_outage(self) -> None:
        """While the database is away, spool early so callers rarely hit the bound."""
        if self._spool is not None and len(self._buf) >= self._limit // 2:
            with self._lock:
                self._spool_buffer_locked()

    def _claim_foreign_spool(self) -> None:
        assert self._spool is not None
        with self._lock:
            known = {i.path for i in self._outbox if isinstance(i, SpoolFile)}
        found = self._spool.claim_foreign(known)
        if not found:
            return
        with self._lock:
            # Older than anything this process holds: they go first.
            for item in reversed(found):
                self._outbox.appendleft(item)
                self._replayed += item.events
                self._taken += item.events

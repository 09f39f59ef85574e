"""The collector's flusher thread: deliver the outbox in order, retry with backoff, say why.

A batch that failed stays at the head and is retried, with the same batch id, after a backoff
with jitter; nothing behind it is sent before it. Errors a human must fix (authentication, a
missing schema, a missing privilege: ``CachemonError.permanent``) are logged once with the fix
and retried slowly (``permanent_retry_delay``); transient ones are logged once per outage.
Any other error (not the database's answer) is never retried: the batch is kept in
``rejected/`` (a spool file that cannot be read goes to ``quarantine/``), and its traceback is
logged once per distinct problem.
"""

from __future__ import annotations

import logging
import random
import time
import traceback
import uuid

from orchestrator.collector.events import Event
from orchestrator.collector.health import describe
from orchestrator.collector.outbox import Outbox
from orchestrator.collector.spool import SpoolFile
from orchestrator.collector.state import _EdgeBatch, _Item, _MemBatch
from orchestrator.errors import CachemonError, DatabaseUnavailable, InvalidInput

log = logging.getLogger("cachemon.collector")

_time = time.time
# Derived ids of the halves of a refused batch: deterministic, so retries stay idempotent.
_SPLIT_NAMESPACE = uuid.UUID("6c1f4f0e-3b7a-4f8e-9a59-0c2f3d0b9e11")
_MAX_SPLIT_DEPTH = 12


class Flusher(Outbox):
    """The loop of the flusher thread and the delivery of batches."""

    def _run(self) -> None:
        failures = 0
        next_flush = time.monotonic() + self.flush_interval
        retry_at = 0.0
        if self._spool is not None:
            self._claim_foreign_spool()
        while not self._stopping:
            now = time.monotonic()
            wait = retry_at - now if retry_at > now else max(0.0, min(next_flush - now, 1.0))
            self._wake.wait(wait)
            self._wake.clear()
            if self._stopping:
                break
            now = time.monotonic()
            if retry_at > now:
                self._maybe_spool_during_outage()
                continue
            due = (
                len(self._buf) >= self.batch_size
                or now >= next_flush
                or self._flush_done < self._flush_requested
                or bool(self._outbox)
                or bool(self._edge_out)
            )
            if not due:
                continue
            requested = self._flush_requested
            if failures and self._spool is not None:
                self._claim_foreign_spool()  # on reconnect: spool files other processes left
            if self._deliver_all():
                failures = 0
                retry_at = 0.0
                next_flush = time.monotonic() + self.flush_interval
                self._health.succeeded()
                self._finish_flush(requested)
            else:
                failures += 1
                error = self._failure
                if isinstance(error, CachemonError) and error.permanent:
                    # A human must act: retry slowly, and say it once (Health.failed).
                    delay = max(self.permanent_retry_delay, self.retry_base_delay)
                else:
                    delay = min(
                        self.retry_max_delay, self.retry_base_delay * 2 ** min(failures, 20)
                    )
                retry_at = time.monotonic() + delay * random.uniform(0.5, 1.0)
                if error is not None:
                    self._health.failed(error, retry_in=delay)
                self._maybe_spool_during_outage()
        self._final_flush()

    def _finish_flush(self, requested: int) -> None:
        with self._done:
            self._flush_done = max(self._flush_done, requested)
            self._done.notify_all()

    def _final_flush(self) -> None:
        deadline = getattr(self, "_stop_deadline", time.monotonic())
        requested = self._flush_requested
        delay = self.retry_base_delay
        while True:
            if self._deliver_all():
                self._health.succeeded()
                self._finish_flush(requested)
                break
            error = self._failure
            if error is not None:
                self._health.failed(error)
            if isinstance(error, CachemonError) and error.permanent:
                break  # waiting until the deadline cannot help: say why at once (outbox)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(remaining, delay * random.uniform(0.5, 1.0)))
            delay = min(delay * 2, self.retry_max_delay)
        self._final_spool()
        lost = sum(i.events for i in self._edge_out)
        if lost:
            # Edge batches live in memory only: what the database did not take by the
            # deadline is counted, and said, as lost.
            self._edge_out.clear()
            self._dropped += lost
            self._lost_at_stop += lost
            log.warning(
                "cachemon collector stopped with %d aggregated events not stored, dropped "
                "because %s",
                lost,
                self._health.reason(),
            )
        if self._writer is not None:
            self._writer.close()

    def _deliver_all(self) -> bool:
        """Deliver the outbox, then the buffer, in order, then (aggregate mode) the edge
        rows of closed minutes. False when the database failed."""
        if self.mode == "aggregate":
            self._fold()
            return self._deliver_events() and self._deliver_edge()
        return self._deliver_events()

    def _fold(self) -> None:
        """Aggregate mode: fold the buffer into the open minutes and close the minutes that
        ended ``edge_grace`` seconds ago (all of them when stopping).

        With ``sample_rate`` set, every error and that share of the other events stay raw
        events instead (a split of the same events between raw and edge rows, which tick()
        merges into the same minute rows), for drill-down."""
        with self._lock:
            buf = self._buf
            events = [buf.popleft() for _ in range(len(buf))]
            self._taken += len(events)
            self._limit = self.max_buffer
        rate = self.sample_rate
        keep: list[Event] = []
        edge = self._edge
        for event in events:
            if rate is not None and (event[1] == "error" or random.random() < rate):
                keep.append(event)
            else:
                edge.add(event)
        if keep:
            with self._lock:
                for i in range(0, len(keep), self.max_batch):
                    self._outbox.append(_MemBatch(uuid.uuid4(), keep[i : i + self.max_batch]))
        closed = edge.take(None if self._stopping else _time() - self.edge_grace)
        for i in range(0, len(closed), 1000):
            part = closed[i : i + 1000]
            self._edge_out.append(
                _EdgeBatch(uuid.uuid4(), [row for row, _ in part], sum(n for _, n in part))
            )

    def _deliver_edge(self) -> bool:
        """Store the edge batches in order, each once (same id on every retry)."""
        while self._edge_out:
            item = self._edge_out[0]
            assert self._writer is not None
            try:
                self._writer.write_edge(item.batch_id, item.rows)
            except InvalidInput as exc:
                self._rejected += item.events
                self._health.rejected(exc)
                log.error("cachemon refused %d edge rows (%s)", len(item.rows), exc)
            except Exception as exc:
                if not isinstance(exc, CachemonError):
                    log.exception("cachemon collector: unexpected error while sending")
                self._failure = exc
                self._failed += 1
                if self._writer is not None and not isinstance(exc, DatabaseUnavailable):
                    self._writer.close()
                return False
            else:
                self._sent += item.events
                self._batches_sent += 1
                self._last_flush_at = _time()
            self._edge_out.popleft()
        return True

    def _deliver_events(self) -> bool:
        while True:
            with self._lock:
                if self._outbox:
                    item: _Item = self._outbox[0]
                elif self._buf:
                    buf = self._buf
                    n = min(len(buf), self.max_batch)
                    item = _MemBatch(uuid.uuid4(), [buf.popleft() for _ in range(n)])
                    self._taken += n
                    self._outbox.append(item)
                    self._limit = max(1, self.max_buffer - n)
                else:
                    return True
                if isinstance(item, SpoolFile) and item.own and not item.sealed:
                    item.sealed = True  # later spooling starts a new file behind it
            try:
                if isinstance(item, _MemBatch):
                    if not item.keys_ready:
                        item.events = self._stored_keys(item.events)
                        item.keys_ready = True
                    self._send(item.batch_id, item.events)
                else:
                    assert self._spool is not None
                    for batch_id, events in self._spool.read(item):
                        self._send(batch_id, events)
                    self._spool.remove(item)
            except CachemonError as exc:
                # DatabaseUnavailable, or a problem an operator may fix (schema not installed,
                # privileges): the item stays at the head and is retried after a backoff.
                self._failure = exc  # logged by the caller, which knows the retry delay
                self._failed += 1
                if self._writer is not None and not isinstance(exc, DatabaseUnavailable):
                    self._writer.close()
                return False
            except Exception as exc:
                # Not the database's answer (a file that cannot be read, a value the encoder
                # cannot carry): the same item would fail the same way forever. Set it aside
                # (the batch to rejected/, the file to quarantine/) and go on with the rest.
                self._log_problem(exc)
                if isinstance(item, _MemBatch):
                    self._reject(item.batch_id, item.events, exc)
                else:
                    assert self._spool is not None
                    self._spool.quarantine_file(item.path, describe(exc))
                    self._spool.release(item)
            with self._lock:
                if self._outbox and self._outbox[0] is item:
                    self._outbox.popleft()
                self._limit = self.max_buffer

    def _send(self, batch_id: uuid.UUID, events: list[Event], depth: int = 0) -> None:
        """Store one batch; a batch the database refuses is split to isolate the bad events.

        An error that is not the database's answer (a value the encoder cannot carry) is
        treated the same way: retrying the same events could never help, so the batch is
        split and what still fails goes to rejected/, its traceback logged once."""
        assert self._writer is not None
        try:
            self._writer.write(batch_id, events)
        except Exception as exc:
            if isinstance(exc, CachemonError) and not isinstance(exc, InvalidInput):
                raise  # the database is away or needs a human: retried with backoff
            if not isinstance(exc, CachemonError):
                self._log_problem(exc)
                self._writer.close()  # the next batch starts on a fresh connection
            if len(events) > 1 and depth < _MAX_SPLIT_DEPTH:
                half = len(events) // 2
                for part, chunk in enumerate((events[:half], events[half:])):
                    self._send(uuid.uuid5(_SPLIT_NAMESPACE, f"{batch_id}/{part}"), chunk, depth + 1)
                return
            self._reject(batch_id, events, exc)
            return
        self._sent += len(events)
        self._batches_sent += 1
        self._last_flush_at = _time()

    def _log_problem(self, exc: BaseException) -> None:
        """A traceback once per distinct problem (its type and where it was raised); later
        occurrences at DEBUG, so a recurring error cannot flood the log."""
        frames = traceback.extract_tb(exc.__traceback__)
        where = (frames[-1].filename, frames[-1].lineno or 0) if frames else ("", 0)
        key = (type(exc).__name__, *where)
        if key in self._logged_problems:
            log.debug("cachemon collector: again: %s", describe(exc))
            return
        if len(self._logged_problems) < 1000:
            self._logged_problems.add(key)
        log.error(
            "cachemon collector: unexpected error, set aside: %s", describe(exc), exc_info=exc
        )

    def _reject(self, batch_id: uuid.UUID, events: list[Event], exc: Exception) -> None:
        self._rejected += len(events)
        self._health.rejected(exc)
        if self._spool is not None:
            try:
                where = self._spool.reject(batch_id, events, str(exc))
            except OSError as write_error:
                log.error(
                    "cachemon refused %d events (%s); cannot keep them (%s); first: %r",
                    len(events),
                    exc,
                    write_error,
                    events[0],
                )
                return
            log.error("cachemon refused %d events (%s); kept in %s", len(events), exc, where)
        else:
            log.error("cachemon refused %d events (%s); first: %r", len(events), exc, events[0])

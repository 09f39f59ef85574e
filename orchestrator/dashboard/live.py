"""Live updates: one LISTEN connection per server, fanned out to every page over SSE.

The listener keeps ``LISTEN cachemon_events`` on its own connection. A notification carries
identifiers only (COORDINATION contract: topic, table, op, bucket, implementation_type, id);
pages receive those keys as ``event: notify`` and, after a short quiet time (debounce), a
re-read of each watched range through the SQL functions as ``event: state``. When the
connection drops (the database restarts), pages get ``event: status`` with
``{"database": "down"}``, the listener retries with backoff, and on reconnecting sends ``up``
and a fresh state (notifications sent meanwhile are lost, so it re-reads everything).

Any role that can connect may ``NOTIFY cachemon_events``, so a notification is only a hint
and costs O(1): the listener keeps the latest payload and sets a flag. The publisher turns
any number of hints into at most one round of re-reads per ``min_interval`` seconds (one read
per watched range, five ranges at most), serialises each result once, and hands the same
bytes to every page of that range. Requests for a range's JSON share the read in flight too.
A page holds at most one unsent message of each kind (status, notify, state): a newer one
replaces it, so a page that does not read costs one reference to shared bytes, never a queue.
A page whose socket has not accepted a write for ``stall_timeout`` seconds is closed (its
browser reconnects and gets the latest state at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

CHANNEL = "cachemon_events"
# The only payload keys a page ever sees (the contract's identifiers).
PAYLOAD_KEYS = ("topic", "table", "op", "bucket", "implementation_type", "id")
# What a page is sent in one write at most: with uvicorn's flow control the server then
# buffers at most about two of these per page whose socket is full.
CHUNK = 64 * 1024

log = logging.getLogger("cachemon.dashboard")
# uvicorn logs "ASGI callable returned without completing response." at ERROR whenever a
# response ends unfinished, which is how a stalled page is closed. The hub counts the pages
# it closes; UnfinishedResponseFilter (installed on uvicorn's logger by server.make_server)
# drops that many of those lines, since the hub has already said why at WARNING.
_closed_unfinished = 0
UNFINISHED = "ASGI callable returned without completing response."


class UnfinishedResponseFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        global _closed_unfinished
        if record.msg == UNFINISHED and _closed_unfinished > 0:
            _closed_unfinished -= 1
            return False
        return True


def sse(event: str, data: Any) -> bytes:
    """One Server-Sent Event, serialised once (the bytes are shared by every page)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@dataclass(eq=False)
class Client:
    """One open page: the range it shows and its latest unsent message of each kind."""

    range_name: str
    status: bytes | None = None
    notify: bytes | None = None
    state: bytes | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    writing_since: float | None = None  # loop time a write started that has not finished
    closed: bool = False
    task: asyncio.Task[None] | None = None

    def put(self, kind: str, message: bytes) -> None:
        """Keep ``message`` as this page's next ``kind`` (replacing an unsent older one)."""
        setattr(self, kind, message)
        self.wake.set()

    def take(self) -> bytes | None:
        """The pending messages, in the order status, notify, state (or None)."""
        parts = [m for m in (self.status, self.notify, self.state) if m is not None]
        self.status = self.notify = self.state = None
        self.wake.clear()
        return b"".join(parts) if parts else None

    def close(self) -> None:
        self.closed = True
        self.wake.set()
        if self.task is not None:
            self.task.cancel()


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a shared read's failure as seen (whoever awaited it has handled it)."""
    if not task.cancelled():
        task.exception()


def identifiers(payload: str) -> dict[str, Any]:
    """The contract's keys of a notification payload (nothing else reaches a page)."""
    try:
        data = json.loads(payload)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: data[k] for k in PAYLOAD_KEYS if k in data}


class Hub:
    """Holds the pages, the listener task, the latest state per range and the re-reads."""

    def __init__(
        self,
        url: str,
        read_state: Callable[[str], Awaitable[dict[str, Any]]],
        *,
        debounce: float = 0.15,
        max_delay: float = 0.6,
        min_interval: float = 1.0,
        refresh_every: float = 30.0,
        max_clients: int = 200,
        stall_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.read_state = read_state
        self.debounce = debounce
        self.max_delay = max_delay
        self.min_interval = min_interval
        self.refresh_every = refresh_every
        self.max_clients = max_clients
        self.stall_timeout = stall_timeout
        self.clients: set[Client] = set()
        self.database_up = False
        self.listening = asyncio.Event()
        self.latest: dict[str, bytes] = {}  # range -> its last "event: state" message
        # Counters (tests and the benchmark read them).
        self.notifications = 0  # notifications received
        self.rereads = 0  # reads of one range's state by the hub
        self.closed_slow = 0  # pages closed because they stopped reading
        self._payload: str | None = None  # the latest notification's payload, unparsed
        self._dirty = asyncio.Event()
        self._reading: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self._last_round = -1e9
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        # Fresh loop-bound state: an app may run several lifespans (one per event loop).
        self.listening = asyncio.Event()
        self._dirty = asyncio.Event()
        self._reading = {}
        self.latest = {}
        self.database_up = False
        self._last_round = -1e9
        self._tasks = [
            asyncio.create_task(self._listen(), name="cachemon-listen"),
            asyncio.create_task(self._publish(), name="cachemon-publish"),
            asyncio.create_task(self._watch_stalls(), name="cachemon-stalls"),
        ]

    async def stop(self) -> None:
        for client in list(self.clients):
            client.close()
        tasks = self._tasks + list(self._reading.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        self._reading = {}

    def full(self) -> bool:
        return len(self.clients) >= self.max_clients

    def add(self, client: Client) -> None:
        """A new page: it gets the status and, at once, the latest state of its range (or a
        read of that range is started, shared with any page asking meanwhile)."""
        self.clients.add(client)
        client.put("status", sse("status", self.status()))
        latest = self.latest.get(client.range_name)
        if latest is not None:
            client.put("state", latest)
        else:
            self.read_shared(client.range_name)

    def remove(self, client: Client) -> None:
        self.clients.discard(client)

    def status(self) -> dict[str, Any]:
        return {"database": "up" if self.database_up else "down"}

    def _broadcast(self, kind: str, message: bytes, range_name: str | None = None) -> None:
        for client in list(self.clients):
            if range_name is None or client.range_name == range_name:
                client.put(kind, message)

    def _set_up(self, up: bool) -> None:
        if up != self.database_up:
            self.database_up = up
            self._broadcast("status", sse("status", self.status()))

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, application_name="cachemon dashboard listen"
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._set_up(True)
                    self.listening.set()
                    self._dirty.set()  # anything may have changed while we were away
                    delay = 0.5
                    async for note in conn.notifies():
                        # O(1) per notification, whoever sent it: keep the latest, flag.
                        self.notifications += 1
                        self._payload = note.payload
                        self._dirty.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away; say so and retry
                log.warning("listen connection lost: %s", exc)
            self.listening.clear()
            self._set_up(False)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _publish(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), timeout=self.refresh_every)
            # Debounce: a tick commits many rows at once; wait until it is quiet a moment,
            # but never longer than max_delay after the first notification.
            first = loop.time()
            while self._dirty.is_set() and loop.time() - first < self.max_delay:
                self._dirty.clear()
                await asyncio.sleep(self.debounce)
            # Rate limit: at most one round of re-reads per min_interval, however many
            # notifications arrived (those arriving meanwhile join the next round).
            wait = self._last_round + self.min_interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._dirty.clear()
            self._last_round = loop.time()
            payload, self._payload = self._payload, None
            if payload is not None:
                self._broadcast("notify", sse("notify", identifiers(payload)))
            await self.push_states()

    async def push_states(self) -> None:
        """Re-read every range a page watches (once each, side by side: the pool bounds how
        many run at once) and push each to its pages as soon as it is read."""
        names = sorted({c.range_name for c in self.clients})
        results = await asyncio.gather(
            *(self.read_shared(name) for name in names), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            log.warning("re-read failed: %s", failures[0])
            self._set_up(False)
            self._dirty.set()
            await asyncio.sleep(1.0)

    def read_shared(self, name: str) -> asyncio.Task[dict[str, Any]]:
        """One read of ``name`` at a time: pages and requests arriving meanwhile share it,
        and its result goes to every page of that range."""
        task = self._reading.get(name)
        if task is None or task.done():
            task = asyncio.create_task(self._read(name), name=f"cachemon-read-{name}")
            task.add_done_callback(_retrieve)
            self._reading[name] = task
        return task

    async def _read(self, name: str) -> dict[str, Any]:
        self.rereads += 1
        data = await self.read_state(name)
        if self.listening.is_set():
            self._set_up(True)
        message = sse("state", data)
        self.latest[name] = message
        self._broadcast("state", message, name)
        return data

    def stalled(self, now: float) -> list[Client]:
        return [
            c
            for c in self.clients
            if c.writing_since is not None and now - c.writing_since > self.stall_timeout
        ]

    async def _watch_stalls(self) -> None:
        """Close pages whose socket accepted nothing for ``stall_timeout`` seconds."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, self.stall_timeout / 2))
            global _closed_unfinished
            stalled = self.stalled(loop.time())
            for client in stalled:
                self.closed_slow += 1
                _closed_unfinished += 1
                self.remove(client)
                client.close()
            if stalled:
                log.warning(
                    "closed %d live page(s) that accepted nothing for %.0f s (%d so far)",
                    len(stalled),
                    self.stall_timeout,
                    self.closed_slow,
                )

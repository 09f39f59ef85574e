"""Live updates: one LISTEN connection per server, fanned out to every page over SSE.

The listener keeps ``LISTEN cachemon_events`` on its own connection. A notification carries
identifiers only (COORDINATION contract: topic, table, op, bucket, implementation_type, id);
the hub forwards those keys to every page as an ``event: notify`` and, after a short quiet
time (debounce), re-reads each watched range through the SQL functions once and pushes it as
``event: state``. When the connection drops (the database restarts), pages get
``event: status`` with ``{"database": "down"}``, the listener retries with backoff, and on
reconnecting sends ``up`` and a fresh state (notifications sent meanwhile are lost, so it
re-reads everything).
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

log = logging.getLogger("cachemon.dashboard")


@dataclass(eq=False)
class Client:
    """One open page: the range it shows and its queue of SSE messages."""

    range_name: str
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(maxsize=100))

    def send(self, event: str, data: Any) -> None:
        message = f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            # A page that does not read: drop its oldest message, keep the newest.
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(message)


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
    """Holds the pages, the listener task and the debounced re-read."""

    def __init__(
        self,
        url: str,
        read_state: Callable[[str], Awaitable[dict[str, Any]]],
        *,
        debounce: float = 0.15,
        max_delay: float = 0.6,
        refresh_every: float = 30.0,
    ) -> None:
        self.url = url
        self.read_state = read_state
        self.debounce = debounce
        self.max_delay = max_delay
        self.refresh_every = refresh_every
        self.clients: set[Client] = set()
        self.database_up = False
        self.listening = asyncio.Event()
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen(), name="cachemon-listen"),
            asyncio.create_task(self._publish(), name="cachemon-publish"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    def add(self, client: Client) -> None:
        self.clients.add(client)
        client.send("status", self.status())

    def remove(self, client: Client) -> None:
        self.clients.discard(client)

    def status(self) -> dict[str, Any]:
        return {"database": "up" if self.database_up else "down"}

    def _broadcast(self, event: str, data: Any) -> None:
        for client in list(self.clients):
            client.send(event, data)

    def _set_up(self, up: bool) -> None:
        if up != self.database_up:
            self.database_up = up
            self._broadcast("status", self.status())

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
                        ids = identifiers(note.payload)
                        self._broadcast("notify", ids)
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
            self._dirty.clear()
            await self.push_states()

    async def push_states(self) -> None:
        ranges = {c.range_name for c in self.clients}
        for name in sorted(ranges):
            try:
                data = await self.read_state(name)
            except Exception as exc:
                log.warning("re-read failed: %s", exc)
                self._set_up(False)
                self._dirty.set()
                await asyncio.sleep(1.0)
                return
            if self.listening.is_set():
                self._set_up(True)
            for client in list(self.clients):
                if client.range_name == name:
                    client.send("state", data)

"""Helper of the push tests: what `cachemon watch` (watch.listen) gets while a statement runs."""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from orchestrator import watch


def received_while(
    listen_url: str, db_url: str, statement: str, params: tuple[Any, ...] = ()
) -> list[dict[str, Any]]:
    """Listen on ``listen_url`` for one event (10 s at most), run ``statement`` as the owner of
    ``db_url`` once listening, and return what arrived."""
    ready = threading.Event()
    got: list[dict[str, Any]] = []

    def run() -> None:
        got.extend(watch.listen(listen_url, duration=10, max_events=1, on_ready=ready.set))

    thread = threading.Thread(target=run)
    thread.start()
    assert ready.wait(10)
    with psycopg.connect(db_url, autocommit=True) as owner:
        owner.execute(statement, params)
    thread.join(15)
    return got

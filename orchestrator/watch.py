"""Live updates: LISTEN on the channel the cachemon triggers notify.

Every insert or update of ``cachemon.cache_metrics_1min`` and
``cachemon.cache_auditor_observations`` sends ``pg_notify('cachemon_events', json)`` (see
docs/auditor.md for the payloads). ``listen`` yields those payloads as dicts;
``format_event`` turns one into a terminal line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from orchestrator import db
from orchestrator.errors import translated

CHANNEL = "cachemon_events"


def listen(
    url: str | None = None,
    *,
    duration: float | None = None,
    max_events: int | None = None,
    on_ready: Callable[[], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield each notification on ``cachemon_events`` as a dict, until ``duration`` seconds
    have passed or ``max_events`` arrived (both None: forever). ``on_ready`` runs once the
    LISTEN is in place (so a caller or a test knows nothing sent afterwards is missed)."""
    if duration is not None and duration <= 0:
        raise ValueError(f"duration must be > 0 seconds, got {duration!r}")
    if max_events is not None and max_events < 1:
        raise ValueError(f"max_events must be >= 1, got {max_events!r}")
    deadline = None if duration is None else time.monotonic() + duration
    seen = 0
    with db.connect(url, application_name="cachemon watch") as conn, translated():
        # Nothing would ever arrive without the schema: say so instead of waiting silently.
        conn.execute("SELECT 'cachemon.cache_metrics_1min'::regclass")
        conn.execute(f"LISTEN {CHANNEL}")
        if on_ready is not None:
            on_ready()
        while True:
            timeout = 1.0 if deadline is None else max(deadline - time.monotonic(), 0.0)
            if deadline is not None and timeout <= 0:
                return
            for note in conn.notifies(timeout=min(timeout, 1.0)):
                try:
                    payload: dict[str, Any] = json.loads(note.payload)
                except ValueError:
                    payload = {"raw": note.payload}
                yield payload
                seen += 1
                if max_events is not None and seen >= max_events:
                    return
                if deadline is not None and time.monotonic() >= deadline:
                    return


def _num(value: Any, suffix: str = "", digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{float(value):,.{digits}f}{suffix}"


def format_event(event: dict[str, Any]) -> str:
    """One line for the terminal."""
    table = event.get("table")
    if table == "cache_metrics_1min":
        return (
            f"{event.get('bucket', '?')}  {event.get('implementation_type', '?'):<12} "
            f"events={event.get('total_events', 0):>7}  hit={_num(event.get('hit_rate'), '%')}"
            f"  err={_num(event.get('error_rate'), '%', 2)}"
            f"  avg={_num(event.get('avg_response_time_ms'), 'ms')}"
            f"  p95={_num(event.get('p95_response_time_ms'), 'ms')}"
        )
    if table == "cache_auditor_observations":
        return (
            f"FINDING #{event.get('id')} {str(event.get('status', '?')).upper():<12} "
            f"{event.get('severity', '?'):<8} {event.get('implementation_type', '?')}"
            f"/{event.get('rule', '?')}: {event.get('message', '')}"
        )
    return json.dumps(event, sort_keys=True)

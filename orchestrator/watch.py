"""Live updates: LISTEN on the channel the cachemon triggers notify.

Every insert or update of ``cachemon.cache_metrics_1min`` and
``cachemon.cache_auditor_observations`` sends ``pg_notify('cachemon_events', json)`` carrying
identifiers only (any role may LISTEN, so the payload holds nothing secret; docs/security.md):
``{"topic","table","op","bucket","implementation_type"}`` or ``{"topic","table","op","id"}``.
``listen`` yields each payload as a dict merged with the row it names, read through row level
security as the connected role on a second connection (identifiers only when that role may
not read the row); ``format_event`` turns one into a terminal line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from psycopg.rows import dict_row

from orchestrator import db
from orchestrator.errors import NotInstalled, translated

CHANNEL = "cachemon_events"

_ROW_QUERIES: dict[str, str] = {
    "cache_metrics_1min": (
        "SELECT bucket, implementation_type, total_events, hit_rate, error_rate,"
        " avg_response_time_ms, p95_response_time_ms FROM cachemon.cache_metrics_1min"
        " WHERE bucket = %(bucket)s AND implementation_type = %(implementation_type)s"
    ),
    "cache_auditor_observations": (
        "SELECT id, implementation_type, rule, severity, category, status, metric,"
        " observed_value, baseline_value, occurrences, last_seen_at, message"
        " FROM cachemon.cache_auditor_observations WHERE id = %(id)s"
    ),
}


def read_row(conn: psycopg.Connection[Any], event: dict[str, Any]) -> dict[str, Any]:
    """The notification merged with the row it names, as the connected role sees it (RLS and
    grants apply); the notification alone when the row is gone or not readable."""
    query = _ROW_QUERIES.get(str(event.get("table")))
    if query is None:
        return event
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, event)
            row = cur.fetchone()
    except (psycopg.Error, KeyError):  # not readable by this role, or a malformed payload
        return event
    if row is None:
        return event
    merged = dict(event)
    merged.update(
        {k: (v if isinstance(v, str | int | float | None) else str(v)) for k, v in row.items()}
    )
    return merged


def listen(
    url: str | None = None,
    *,
    duration: float | None = None,
    max_events: int | None = None,
    on_ready: Callable[[], None] | None = None,
    enrich: bool = True,
) -> Iterator[dict[str, Any]]:
    """Yield each notification on ``cachemon_events`` as a dict, until ``duration`` seconds
    have passed or ``max_events`` arrived (both None: forever). ``on_ready`` runs once the
    LISTEN is in place (so a caller or a test knows nothing sent afterwards is missed).
    With ``enrich`` (default), each payload is merged with its row (``read_row``)."""
    if duration is not None and duration <= 0:
        raise ValueError(f"duration must be > 0 seconds, got {duration!r}")
    if max_events is not None and max_events < 1:
        raise ValueError(f"max_events must be >= 1, got {max_events!r}")
    deadline = None if duration is None else time.monotonic() + duration
    seen = 0
    with (
        db.connect(url, application_name="cachemon watch") as conn,
        db.connect(url, application_name="cachemon watch (reader)") as reader,
        translated(),
    ):
        # Nothing would ever arrive without the schema: say so instead of waiting silently.
        # From the catalog: a role without any cachemon role may still watch (identifiers).
        row = conn.execute(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_class c"
            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'cachemon' AND c.relname = 'cache_metrics_1min') AS installed"
        ).fetchone()
        if not row or not row["installed"]:
            raise NotInstalled('schema "cachemon" does not exist')
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
                yield read_row(reader, payload) if enrich else payload
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

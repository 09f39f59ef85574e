"""Writing one batch, exactly once: the batch id and its rows commit in one transaction.

``BatchWriter.write`` inserts the batch id into ``cachemon._ingested_batches`` (ON CONFLICT
DO NOTHING), and only when that inserted a row, COPYs the rows into ``cachemon.cache_metrics``
and commits. A batch id already stored means an earlier attempt committed (its
acknowledgement may have been lost): the batch is skipped and reported as ``duplicate``. Two
concurrent attempts with the same id: the second waits on the primary key, then skips.

COPY FROM is refused by PostgreSQL on a table with row-level security for a role that is
subject to it (``cachemon_writer``): for such a role rows are COPYed into a session-local
temporary table and moved with one INSERT ... SELECT (policies and triggers apply as for any
INSERT). Owners and superusers COPY straight into the table.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any, Literal
from uuid import UUID

import psycopg

from orchestrator.collector.events import COLUMNS, Event, encode_rows
from orchestrator.db import resolve_url
from orchestrator.errors import translate

_COLUMN_LIST = ", ".join(COLUMNS)
_STAGE = "pg_temp._cachemon_stage"
_CREATE_STAGE = """CREATE TEMP TABLE IF NOT EXISTS _cachemon_stage (
    recorded_at timestamptz, implementation_type text, event_type text, cache_key text,
    response_time_ms double precision, cache_size bigint, error_type text,
    error_message text, batch_id uuid
) ON COMMIT DELETE ROWS"""
_INSERT_BATCH = (
    "INSERT INTO cachemon._ingested_batches (batch_id, event_count, source)"
    " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
)

WriteResult = Literal["stored", "duplicate"]

# Keep dead connections from being garbage collected in a forked child: finalizing one would
# send a Terminate message on the socket the parent still uses.
_KEEP_ALIVE_AFTER_FORK: list[object] = []


class BatchWriter:
    """One connection that writes batches; not thread-safe (the flusher owns it)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        source: str = "collector",
        application_name: str = "cachemon-collector",
        connect_timeout: int = 5,
    ) -> None:
        self.url = resolve_url(url)
        self.source = source
        self.application_name = application_name
        self.connect_timeout = connect_timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._staged = False
        self._reached = False

    @property
    def reached_server(self) -> bool:
        """Whether the last connection attempt logged in (even if cachemon's schema was then
        missing), or a connection is open now."""
        return self.connected or self._reached

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed

    @property
    def staged(self) -> bool:
        """Whether rows go through the temporary table (the role is subject to RLS)."""
        return self._staged

    def connect(self) -> None:
        if self.connected:
            return
        self._reached = False
        try:
            conn = psycopg.connect(
                self.url,
                autocommit=False,
                application_name=self.application_name,
                connect_timeout=self.connect_timeout,
                # Find a dead peer in seconds, not in the kernel's default two hours.
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=2,
                keepalives_count=3,
                tcp_user_timeout=15000,
            )
            self._reached = True
            try:
                row = conn.execute(
                    "SELECT pg_catalog.row_security_active('cachemon.cache_metrics')"
                ).fetchone()
                self._staged = bool(row and row[0])
                if self._staged:
                    conn.execute(_CREATE_STAGE)
                conn.commit()
            except BaseException:
                conn.close()
                raise
        except psycopg.Error as exc:
            raise translate(exc) from exc
        self._conn = conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            # Closing a broken connection must not hide the first error.
            with contextlib.suppress(Exception):
                conn.close()

    def forget_after_fork(self) -> None:
        """In a forked child: drop the parent's connection without touching its socket."""
        if self._conn is not None:
            _KEEP_ALIVE_AFTER_FORK.append(self._conn)
        self._conn = None

    def write(self, batch_id: UUID, events: Sequence[Event]) -> WriteResult:
        """Store ``events`` (keys in stored form) as batch ``batch_id``, once.

        Raises the package errors of ``orchestrator.errors``: ``InvalidInput`` when the
        database refuses the rows (nothing of the batch is stored), ``DatabaseUnavailable``
        when the connection failed (the outcome is unknown: retry with the same id).
        """
        self.connect()
        conn = self._conn
        assert conn is not None
        try:
            with conn.cursor() as cur:
                cur.execute(_INSERT_BATCH, (batch_id, len(events), self.source))
                if cur.rowcount == 0:
                    conn.rollback()
                    return "duplicate"
                target = _STAGE if self._staged else "cachemon.cache_metrics"
                with cur.copy(f"COPY {target} ({_COLUMN_LIST}) FROM STDIN (FORMAT binary)") as cp:
                    for chunk in encode_rows(events, batch_id):
                        cp.write(chunk)
                if self._staged:
                    cur.execute(
                        f"INSERT INTO cachemon.cache_metrics ({_COLUMN_LIST})"
                        f" SELECT {_COLUMN_LIST} FROM {_STAGE}"
                    )
            conn.commit()
        except psycopg.Error as exc:
            error = translate(exc)
            if conn.closed or isinstance(exc, psycopg.OperationalError):
                self.close()
            else:
                try:
                    conn.rollback()
                except psycopg.Error:
                    self.close()
            raise error from exc
        return "stored"

    def write_edge(self, batch_id: UUID, rows: Sequence[dict[str, Any]]) -> WriteResult:
        """Store edge rows (aggregate mode) as batch ``batch_id``, once, through
        ``cachemon.ingest_edge``: the batch id and the rows commit together; a batch id
        already stored with the same rows returns 0 (``duplicate``). Errors as ``write``."""
        self.connect()
        conn = self._conn
        assert conn is not None
        try:
            row = conn.execute(
                "SELECT cachemon.ingest_edge(%s::jsonb, %s)", (json.dumps(list(rows)), batch_id)
            ).fetchone()
            conn.commit()
        except psycopg.Error as exc:
            error = translate(exc)
            if conn.closed or isinstance(exc, psycopg.OperationalError):
                self.close()
            else:
                try:
                    conn.rollback()
                except psycopg.Error:
                    self.close()
            raise error from exc
        return "stored" if row and row[0] else "duplicate"

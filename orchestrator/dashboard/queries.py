"""What the dashboard reads, all through SQL functions a DBA can call in psql.

Each query is kept as text (shown beside the JSON, Datasette-style: the page is a query the
user could run themselves). Values go to JSON as numbers, strings and ISO times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

AConn = psycopg.AsyncConnection[dict[str, Any]]


@dataclass(frozen=True)
class Range:
    """A range the page offers: its window and the resolution it is drawn at."""

    name: str
    window: timedelta
    resolution: timedelta


RANGES: dict[str, Range] = {
    r.name: r
    for r in (
        Range("1h", timedelta(hours=1), timedelta(minutes=1)),
        Range("6h", timedelta(hours=6), timedelta(minutes=1)),
        Range("24h", timedelta(hours=24), timedelta(minutes=1)),
        Range("7d", timedelta(days=7), timedelta(hours=1)),
        Range("30d", timedelta(days=30), timedelta(hours=1)),
    )
}
DEFAULT_RANGE = "6h"

SQL_TIMESERIES = "SELECT * FROM cachemon.get_timeseries(%(window)s, %(resolution)s, NULL, %(now)s)"
SQL_TRAFFIC = "SELECT * FROM cachemon.get_traffic_share(%(window)s, %(now)s)"
SQL_ERRORS = "SELECT * FROM cachemon.get_error_breakdown(%(window)s, NULL, %(now)s)"
SQL_FINDINGS = (
    "SELECT id, implementation_type, rule, severity, category, status, metric,"
    " observed_value, baseline_value, message, recommendation, first_seen_at, last_seen_at,"
    " occurrences, acknowledged_at, acknowledged_by FROM cachemon.get_live_findings(200)"
)
VERDICT_SIGNATURE = "cachemon.migration_verdict(text,text,interval,timestamptz)"
SQL_VERDICT = (
    "SELECT candidate, reference, window_start, window_end, verdict, score, evidence, metrics"
    " FROM cachemon.migration_verdict(%(candidate)s, %(reference)s, %(verdict_window)s, %(now)s)"
)
SQL_PERMISSIONS = (
    "SELECT current_user AS role,"
    " has_function_privilege("
    "'cachemon.acknowledge_observation(bigint,text,timestamptz)', 'EXECUTE') AS acknowledge,"
    " has_function_privilege("
    "'cachemon.resolve_observation(bigint,text,text,timestamptz)', 'EXECUTE') AS resolve,"
    " to_regprocedure(%(verdict_sig)s) IS NOT NULL AS verdict_exists,"
    " to_regclass('cachemon._auditor_health') IS NOT NULL"
    " AND has_table_privilege('cachemon._auditor_health', 'SELECT') AS auditor_health,"
    " now() AS now"
)
SQL_AUDITOR = (
    "SELECT failure, failing_since, last_failure_at, last_success_at, recovered_at"
    " FROM cachemon._auditor_health"
)
SQL_ACKNOWLEDGE = "SELECT id, status FROM cachemon.acknowledge_observation(%(id)s, %(by)s)"
SQL_RESOLVE = "SELECT id, status FROM cachemon.resolve_observation(%(id)s, %(by)s, %(note)s)"

SERIES_COLUMNS = (
    "total_events",
    "hits",
    "misses",
    "sets",
    "evictions",
    "errors",
    "hit_rate",
    "error_rate",
    "events_per_minute",
    "avg_response_time_ms",
    "p50_response_time_ms",
    "p95_response_time_ms",
    "p99_response_time_ms",
    "max_response_time_ms",
    "avg_cache_size",
    "max_cache_size",
)


def jsonable(value: Any) -> Any:
    """A value as JSON can carry it: numbers as numbers (non-finite as null), times as ISO."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


async def connect(url: str, application_name: str) -> AConn:
    return await psycopg.AsyncConnection.connect(
        url, autocommit=True, row_factory=dict_row, application_name=application_name
    )


async def permissions(conn: AConn) -> dict[str, Any]:
    cur = await conn.execute(SQL_PERMISSIONS, {"verdict_sig": VERDICT_SIGNATURE})
    row = await cur.fetchone()
    assert row is not None
    return row


def pivot(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """get_timeseries rows as uPlot wants them: one x array (bucket starts, epoch seconds) and,
    per implementation and column, an array aligned with it (null where no row)."""
    xs = sorted({r["bucket"] for r in rows})
    index = {b: i for i, b in enumerate(xs)}
    impls = sorted({r["implementation_type"] for r in rows})
    series: dict[str, dict[str, list[Any]]] = {
        impl: {c: [None] * len(xs) for c in SERIES_COLUMNS} for impl in impls
    }
    for r in rows:
        cols = series[r["implementation_type"]]
        i = index[r["bucket"]]
        for c in SERIES_COLUMNS:
            cols[c][i] = jsonable(r[c])
    return {
        "x": [b.timestamp() for b in xs],
        "implementations": impls,
        "series": series,
    }


async def state(
    conn: AConn,
    range_: Range,
    *,
    candidate: str,
    reference: str,
    verdict_window: timedelta,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Everything the page shows for one range, read in one REPEATABLE READ snapshot."""
    async with conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        perms = await permissions(conn)
        at = now or perms["now"]
        params = {
            "window": range_.window,
            "resolution": range_.resolution,
            "now": at,
            "candidate": candidate,
            "reference": reference,
            "verdict_window": verdict_window,
        }
        rows = await (await conn.execute(SQL_TIMESERIES, params)).fetchall()
        traffic = await (await conn.execute(SQL_TRAFFIC, params)).fetchall()
        errors = await (await conn.execute(SQL_ERRORS, params)).fetchall()
        findings = await (await conn.execute(SQL_FINDINGS)).fetchall()
        # The auditor's last outcome: the page shows a banner while it fails.
        auditor: dict[str, Any] = {"available": False}
        if perms["auditor_health"]:
            row = await (await conn.execute(SQL_AUDITOR)).fetchone()
            auditor = {"available": True, **(row or {})}
        verdict: dict[str, Any] = {"available": False}
        if perms["verdict_exists"]:
            try:
                async with conn.transaction():  # a savepoint: a failing verdict is shown
                    row = await (await conn.execute(SQL_VERDICT, params)).fetchone()
                verdict = {"available": True, **(row or {})}
            except psycopg.DatabaseError as exc:
                message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                verdict = {"available": True, "error": message}
    return {
        "range": range_.name,
        "window_seconds": range_.window.total_seconds(),
        "resolution_seconds": range_.resolution.total_seconds(),
        "now": jsonable(at),
        "role": perms["role"],
        "can_acknowledge": bool(perms["acknowledge"]),
        "can_resolve": bool(perms["resolve"]),
        "timeseries": pivot(rows),
        "traffic_share": jsonable(traffic),
        "errors": jsonable(errors),
        "findings": jsonable(findings),
        "verdict": jsonable(verdict),
        "auditor": jsonable(auditor),
        "sql": {
            "timeseries": SQL_TIMESERIES,
            "traffic_share": SQL_TRAFFIC,
            "errors": SQL_ERRORS,
            "findings": SQL_FINDINGS,
            "verdict": SQL_VERDICT,
            "auditor": SQL_AUDITOR,
        },
        "params": jsonable(params),
    }


async def acknowledge(conn: AConn, observation_id: int, by: str) -> dict[str, Any]:
    row = await (await conn.execute(SQL_ACKNOWLEDGE, {"id": observation_id, "by": by})).fetchone()
    return jsonable(row or {})  # type: ignore[no-any-return]


async def resolve(conn: AConn, observation_id: int, by: str, note: str | None) -> dict[str, Any]:
    row = await (
        await conn.execute(SQL_RESOLVE, {"id": observation_id, "by": by, "note": note})
    ).fetchone()
    return jsonable(row or {})  # type: ignore[no-any-return]


def check_readable(conn: psycopg.Connection[Any]) -> None:
    """Read what the page reads, once, as the role the page will use: a wrong URL, password,
    missing schema or missing privilege fails here, at start, as one error."""
    conn.execute("SELECT count(*) FROM cachemon.get_timeseries('1 hour')").fetchone()

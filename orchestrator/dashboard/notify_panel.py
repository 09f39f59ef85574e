"""The dashboard's alerts panel: the notification log, the silences, and (for an admin role)
creating and expiring a silence.

- ``GET /notify.json``                    silences (active and pending), the last deliveries
  with their last attempt, the last stage decisions, each with the SQL it ran
- ``POST /silences``                      JSON ``{"matchers": ["implementation=x", ...],
  "minutes": 120, "by": ..., "comment": ...}`` -> ``cachemon.add_silence``
- ``POST /silences/<id>/expire``          JSON ``{"by": ...}`` -> ``cachemon.expire_silence``

The POSTs are protected against cross-site use exactly like acknowledge (CSRF header, JSON
body, same-origin Origin / Sec-Fetch-Site). No query reads a receiver's URL or password:
only ``notify_receivers.endpoint`` (scheme, host, port).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestrator.dashboard import queries
from orchestrator.notify import parse_matchers

SQL_SILENCES = (
    "SELECT id, matchers, starts_at, ends_at, created_by, comment FROM cachemon.notify_silences"
    " WHERE ends_at > now() ORDER BY starts_at, id"
)
SQL_DELIVERIES = (
    "SELECT d.id, d.receiver, r.kind, r.endpoint, d.status, d.reason, d.observation_ids,"
    " d.attempts, d.created_at, d.delivered_at, d.dead_reason, t.status_code AS last_status,"
    " t.error AS last_error, t.recorded_at AS last_attempt_at"
    " FROM cachemon.notify_deliveries AS d"
    " JOIN cachemon.notify_receivers AS r ON r.name = d.receiver"
    " LEFT JOIN LATERAL (SELECT a.status_code, a.error, a.recorded_at"
    "   FROM cachemon.notify_attempts AS a WHERE a.delivery_id = d.id"
    "   ORDER BY a.id DESC LIMIT 1) AS t ON true"
    " ORDER BY d.id DESC LIMIT 50"
)
SQL_LOG = (
    "SELECT id, at, observation_id, receiver, stage, outcome, reason, delivery_id"
    " FROM cachemon.notify_log WHERE outcome <> 'grouped' ORDER BY id DESC LIMIT 50"
)
SQL_CAN_SILENCE = (
    "SELECT has_function_privilege('cachemon.add_silence(jsonb, timestamptz, text, text,"
    " timestamptz, timestamptz)', 'EXECUTE') AS can_silence"
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _refusal(request: Request, csrf_token: str) -> JSONResponse | None:
    """The same cross-site protection as acknowledge: same-origin, CSRF header, JSON body."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return JSONResponse({"error": "cross-site request refused"}, status_code=403)
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    if origin is not None and origin not in (f"http://{host}", f"https://{host}"):
        return JSONResponse({"error": "cross-origin request refused"}, status_code=403)
    offered = request.headers.get("x-cachemon-csrf", "")
    if not hmac.compare_digest(offered.encode(), csrf_token.encode()):
        return JSONResponse({"error": "missing or wrong CSRF token"}, status_code=403)
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return JSONResponse(
            {"error": "the body must be JSON (content-type application/json)"}, status_code=415
        )
    return None


async def _body(request: Request) -> dict[str, Any]:
    body = json.loads(await request.body() or b"{}")
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def routes(database_url: str, csrf_token: str) -> list[Route]:
    """The panel's routes, for the dashboard app's route list."""

    async def run(
        fn: Callable[[queries.AConn], Any],
    ) -> Response:
        try:
            async with await queries.connect(database_url, "cachemon dashboard") as conn:
                return JSONResponse(_plain(await fn(conn)), headers={"cache-control": "no-store"})
        except psycopg.errors.InsufficientPrivilege as exc:
            return JSONResponse(
                {"error": f"the dashboard's database role may not do this: {exc}"},
                status_code=403,
            )
        except (psycopg.errors.InvalidParameterValue, psycopg.errors.CheckViolation) as exc:
            return JSONResponse({"error": str(exc).splitlines()[0]}, status_code=400)
        except psycopg.OperationalError as exc:
            return JSONResponse({"error": f"database unavailable: {exc}".strip()}, status_code=503)

    async def notify_json(request: Request) -> Response:
        async def read(conn: queries.AConn) -> dict[str, Any]:
            out: dict[str, Any] = {
                "sql": {"silences": SQL_SILENCES, "deliveries": SQL_DELIVERIES, "log": SQL_LOG}
            }
            for name, query in (
                ("silences", SQL_SILENCES),
                ("deliveries", SQL_DELIVERIES),
                ("log", SQL_LOG),
            ):
                out[name] = await (await conn.execute(query)).fetchall()
            row = await (await conn.execute(SQL_CAN_SILENCE)).fetchone()
            out["can_silence"] = bool(row and row["can_silence"])
            return out

        return await run(read)

    async def add(request: Request) -> Response:
        refused = _refusal(request, csrf_token)
        if refused is not None:
            return refused
        try:
            body = await _body(request)
            texts = body.get("matchers")
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise ValueError("matchers must be a list of texts such as implementation=redis")
            matchers = parse_matchers([t for t in texts if t.strip()])
            minutes = body.get("minutes", 120)
            if not isinstance(minutes, int | float) or not 1 <= minutes <= 90 * 24 * 60:
                raise ValueError("minutes must be a number within 1..129600")
            by = str(body.get("by") or "dashboard")
            comment = str(body.get("comment") or "")
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

        async def create(conn: queries.AConn) -> Any:
            cur = await conn.execute(
                "SELECT id, matchers, starts_at, ends_at, created_by, comment"
                " FROM cachemon.add_silence(%s, now() + make_interval(secs => %s), %s, %s)",
                (json.dumps(matchers), 60.0 * float(minutes), by, comment),
            )
            return await cur.fetchone()

        return await run(create)

    async def expire(request: Request) -> Response:
        refused = _refusal(request, csrf_token)
        if refused is not None:
            return refused
        try:
            silence_id = int(request.path_params["id"])
            by = str((await _body(request)).get("by") or "dashboard")
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

        async def end(conn: queries.AConn) -> Any:
            cur = await conn.execute(
                "SELECT id, matchers, starts_at, ends_at, created_by, comment, expired_by"
                " FROM cachemon.expire_silence(%s, %s)",
                (silence_id, by),
            )
            return await cur.fetchone()

        return await run(end)

    return [
        Route("/notify.json", notify_json),
        Route("/silences", add, methods=["POST"]),
        Route("/silences/{id:int}/expire", expire, methods=["POST"]),
    ]

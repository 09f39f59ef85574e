"""The dashboard as a plain ASGI callable (Starlette): one page, its JSON twins, SSE, two POSTs.

Routes (every page view has a JSON twin, as in Datasette):

- ``GET /?range=6h``          the page (HTML + vendored uPlot; no third-party request)
- ``GET /.json?range=6h``     everything the page shows, with the SQL it ran
- ``GET /<part>.json``        one part: timeseries, traffic_share, errors, findings, verdict
- ``GET /events?range=6h``    Server-Sent Events: ``status``, ``notify`` (the pg_notify
  payload's identifiers), ``state`` (the re-read JSON of ``/.json``)
- ``POST /findings/<id>/acknowledge`` and ``/findings/<id>/resolve`` (JSON body ``{"by": ...}``)

Security: a token (``CACHEMON_DASHBOARD_TOKEN``) when one is configured, compared in constant
time; without one, only loopback Host headers are served (no DNS rebinding). POSTs need the
per-server CSRF token in ``X-Cachemon-CSRF``, a JSON body, and a same-origin Origin /
Sec-Fetch-Site. Every response carries a strict Content-Security-Policy; the page renders
database text with ``textContent`` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.cookies import SimpleCookie
from importlib import resources
from typing import Any

import psycopg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.dashboard import notify_panel, queries
from orchestrator.dashboard.live import Client, Hub

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
TOKEN_COOKIE = "cachemon_dashboard_token"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
PARTS = ("timeseries", "traffic_share", "errors", "findings", "verdict")


@dataclass
class DashboardSettings:
    """What the server needs: the database (its role is the one the URL logs in as), an
    optional token, and the pair the verdict compares."""

    database_url: str
    token: str | None = None
    candidate: str = "new"
    reference: str = "legacy"
    verdict_window: timedelta = timedelta(hours=1)
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    debounce: float = 0.15


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class SecurityMiddleware:
    """Headers on every response, the token check, and the Host check without a token."""

    def __init__(self, app: ASGIApp, settings: DashboardSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = self._refusal(request)
        if refusal is not None:
            await self._with_headers(refusal)(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def _with_headers(response: Response) -> Response:
        for k, v in SECURITY_HEADERS:
            response.headers[k.decode()] = v.decode()
        return response

    def _refusal(self, request: Request) -> Response | None:
        token = self.settings.token
        if token is None:
            host = (request.headers.get("host") or "").rsplit(":", 1)[0]
            if host not in LOOPBACK_HOSTS:
                return PlainTextResponse("refused: not a loopback Host", status_code=421)
            return None
        offered = None
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            offered = auth[7:].strip()
        if offered is None:
            cookie = SimpleCookie(request.headers.get("cookie", ""))
            if TOKEN_COOKIE in cookie:
                offered = cookie[TOKEN_COOKIE].value
        if offered is None and request.method == "GET" and request.url.path == "/":
            query_token = request.query_params.get("token")
            if query_token is not None and _same(query_token, token):
                # First visit with ?token=: keep it in a cookie, drop it from the address.
                params = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                target = "/" + ("?" + "&".join(f"{k}={v}" for k, v in params) if params else "")
                response = RedirectResponse(target, status_code=303)
                response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict", path="/")
                return response
        if offered is None or not _same(offered, token):
            return PlainTextResponse(
                "token required (Authorization: Bearer, or open /?token=...)", status_code=401
            )
        return None


def _range(request: Request) -> queries.Range:
    name = request.query_params.get("range", queries.DEFAULT_RANGE)
    if name not in queries.RANGES:
        raise ValueError(f"range must be one of {', '.join(queries.RANGES)} (got {name!r})")
    return queries.RANGES[name]


def create_app(settings: DashboardSettings) -> Starlette:
    """The ASGI app. Its lifespan starts the LISTEN connection and stops it."""
    static_dir = resources.files("orchestrator.dashboard") / "static"
    page_template = (static_dir / "index.html").read_text(encoding="utf-8")

    async def read_state(range_name: str) -> dict[str, Any]:
        async with await queries.connect(settings.database_url, "cachemon dashboard") as conn:
            return await queries.state(
                conn,
                queries.RANGES[range_name],
                candidate=settings.candidate,
                reference=settings.reference,
                verdict_window=settings.verdict_window,
            )

    hub = Hub(settings.database_url, read_state, debounce=settings.debounce)

    def bad_request(message: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    async def page(request: Request) -> Response:
        try:
            range_ = _range(request)
        except ValueError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        html = page_template.replace("{{csrf}}", settings.csrf_token).replace(
            "{{range}}", range_.name
        )
        return HTMLResponse(html, headers={"cache-control": "no-store"})

    async def state_json(request: Request) -> Response:
        try:
            range_ = _range(request)
        except ValueError as exc:
            return bad_request(str(exc))
        part = request.path_params.get("part")
        if part is not None and part not in PARTS:
            return bad_request(f"unknown part {part!r}; one of {', '.join(PARTS)}", 404)
        try:
            data = await read_state(range_.name)
        except psycopg.OperationalError as exc:
            return bad_request(f"database unavailable: {exc}".strip(), 503)
        if part is not None:
            data = {
                part: data[part],
                "sql": data["sql"].get(part),
                "params": data["params"],
                "now": data["now"],
            }
        return JSONResponse(data, headers={"cache-control": "no-store"})

    async def events(request: Request) -> Response:
        try:
            range_ = _range(request)
        except ValueError as exc:
            return bad_request(str(exc))
        client = Client(range_.name)
        hub.add(client)

        async def stream() -> AsyncIterator[str]:
            try:
                yield "retry: 1000\n\n"
                with contextlib.suppress(Exception):
                    client.send("state", await read_state(range_.name))
                while True:
                    try:
                        message = await asyncio.wait_for(client.queue.get(), timeout=15)
                    except TimeoutError:
                        message = ": keep-alive\n\n"
                    yield message
            finally:
                hub.remove(client)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    async def act(request: Request) -> Response:
        action = request.path_params["action"]
        if action not in ("acknowledge", "resolve"):
            return bad_request(f"unknown action {action!r}", 404)
        # Cross-site protection: a same-origin fetch with our CSRF header and a JSON body.
        site = request.headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return bad_request("cross-site request refused", 403)
        origin = request.headers.get("origin")
        host = request.headers.get("host", "")
        if origin is not None and origin not in (f"http://{host}", f"https://{host}"):
            return bad_request("cross-origin request refused", 403)
        offered = request.headers.get("x-cachemon-csrf", "")
        if not _same(offered, settings.csrf_token):
            return bad_request("missing or wrong CSRF token", 403)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return bad_request("the body must be JSON (content-type application/json)", 415)
        try:
            observation_id = int(request.path_params["id"])
            body = json.loads(await request.body() or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            by = str(body.get("by") or "dashboard")
            note = body.get("note")
            note = None if note is None else str(note)
        except ValueError as exc:
            return bad_request(str(exc))
        try:
            async with await queries.connect(settings.database_url, "cachemon dashboard") as conn:
                if action == "acknowledge":
                    row = await queries.acknowledge(conn, observation_id, by)
                else:
                    row = await queries.resolve(conn, observation_id, by, note)
        except psycopg.errors.InsufficientPrivilege as exc:
            return bad_request(f"the dashboard's database role may not do this: {exc}", 403)
        except (psycopg.errors.InvalidParameterValue, psycopg.errors.CheckViolation) as exc:
            return bad_request(str(exc).splitlines()[0])
        except psycopg.OperationalError as exc:
            return bad_request(f"database unavailable: {exc}".strip(), 503)
        return JSONResponse(row)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        hub.start()
        try:
            yield
        finally:
            await hub.stop()

    routes = [
        # the alerts panel (notification log, silences): orchestrator/dashboard/notify_panel.py;
        # before /{part}.json, which would take /notify.json
        *notify_panel.routes(settings.database_url, settings.csrf_token),
        Route("/", page),
        Route("/.json", state_json),
        Route("/{part}.json", state_json),
        Route("/events", events),
        Route("/findings/{id:int}/{action:str}", act, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(static_dir)), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.hub = hub
    app.state.settings = settings
    app.add_middleware(SecurityMiddleware, settings=settings)
    return app

"""The dashboard as a plain ASGI callable (Starlette): one page, its JSON twins, SSE, two POSTs.

Routes (every page view has a JSON twin, as in Datasette):

- ``GET /?range=6h``          the page (HTML + vendored uPlot; no third-party request)
- ``GET /.json?range=6h``     everything the page shows, with the SQL it ran
- ``GET /<part>.json``        one part: timeseries, traffic_share, errors, findings, verdict
- ``GET /events?range=6h``    Server-Sent Events: ``status``, ``notify`` (the pg_notify
  payload's identifiers), ``state`` (the re-read JSON of ``/.json``)
- ``POST /findings/<id>/acknowledge`` and ``/findings/<id>/resolve`` (JSON body ``{"by": ...}``)

Security: a token (``CACHEMON_DASHBOARD_TOKEN``) when one is configured, compared in constant
time; opening ``/?token=...`` trades it for a random session id kept in this server's memory
(the cookie never holds the token, and no other server accepts it). Without a token, only
loopback Host headers are served (no DNS rebinding). POSTs need the per-server CSRF token in
``X-Cachemon-CSRF``, a JSON body, and a same-origin Origin / Sec-Fetch-Site. Every response
carries a strict Content-Security-Policy; the page renders database text with ``textContent``.

Capacity: every database read goes through one small connection pool (``pool_size``, 4 by
default) plus the hub's one LISTEN connection, whatever the number of pages or requests. At
most ``max_clients`` live pages and ``max_requests`` other requests are served at once;
beyond them the answer is ``429 Too Many Requests`` with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.cookies import SimpleCookie
from importlib import resources
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.dashboard import notify_panel, queries
from orchestrator.dashboard.live import CHUNK, Client, Hub

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
SESSION_COOKIE = "cachemon_session_"  # + this server's random id: servers never share one
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
PARTS = ("timeseries", "traffic_share", "errors", "findings", "verdict")


@dataclass
class DashboardSettings:
    """What the server needs: the database (its role is the one the URL logs in as), an
    optional token, the pair the verdict compares, and the bounds on what it holds.

    - ``pool_size``: database connections shared by all requests and the hub's re-reads
      (the LISTEN connection is one more); ``pool_timeout``: seconds a request waits for one
      before a 503.
    - ``max_clients``: live pages (SSE) at once; ``max_requests``: other requests in flight
      at once. Beyond either, 429 with Retry-After.
    - ``min_interval``: at most one round of re-reads per this many seconds, however many
      notifications arrive; ``debounce``: the quiet time a round waits for.
    - ``stall_timeout``: a page whose socket accepts nothing for this long is closed.
    - ``session_ttl``: how long a session from ``/?token=`` lasts (in this server's memory).
    """

    database_url: str
    token: str | None = None
    candidate: str = "new"
    reference: str = "legacy"
    verdict_window: timedelta = timedelta(hours=1)
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    debounce: float = 0.15
    pool_size: int = 4
    pool_timeout: float = 10.0
    max_clients: int = 200
    max_requests: int = 16
    min_interval: float = 1.0
    stall_timeout: float = 10.0
    session_ttl: timedelta = timedelta(hours=12)
    server_id: str = field(default_factory=lambda: secrets.token_hex(8))

    def __post_init__(self) -> None:
        for name in ("pool_size", "max_clients", "max_requests"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("pool_timeout", "min_interval", "stall_timeout"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")

    @property
    def session_cookie(self) -> str:
        return SESSION_COOKIE + self.server_id


class Sessions:
    """Session ids handed out for the token: random, server-side, expiring, bounded."""

    MAX = 1000

    def __init__(self, ttl: timedelta) -> None:
        self.ttl = ttl.total_seconds()
        self._expiry: dict[str, float] = {}

    def new(self) -> str:
        now = time.monotonic()
        self._expiry = {k: v for k, v in self._expiry.items() if v > now}
        while len(self._expiry) >= self.MAX:  # the oldest make way
            del self._expiry[next(iter(self._expiry))]
        sid = secrets.token_urlsafe(32)
        self._expiry[sid] = now + self.ttl
        return sid

    def valid(self, sid: str) -> bool:
        expiry = self._expiry.get(sid)
        if expiry is None:
            # Constant time against the ids we hold is not needed: a dict lookup reveals
            # nothing usable about a 256-bit random id.
            return False
        if expiry <= time.monotonic():
            del self._expiry[sid]
            return False
        return True


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class SecurityMiddleware:
    """Headers on every response, the token check, and the Host check without a token."""

    def __init__(self, app: ASGIApp, settings: DashboardSettings, sessions: Sessions) -> None:
        self.app = app
        self.settings = settings
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = self._refusal(request)
        if refusal is not None:
            await with_headers(refusal)(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _refusal(self, request: Request) -> Response | None:
        token = self.settings.token
        if token is None:
            host = (request.headers.get("host") or "").rsplit(":", 1)[0]
            if host not in LOOPBACK_HOSTS:
                return PlainTextResponse("refused: not a loopback Host", status_code=421)
            return None
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            if _same(auth[7:].strip(), token):
                return None
            return PlainTextResponse("wrong token", status_code=401)
        cookie = SimpleCookie(request.headers.get("cookie", ""))
        name = self.settings.session_cookie
        if name in cookie and self.sessions.valid(cookie[name].value):
            return None
        if request.method == "GET" and request.url.path == "/":
            query_token = request.query_params.get("token")
            if query_token is not None and _same(query_token, token):
                # First visit with ?token=: a fresh session id in a cookie (never the token
                # itself), and the token dropped from the address.
                params = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                target = "/" + ("?" + "&".join(f"{k}={v}" for k, v in params) if params else "")
                response = RedirectResponse(target, status_code=303)
                response.set_cookie(
                    name,
                    self.sessions.new(),
                    max_age=int(self.sessions.ttl),
                    httponly=True,
                    samesite="strict",
                    path="/",
                )
                return response
        return PlainTextResponse(
            "token required (Authorization: Bearer, or open /?token=...)", status_code=401
        )


def with_headers(response: Response) -> Response:
    for k, v in SECURITY_HEADERS:
        response.headers[k.decode()] = v.decode()
    return response


def busy(what: str, limit: int, setting: str) -> Response:
    return PlainTextResponse(
        f"busy: {limit} {what} already ({setting}); retry shortly",
        status_code=429,
        headers={"retry-after": "1", "cache-control": "no-store"},
    )


class RequestCap:
    """At most ``max_requests`` requests in flight (live pages are capped by the hub)."""

    def __init__(self, app: ASGIApp, settings: DashboardSettings) -> None:
        self.app = app
        self.limit = settings.max_requests
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == "/events":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            response = busy("requests in flight", self.limit, "max_requests")
            await response(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


def _range(request: Request) -> queries.Range:
    name = request.query_params.get("range", queries.DEFAULT_RANGE)
    if name not in queries.RANGES:
        raise ValueError(f"range must be one of {', '.join(queries.RANGES)} (got {name!r})")
    return queries.RANGES[name]


class ASGIEndpoint:
    """A plain ASGI callable as a route (Starlette treats a bare function as a request
    handler, so it is wrapped in an object)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def create_app(settings: DashboardSettings) -> Starlette:
    """The ASGI app. Its lifespan opens the pool and the LISTEN connection and closes them
    (a test driving the app in-process runs it: ``app.router.lifespan_context(app)``)."""
    static_dir = resources.files("orchestrator.dashboard") / "static"
    page_template = (static_dir / "index.html").read_text(encoding="utf-8")
    Pool = AsyncConnectionPool[psycopg.AsyncConnection[dict[str, Any]]]

    def new_pool() -> Pool:
        return AsyncConnectionPool(
            settings.database_url,
            min_size=1,
            max_size=settings.pool_size,
            timeout=settings.pool_timeout,
            open=False,
            name="cachemon-dashboard",
            connection_class=psycopg.AsyncConnection[dict[str, Any]],
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "application_name": "cachemon dashboard",
            },
            check=AsyncConnectionPool.check_connection,
            reconnect_timeout=0,  # keep trying while the database is away
        )

    pools: list[Pool] = []  # the pool of the running lifespan (a pool cannot be reopened)

    def pool() -> Pool:
        if not pools:
            raise RuntimeError("the dashboard app runs only inside its lifespan")
        return pools[0]

    sessions = Sessions(settings.session_ttl)

    async def read_state(range_name: str) -> dict[str, Any]:
        async with pool().connection() as conn:
            return await queries.state(
                conn,
                queries.RANGES[range_name],
                candidate=settings.candidate,
                reference=settings.reference,
                verdict_window=settings.verdict_window,
            )

    hub = Hub(
        settings.database_url,
        read_state,
        debounce=settings.debounce,
        min_interval=settings.min_interval,
        max_clients=settings.max_clients,
        stall_timeout=settings.stall_timeout,
    )

    def bad_request(message: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    def unavailable(message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=503, headers={"retry-after": "1"})

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
            # Concurrent requests (and pages) for one range share one read.
            data = dict(await hub.read_shared(range_.name))
        except PoolTimeout:
            return unavailable(f"no database connection free within {settings.pool_timeout} s")
        except psycopg.OperationalError as exc:
            return unavailable(f"database unavailable: {exc}".strip())
        if part is not None:
            data = {
                part: data[part],
                "sql": data["sql"].get(part),
                "params": data["params"],
                "now": data["now"],
            }
        return JSONResponse(data, headers={"cache-control": "no-store"})

    async def events(scope: Scope, receive: Receive, send: Send) -> None:
        """Server-Sent Events, written by hand: each message in writes of at most CHUNK
        bytes (uvicorn waits for a full socket to drain before the next), so a page that
        does not read holds about two chunks of this server's memory, and the hub can close
        it by cancelling its writer."""
        request = Request(scope)
        try:
            range_ = _range(request)
        except ValueError as exc:
            await bad_request(str(exc))(scope, receive, send)
            return
        if hub.full():
            await busy("live pages", settings.max_clients, "max_clients")(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        client = Client(range_.name)

        async def write(data: bytes) -> None:
            client.writing_since = loop.time()
            for start in range(0, len(data), CHUNK):
                piece = data[start : start + CHUNK]
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            client.writing_since = None

        async def pump() -> None:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream; charset=utf-8"),
                        (b"cache-control", b"no-store"),
                        (b"x-accel-buffering", b"no"),
                    ],
                }
            )
            await write(b"retry: 1000\n\n")
            while not client.closed:
                data = client.take()
                if data is None:
                    try:
                        await asyncio.wait_for(client.wake.wait(), timeout=15)
                        continue
                    except TimeoutError:
                        data = b": keep-alive\n\n"
                await write(data)

        async def disconnected() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        hub.add(client)
        tasks = [asyncio.create_task(pump()), asyncio.create_task(disconnected())]
        client.task = tasks[0]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            hub.remove(client)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

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
            async with pool().connection() as conn:
                if action == "acknowledge":
                    row = await queries.acknowledge(conn, observation_id, by)
                else:
                    row = await queries.resolve(conn, observation_id, by, note)
        except psycopg.errors.InsufficientPrivilege as exc:
            return bad_request(f"the dashboard's database role may not do this: {exc}", 403)
        except (psycopg.errors.InvalidParameterValue, psycopg.errors.CheckViolation) as exc:
            return bad_request(str(exc).splitlines()[0])
        except PoolTimeout:
            return unavailable(f"no database connection free within {settings.pool_timeout} s")
        except psycopg.OperationalError as exc:
            return unavailable(f"database unavailable: {exc}".strip())
        return JSONResponse(row)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pools[:] = [new_pool()]
        await pools[0].open(wait=False)
        hub.start()
        try:
            yield
        finally:
            await hub.stop()
            await pools[0].close()

    routes = [
        # the alerts panel (notification log, silences): orchestrator/dashboard/notify_panel.py;
        # before /{part}.json, which would take /notify.json
        *notify_panel.routes(settings.database_url, settings.csrf_token),
        Route("/", page),
        Route("/.json", state_json),
        Route("/{part}.json", state_json),
        Route("/events", ASGIEndpoint(events)),
        Route("/findings/{id:int}/{action:str}", act, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(static_dir)), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.hub = hub
    app.state.pools = pools
    app.state.sessions = sessions
    app.state.settings = settings
    app.add_middleware(RequestCap, settings=settings)
    app.add_middleware(SecurityMiddleware, settings=settings, sessions=sessions)
    return app

"""Run the dashboard with uvicorn, refusing unsafe addresses without a token."""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from collections.abc import Callable

import uvicorn

from orchestrator.dashboard.app import DashboardSettings, create_app
from orchestrator.dashboard.live import UnfinishedResponseFilter

TOKEN_ENV = "CACHEMON_DASHBOARD_TOKEN"
# The kernel's send buffer of each connection (accepted sockets inherit the listener's): with
# the app's 64 KiB writes it bounds what a page that stops reading holds in the kernel, and
# makes such a page visible as stalled (its writes stop completing) within a few pushes.
SEND_BUFFER = 256 * 1024


class UnsafeBind(ValueError):
    """A non-loopback address without a token."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Loopback is always allowed; any other address needs a token of at least 16 chars."""
    if is_loopback(host):
        return
    if not token:
        raise UnsafeBind(
            f"refusing to listen on {host} without a token: set {TOKEN_ENV} "
            "(then every request must carry it), or use --host 127.0.0.1"
        )
    if len(token) < 16:
        raise UnsafeBind(f"{TOKEN_ENV} must be at least 16 characters")


def token_from_env() -> str | None:
    return os.environ.get(TOKEN_ENV) or None


def make_server(
    settings: DashboardSettings, host: str = "127.0.0.1", port: int = 8421
) -> tuple[uvicorn.Server, socket.socket]:
    """A uvicorn server and its bound socket (port 0: an ephemeral port, see getsockname)."""
    check_bind(host, settings.token)
    uvicorn_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, UnfinishedResponseFilter) for f in uvicorn_log.filters):
        uvicorn_log.addFilter(UnfinishedResponseFilter())
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
    sock.bind((host.strip("[]"), port))
    sock.listen(512)
    sock.set_inheritable(True)
    config = uvicorn.Config(
        create_app(settings),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config), sock


def serve(
    settings: DashboardSettings,
    host: str = "127.0.0.1",
    port: int = 8421,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until interrupted."""
    server, sock = make_server(settings, host, port)
    bound_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    if on_ready is not None:
        on_ready(f"http://{shown}:{bound_port}/")
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()

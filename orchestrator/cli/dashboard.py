"""``cachemon dashboard``: serve the live page (orchestrator/dashboard, docs/dashboard.md)."""

from __future__ import annotations

from datetime import timedelta

import click

from orchestrator.cli import main
from orchestrator.cli.options import database_url_option


@main.command()
@database_url_option()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="CACHEMON_DASHBOARD_HOST",
    show_envvar=True,
    help="Address to listen on; anything but loopback needs CACHEMON_DASHBOARD_TOKEN.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8421,
    show_default=True,
    envvar="CACHEMON_DASHBOARD_PORT",
    show_envvar=True,
    help="TCP port (0: any free port).",
)
@click.option(
    "--candidate",
    default="new",
    show_default=True,
    envvar="CACHEMON_DASHBOARD_CANDIDATE",
    show_envvar=True,
    help="Implementation the verdict judges.",
)
@click.option(
    "--reference",
    default="legacy",
    show_default=True,
    envvar="CACHEMON_DASHBOARD_REFERENCE",
    show_envvar=True,
    help="Implementation the verdict compares with.",
)
@click.option(
    "--pool-size",
    type=click.IntRange(1, 100),
    default=4,
    show_default=True,
    envvar="CACHEMON_DASHBOARD_POOL_SIZE",
    show_envvar=True,
    help="Database connections shared by all requests and live pages (plus one LISTEN).",
)
@click.option(
    "--max-clients",
    type=click.IntRange(1, 100_000),
    default=200,
    show_default=True,
    envvar="CACHEMON_DASHBOARD_MAX_CLIENTS",
    show_envvar=True,
    help="Live pages (SSE streams) at once; beyond it, 429 with Retry-After.",
)
@click.option(
    "--max-requests",
    type=click.IntRange(1, 100_000),
    default=16,
    show_default=True,
    envvar="CACHEMON_DASHBOARD_MAX_REQUESTS",
    show_envvar=True,
    help="Other requests in flight at once; beyond it, 429 with Retry-After.",
)
@click.option(
    "--min-interval",
    type=click.FloatRange(0.05, 3600),
    default=1.0,
    show_default=True,
    envvar="CACHEMON_DASHBOARD_MIN_INTERVAL",
    show_envvar=True,
    help="Seconds between two rounds of re-reads, however many notifications arrive.",
)
def dashboard(
    database_url: str,
    host: str,
    port: int,
    candidate: str,
    reference: str,
    pool_size: int,
    max_clients: int,
    max_requests: int,
    min_interval: float,
) -> None:
    """Serve the live dashboard: legacy and new side by side, findings, errors, verdict.

    The server uses the database role of the URL: a cachemon_reader login shows everything;
    cachemon_admin (or EXECUTE on acknowledge/resolve_observation) adds the buttons. The
    token comes from the environment only (CACHEMON_DASHBOARD_TOKEN), never from a flag that
    `ps` would show.
    """
    from orchestrator import db
    from orchestrator.dashboard.app import DashboardSettings
    from orchestrator.dashboard.queries import check_readable
    from orchestrator.dashboard.server import UnsafeBind, serve, token_from_env
    from orchestrator.migrations import libpq_url

    # Fail at start, as one line, on a wrong URL, password, missing schema or missing
    # privilege: read what the page reads first, once, as the role the page will use.
    with db.connect(database_url, application_name="cachemon dashboard (check)") as conn:
        check_readable(conn)

    settings = DashboardSettings(
        database_url=libpq_url(database_url),
        token=token_from_env(),
        candidate=candidate,
        reference=reference,
        verdict_window=timedelta(hours=1),
        pool_size=pool_size,
        max_clients=max_clients,
        max_requests=max_requests,
        min_interval=min_interval,
    )

    def ready(url: str) -> None:
        note = " (token required)" if settings.token else ""
        click.echo(f"cachemon dashboard on {url}{note}  (Ctrl-C to stop)", err=True)

    try:
        serve(settings, host, port, on_ready=ready)
    except UnsafeBind as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from None
    except KeyboardInterrupt:
        pass

"""``cachemon local``: a PostgreSQL cluster that cachemon runs itself."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from orchestrator import localpg
from orchestrator.cli import main
from orchestrator.cli.options import local_dir_option


@main.group()
def local() -> None:
    """Start, stop and inspect a local PostgreSQL cluster (pg_cron preloaded when installed)."""


@local.command()
@local_dir_option()
def start(root: str) -> None:
    """Create (first time) and start the local cluster; print the URL to export."""
    cluster = localpg.start(Path(root))
    click.echo(f"local PostgreSQL running in {cluster.root} (pg_cron: {cluster.pg_cron})")
    click.echo(f"export CACHEMON_DATABASE_URL='{cluster.url()}'")


@local.command()
@local_dir_option()
def stop(root: str) -> None:
    """Stop the local cluster."""
    stopped = localpg.stop(Path(root))
    click.echo("stopped" if stopped else "not running")


@local.command()
@local_dir_option()
def status(root: str) -> None:
    """Say whether the local cluster runs, and its URL (exit 3 when it does not run)."""
    cluster = localpg.load(Path(root))
    if cluster is None:
        click.echo(f"no cluster in {root}")
        sys.exit(3)
    running = cluster.is_running()
    click.echo(f"{'running' if running else 'stopped'}: {cluster.root}")
    click.echo(f"url: {cluster.url()}")
    if not running:
        sys.exit(3)

"""``cachemon demo``: the README's main job."""

from __future__ import annotations

import click

from orchestrator import demo as demo_module
from orchestrator.cli import main
from orchestrator.cli.options import database_url_option


@main.command()
@database_url_option(required=False)
def demo(database_url: str | None) -> None:
    """Start a local PostgreSQL unless a URL is given, upgrade it and show how to use it."""
    url = demo_module.prepare_database(database_url, say=click.echo)
    click.echo(f"\nready. export CACHEMON_DATABASE_URL='{url}'")

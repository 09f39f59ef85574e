"""``cachemon watch``: print 1-minute rows and findings as the database changes them."""

from __future__ import annotations

import json

import click

from orchestrator.cli import main
from orchestrator.cli.options import database_url_option
from orchestrator.cli.output import say, say_data


@main.command()
@database_url_option()
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    envvar="CACHEMON_WATCH_DURATION",
    show_envvar=True,
    help="Stop after this many seconds (default: until Ctrl-C).",
)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=None,
    envvar="CACHEMON_WATCH_COUNT",
    show_envvar=True,
    help="Stop after N events.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    envvar="CACHEMON_JSON",
    show_envvar=True,
    help="Print the JSON payloads, one per line.",
)
def watch(database_url: str, duration: float | None, count: int | None, as_json: bool) -> None:
    """Show live updates (LISTEN on channel cachemon_events)."""
    from orchestrator import watch as watcher

    def ready() -> None:
        say(f"listening on {watcher.CHANNEL} (Ctrl-C to stop)", err=True)

    try:
        for event in watcher.listen(
            database_url, duration=duration, max_events=count, on_ready=ready
        ):
            if as_json:
                click.echo(json.dumps(event, sort_keys=True, ensure_ascii=True))
            else:
                say_data(watcher.format_event(event))
    except KeyboardInterrupt:
        pass

"""``cachemon demo``: the README's main job."""

from __future__ import annotations

import click

from orchestrator import demo as demo_module
from orchestrator.cli import main
from orchestrator.cli.options import database_url_option


@main.command()
@database_url_option(required=False)
@click.option(
    "--live-minutes",
    type=click.IntRange(30, 24 * 60),
    default=90,
    show_default=True,
    envvar="CACHEMON_DEMO_LIVE_MINUTES",
    show_envvar=True,
    help="Simulated minutes after the baseline day (the regression is in the middle third).",
)
@click.option(
    "--seed",
    type=int,
    default=7,
    show_default=True,
    envvar="CACHEMON_DEMO_SEED",
    show_envvar=True,
    help="Seed of the synthetic traffic.",
)
@click.option(
    "--live",
    is_flag=True,
    envvar="CACHEMON_DEMO_LIVE",
    show_envvar=True,
    help="Replay the live part a minute per second with the dashboard serving (Ctrl-C stops).",
)
def demo(database_url: str | None, live_minutes: int, seed: int, live: bool) -> None:
    """Play a cache migration: a day of legacy and new traffic, baselines, then new regresses
    and recovers while ticks and the auditor run.

    Without a database URL it starts the local PostgreSQL and uses its database
    cachemon_demo, recreated on every run. With one, it writes demo events for `legacy` and
    `new` around the current time into that database.
    """
    if live:
        from orchestrator.demo_live import run_live

        run_live(database_url, say=click.echo, live_minutes=live_minutes, seed=seed)
        return
    demo_module.run_demo(database_url, say=click.echo, live_minutes=live_minutes, seed=seed)

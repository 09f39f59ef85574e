"""``cachemon demo``: the README's main job."""

from __future__ import annotations

import click

from orchestrator.cli import main
from orchestrator.cli.output import Progress, say_data


@main.command()
@click.option(
    "--database-url",
    default=None,
    help="Play on this database instead of the local cluster's cachemon_demo; refused unless "
    "it is empty or holds only an earlier demo's data. Deliberately not read from "
    "CACHEMON_DATABASE_URL or DATABASE_URL (those name your real database).",
)
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

    It starts the local PostgreSQL (`cachemon local`) and plays on its database
    cachemon_demo, recreated on every run. It never writes to the database of
    CACHEMON_DATABASE_URL: another database only with --database-url, and only one that is
    empty or that an earlier demo marked as its own.
    """
    if live:
        from orchestrator.dashboard.demo_live import run_live

        run_live(database_url, say=say_data, live_minutes=live_minutes, seed=seed)
        return
    from orchestrator import demo as demo_module

    with Progress("recording the baseline day", total=None) as bar:

        def progress(done: int, total: int) -> None:
            if done == 1:
                bar.set_total(total)
            bar.update(completed=done)
            if done >= total:
                bar.finish()

        demo_module.run_demo(
            database_url,
            say=say_data,
            live_minutes=live_minutes,
            seed=seed,
            progress=progress if bar.enabled else None,
        )

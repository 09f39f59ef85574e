"""``cachemon baseline``: compute and show per-implementation baselines."""

from __future__ import annotations

import click

from orchestrator import baseline as baselines
from orchestrator.cli import main
from orchestrator.cli.options import database_url_option

METRICS = (
    ("hit_rate", "%"),
    ("error_rate", "%"),
    ("avg_response_time_ms", " ms"),
    ("p95_response_time_ms", " ms"),
    ("requests_per_minute", "/min"),
    ("eviction_rate", "/100 lookups"),
    ("avg_cache_size", ""),
)


def _describe(b: baselines.Baseline) -> str:
    lines = [
        f"{b.implementation_type}: baseline #{b.id} over {b.window_start:%Y-%m-%d %H:%M} .. "
        f"{b.window_end:%Y-%m-%d %H:%M} UTC, {b.sample_minutes} minutes used, "
        f"{b.excluded_minutes} left out (low traffic), hour-of-day profile: "
        f"{'yes' if b.hourly_profile else 'no'}"
    ]
    for metric, unit in METRICS:
        s = b.statistics.get(metric)
        if not s:
            continue
        lines.append(
            f"  {metric:<22} median {s['median']:>10.2f}{unit:<13} MAD {s['mad']:>8.2f}"
            f"   mean {s['mean']:>10.2f}  stddev {s['stddev']:>8.2f}"
        )
    return "\n".join(lines)


@main.group()
def baseline() -> None:
    """Compute and show the baselines the auditor compares with."""


@baseline.command()
@database_url_option()
@click.argument("implementation_type")
@click.option(
    "--window",
    default="14 days",
    show_default=True,
    envvar="CACHEMON_BASELINE_WINDOW",
    show_envvar=True,
    help="How far back (a PostgreSQL interval).",
)
def compute(database_url: str, implementation_type: str, window: str) -> None:
    """Compute IMPLEMENTATION_TYPE's baseline from its 1-minute rows and make it active."""
    click.echo(_describe(baselines.compute(implementation_type, window, database_url)))


@baseline.command()
@database_url_option()
@click.argument("implementation_type", required=False)
def show(database_url: str, implementation_type: str | None) -> None:
    """Show the active baselines (or IMPLEMENTATION_TYPE's)."""
    found = baselines.active(database_url, implementation_type)
    if not found:
        click.echo("no active baseline: run `cachemon baseline compute IMPLEMENTATION_TYPE`")
        return
    for b in found:
        click.echo(_describe(b))

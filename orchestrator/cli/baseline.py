"""``cachemon baseline``: compute and show per-implementation baselines."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import click

from orchestrator.cli import main
from orchestrator.cli.options import database_url_option, window_option
from orchestrator.cli.output import emit_json, json_option, say, say_data

if TYPE_CHECKING:
    from orchestrator import baseline as baselines

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
@window_option("14d", "CACHEMON_BASELINE_WINDOW", "How far back.")
@json_option()
def compute(database_url: str, implementation_type: str, window: timedelta, as_json: bool) -> None:
    """Compute IMPLEMENTATION_TYPE's baseline from its 1-minute rows and make it active."""
    from orchestrator import baseline as baselines

    seconds = f"{window.total_seconds():.6f} seconds"
    found = baselines.compute(implementation_type, seconds, database_url)
    emit_json(found) if as_json else say_data(_describe(found))


@baseline.command()
@database_url_option()
@click.argument("implementation_type", required=False)
@json_option()
def show(database_url: str, implementation_type: str | None, as_json: bool) -> None:
    """Show the active baselines (or IMPLEMENTATION_TYPE's)."""
    from orchestrator import baseline as baselines

    found = baselines.active(database_url, implementation_type)
    if as_json:
        emit_json(found)
        return
    if not found:
        say("no active baseline: run `cachemon baseline compute IMPLEMENTATION_TYPE`")
        return
    for b in found:
        say_data(_describe(b))

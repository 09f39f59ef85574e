"""``cachemon tick``, ``maintenance``, ``summary``, ``schedule``, ``unschedule``, ``scheduler``."""

from __future__ import annotations

import dataclasses
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import click

from orchestrator import rollup
from orchestrator.cli import main
from orchestrator.cli.options import database_url_option


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)


def _echo_record(obj: Any) -> None:
    for field in dataclasses.fields(obj):
        click.echo(f"{field.name:<22} {_fmt(getattr(obj, field.name))}")


def _parse_window(text: str) -> timedelta:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    try:
        if text and text[-1] in units:
            seconds = float(text[:-1]) * units[text[-1]]
        else:
            seconds = float(text) * 60
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: use a number and a unit, e.g. 90m, 6h, 30d", param_hint="--window"
        ) from None
    if seconds <= 0:
        raise click.BadParameter(f"{text!r} must be positive", param_hint="--window")
    return timedelta(seconds=seconds)


@main.command("tick")
@database_url_option()
def tick_command(database_url: str) -> None:
    """Run one rollup tick (cachemon.tick()) and print what it did."""
    _echo_record(rollup.tick(database_url))


@main.command("maintenance")
@database_url_option()
def maintenance_command(database_url: str) -> None:
    """Run partition maintenance and retention once (cachemon.run_maintenance())."""
    _echo_record(rollup.run_maintenance(database_url))


SUMMARY_COLUMNS = (
    ("implementation_type", "implementation"),
    ("total_events", "events"),
    ("hit_rate", "hit %"),
    ("error_rate", "error %"),
    ("avg_response_time_ms", "avg ms"),
    ("p50_response_time_ms", "p50 ms"),
    ("p95_response_time_ms", "p95 ms"),
    ("p99_response_time_ms", "p99 ms"),
    ("max_response_time_ms", "max ms"),
    ("avg_cache_size", "avg size"),
)


@main.command("summary")
@database_url_option()
@click.option(
    "--implementation",
    envvar="CACHEMON_IMPLEMENTATION",
    show_envvar=True,
    default=None,
    help="Only this implementation_type (default: all).",
)
@click.option(
    "--window",
    envvar="CACHEMON_WINDOW",
    show_envvar=True,
    default="1h",
    show_default=True,
    help="Window ending now: a number and s, m, h or d (e.g. 90m, 30d).",
)
def summary_command(database_url: str, implementation: str | None, window: str) -> None:
    """Print cachemon.get_cache_performance_summary as a table."""
    rows = rollup.performance_summary(database_url, implementation, _parse_window(window))
    if not rows:
        click.echo("no rolled-up events in the window (has tick run?)")
        return
    click.echo(f"window {_fmt(rows[0].window_start)} .. {_fmt(rows[0].window_end)} (UTC)")
    table = [[title for _, title in SUMMARY_COLUMNS]]
    table += [[_fmt(getattr(r, name)) for name, _ in SUMMARY_COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(SUMMARY_COLUMNS))]
    for n, row in enumerate(table):
        click.echo(
            "  ".join(
                cell.rjust(w) if i else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
        if n == 0:
            click.echo("  ".join("-" * w for w in widths))


@main.command("schedule")
@database_url_option()
def schedule_command(database_url: str) -> None:
    """Register the pg_cron jobs (cachemon.schedule_jobs()); idempotent."""
    jobs = rollup.schedule_jobs(database_url)
    if not jobs:
        click.echo("pg_cron is not installed in this database: run `cachemon scheduler` instead")
        sys.exit(1)
    for job in jobs:
        click.echo(f"{job.job_name:<24} {job.schedule:<12} {job.command} (job {job.jobid})")


@main.command("unschedule")
@database_url_option()
def unschedule_command(database_url: str) -> None:
    """Remove the pg_cron jobs (cachemon.unschedule_jobs())."""
    click.echo(f"removed {rollup.unschedule_jobs(database_url)} job(s)")


@main.command("scheduler")
@database_url_option()
@click.option(
    "--tick-interval",
    envvar="CACHEMON_TICK_INTERVAL",
    show_envvar=True,
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds between ticks (aligned on multiples of it).",
)
@click.option(
    "--maintenance-interval",
    envvar="CACHEMON_MAINTENANCE_INTERVAL",
    show_envvar=True,
    type=float,
    default=3600.0,
    show_default=True,
    help="Seconds between maintenance runs (the first runs at start).",
)
def scheduler_command(database_url: str, tick_interval: float, maintenance_interval: float) -> None:
    """Run tick and maintenance on a timer in the foreground (where pg_cron is absent).

    Stops cleanly on SIGINT or SIGTERM after the call in progress.
    """

    def report(kind: str, payload: object) -> None:
        stamp = datetime.now().astimezone().isoformat(timespec="seconds")
        if isinstance(payload, rollup.TickResult):
            text = (
                f"{payload.status} minutes={payload.minutes_done} hours={payload.hours_done}"
                f" left={payload.buckets_left} auditor={payload.auditor}"
                f" {payload.duration_ms:.1f} ms"
            )
        elif isinstance(payload, rollup.MaintenanceResult):
            text = (
                f"{payload.status} created={len(payload.partitions_created)}"
                f" dropped={len(payload.partitions_dropped)} moved={payload.rows_moved}"
            )
        else:
            text = "" if payload is None else str(payload)
        click.echo(f"{stamp} {kind} {text}".rstrip(), err=kind == "error")

    try:
        scheduler = rollup.Scheduler(database_url, tick_interval, maintenance_interval, report)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    scheduler.run_forever()

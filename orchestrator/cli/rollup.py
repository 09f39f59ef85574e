"""``cachemon tick``, ``maintenance``, ``summary``, ``schedule``, ``unschedule``, ``scheduler``."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

import click

from orchestrator.cli import main
from orchestrator.cli.options import database_url_option, window_option
from orchestrator.cli.output import (
    emit_json,
    json_option,
    print_record,
    print_table,
    say,
    say_data,
)


@main.command("tick")
@database_url_option()
@json_option()
def tick_command(database_url: str, as_json: bool) -> None:
    """Run one rollup tick (cachemon.tick()) and print what it did.

    Exits 5 with a one-line reason on standard error when the auditor failed (the rollups
    of the tick are kept).
    """
    from orchestrator import rollup

    result = rollup.tick(database_url)
    emit_json(result) if as_json else print_record(result)
    if result.status == "auditor_failed":
        reason = " ".join(result.auditor.split())
        say_data(f"cachemon tick: the auditor {reason}", err=True)
        sys.exit(5)


@main.command("maintenance")
@database_url_option()
@json_option()
def maintenance_command(database_url: str, as_json: bool) -> None:
    """Run partition maintenance and retention once (cachemon.run_maintenance())."""
    from orchestrator import rollup

    result = rollup.run_maintenance(database_url)
    emit_json(result) if as_json else print_record(result)


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
@window_option("1h", "CACHEMON_WINDOW", "Window ending with the current minute.")
@json_option()
def summary_command(
    database_url: str, implementation: str | None, window: timedelta, as_json: bool
) -> None:
    """Print cachemon.get_cache_performance_summary as a table.

    The window ends at the end of the current minute, so what a tick rolled up a moment ago
    shows at once. Only rolled-up events count: events recorded since the last tick show
    after the next one (`cachemon tick`, pg_cron or `cachemon scheduler` run it).
    """
    from orchestrator import rollup

    rows = rollup.performance_summary(
        database_url, implementation, window, include_current_minute=True
    )
    if as_json:
        emit_json(rows)
        return
    if not rows:
        say(
            f"no rolled-up events in the last {window} (up to the end of this minute): either "
            "nothing was recorded, or no tick ran since it was; run `cachemon tick` and retry"
        )
        return
    start, end = rows[0].window_start, rows[0].window_end
    print_table(
        SUMMARY_COLUMNS,
        rows,
        title=f"window {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC",
    )


@main.command("schedule")
@database_url_option()
@json_option()
def schedule_command(database_url: str, as_json: bool) -> None:
    """Register the pg_cron jobs (cachemon.schedule_jobs()); idempotent."""
    from orchestrator import rollup

    jobs = rollup.schedule_jobs(database_url)
    if as_json:
        emit_json(jobs)
    if not jobs:
        if not as_json:
            say(
                "pg_cron is not installed in this database: run `cachemon scheduler` instead",
                err=True,
            )
        sys.exit(1)
    if not as_json:
        print_table(
            [
                ("job_name", "job"),
                ("schedule", "schedule"),
                ("command", "command"),
                ("jobid", "id"),
            ],
            jobs,
        )


@main.command("unschedule")
@database_url_option()
@json_option()
def unschedule_command(database_url: str, as_json: bool) -> None:
    """Remove the pg_cron jobs (cachemon.unschedule_jobs())."""
    from orchestrator import rollup

    removed = rollup.unschedule_jobs(database_url)
    emit_json({"removed": removed}) if as_json else say(f"removed {removed} job(s)")


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
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    envvar="CACHEMON_JSON",
    show_envvar=True,
    help="One JSON object per line: at, kind, result.",
)
def scheduler_command(
    database_url: str, tick_interval: float, maintenance_interval: float, as_json: bool
) -> None:
    """Run tick and maintenance on a timer in the foreground (where pg_cron is absent).

    Stops cleanly on SIGINT or SIGTERM after the call in progress.
    """
    import json

    from orchestrator import rollup
    from orchestrator.cli.output import _json_default

    def report(kind: str, payload: object) -> None:
        stamp = datetime.now().astimezone().isoformat(timespec="seconds")
        if as_json:
            line = {"at": stamp, "kind": kind, "result": payload}
            click.echo(json.dumps(line, default=_json_default, ensure_ascii=True))
            return
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
        say_data(f"{stamp} {kind} {text}".rstrip(), err=kind == "error")

    try:
        scheduler = rollup.Scheduler(database_url, tick_interval, maintenance_interval, report)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    scheduler.run_forever()

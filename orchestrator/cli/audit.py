"""``cachemon audit``: run the auditor and work with its findings."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from orchestrator.cli import main
from orchestrator.cli.options import database_url_option
from orchestrator.cli.output import (
    emit_json,
    json_option,
    say,
    say_data,
    severity_style,
    status_style,
)

if TYPE_CHECKING:
    from orchestrator.auditor import Observation

STATUSES = ("live", "open", "acknowledged", "resolved", "all")  # = orchestrator.auditor.STATUSES

FINDING_COLUMNS = (
    ("id", "#"),
    ("status", "status"),
    ("severity", "severity"),
    ("category", "category"),
    ("implementation_type", "implementation"),
    ("rule", "rule"),
    ("occurrences", "seen"),
    ("last_seen_at", "last seen (UTC)"),
    ("who", "by"),
    ("message", "message"),
)


def _rows(found: list[Observation]) -> list[dict[str, object]]:
    rows = []
    for o in found:
        who = o.resolved_by or o.acknowledged_by
        rows.append(
            {
                "id": o.id,
                "status": o.status,
                "severity": o.severity,
                "category": o.category,
                "implementation_type": o.implementation_type,
                "rule": o.rule,
                "occurrences": o.occurrences,
                "last_seen_at": o.last_seen_at.strftime("%Y-%m-%d %H:%M"),
                "who": who,
                "message": o.message
                + (
                    f"\n-> {o.recommendation}"
                    if o.recommendation and o.status != "resolved"
                    else ""
                ),
            }
        )
    return rows


def _show(found: list[Observation], as_json: bool) -> None:
    if as_json:
        emit_json(found)
        return
    # Messages are data: print_table escapes every cell; the "\n" between message and
    # recommendation is ours, so each part is a separate line of the cell.
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from orchestrator.cli.output import clean, console

    table = Table(box=box.SIMPLE_HEAD)
    for name, heading in FINDING_COLUMNS:
        table.add_column(heading, justify="right" if name in ("id", "occurrences") else "left")
    for row in _rows(found):
        cells = []
        for name, _ in FINDING_COLUMNS:
            value = row[name]
            if name == "message":
                text = Text("\n".join(clean(part) for part in str(value).split("\n")))
            else:
                style = (
                    severity_style(value)
                    if name == "severity"
                    else status_style(value)
                    if name == "status"
                    else None
                )
                text = Text("-" if value is None else clean(value), style=style or "")
            cells.append(text)
        table.add_row(*cells)
    console().print(table)


@main.group()
def audit() -> None:
    """Run the auditor and list, acknowledge or resolve its findings."""


@audit.command("run")
@database_url_option()
@json_option()
def run_(database_url: str, as_json: bool) -> None:
    """Evaluate every rule once now (what tick does every minute)."""
    from orchestrator import auditor

    result = auditor.run(database_url)
    if as_json:
        emit_json(result)
        return
    if result.skipped:
        say_data(f"skipped: {result.skipped}")
        return
    say(
        f"evaluated {result.evaluated} (implementation, rule) pairs: {result.breaches} breaching,"
        f" {result.opened} opened, {result.updated} updated, {result.escalated} escalated,"
        f" {result.resolved} resolved"
    )


@audit.command("list")
@database_url_option()
@click.option(
    "--status",
    type=click.Choice(STATUSES),
    default="live",
    show_default=True,
    envvar="CACHEMON_AUDIT_STATUS",
    show_envvar=True,
    help="live = open or acknowledged.",
)
@click.option(
    "--implementation",
    "implementation_type",
    default=None,
    envvar="CACHEMON_AUDIT_IMPLEMENTATION",
    show_envvar=True,
    help="Only this implementation_type.",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=50,
    show_default=True,
    envvar="CACHEMON_AUDIT_LIMIT",
    show_envvar=True,
    help="At most this many findings.",
)
@json_option()
def list_(
    database_url: str, status: str, implementation_type: str | None, limit: int, as_json: bool
) -> None:
    """List findings, most recently seen first."""
    from orchestrator import auditor

    found = auditor.list_observations(
        database_url, status=status, implementation_type=implementation_type, limit=limit
    )
    if not found and not as_json:
        say(f"no {status} findings")
        return
    _show(found, as_json)


_BY = click.option(
    "--by",
    "who",
    required=True,
    envvar="CACHEMON_USER",
    show_envvar=True,
    help="Who (name or e-mail).",
)


@audit.command("ack")
@database_url_option()
@click.argument("observation_id", type=click.IntRange(min=1))
@_BY
@json_option()
def ack(database_url: str, observation_id: int, who: str, as_json: bool) -> None:
    """Acknowledge finding OBSERVATION_ID."""
    from orchestrator import auditor

    _show([auditor.acknowledge(observation_id, who, database_url)], as_json)


@audit.command("resolve")
@database_url_option()
@click.argument("observation_id", type=click.IntRange(min=1))
@_BY
@click.option(
    "--note",
    default=None,
    envvar="CACHEMON_AUDIT_NOTE",
    show_envvar=True,
    help="Why it is resolved.",
)
@json_option()
def resolve(
    database_url: str, observation_id: int, who: str, note: str | None, as_json: bool
) -> None:
    """Resolve finding OBSERVATION_ID by hand."""
    from orchestrator import auditor

    _show([auditor.resolve(observation_id, who, note, database_url)], as_json)

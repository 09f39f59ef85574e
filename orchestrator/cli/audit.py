"""``cachemon audit``: run the auditor and work with its findings."""

from __future__ import annotations

import click

from orchestrator import auditor
from orchestrator.cli import main
from orchestrator.cli.options import database_url_option


def _line(o: auditor.Observation) -> str:
    who = ""
    if o.acknowledged_by:
        who = f" (ack {o.acknowledged_by})"
    if o.resolved_by:
        who = f" (resolved by {o.resolved_by})"
    return (
        f"#{o.id:<5} {o.status:<12} {o.severity:<8} {o.category:<11} "
        f"{o.implementation_type}/{o.rule} x{o.occurrences} "
        f"last {o.last_seen_at:%Y-%m-%d %H:%M}{who}\n"
        f"       {o.message}\n"
        + (f"       -> {o.recommendation}\n" if o.recommendation and o.status != "resolved" else "")
    )


@main.group()
def audit() -> None:
    """Run the auditor and list, acknowledge or resolve its findings."""


@audit.command("run")
@database_url_option()
def run_(database_url: str) -> None:
    """Evaluate every rule once now (what tick does every minute)."""
    result = auditor.run(database_url)
    if result.skipped:
        click.echo(f"skipped: {result.skipped}")
        return
    click.echo(
        f"evaluated {result.evaluated} (implementation, rule) pairs: {result.breaches} breaching,"
        f" {result.opened} opened, {result.updated} updated, {result.escalated} escalated,"
        f" {result.resolved} resolved"
    )


@audit.command("list")
@database_url_option()
@click.option(
    "--status",
    type=click.Choice(auditor.STATUSES),
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
)
def list_(database_url: str, status: str, implementation_type: str | None, limit: int) -> None:
    """List findings, most recently seen first."""
    found = auditor.list_observations(
        database_url, status=status, implementation_type=implementation_type, limit=limit
    )
    if not found:
        click.echo(f"no {status} findings")
        return
    for o in found:
        click.echo(_line(o), nl=False)


@audit.command("ack")
@database_url_option()
@click.argument("observation_id", type=int)
@click.option(
    "--by",
    "who",
    required=True,
    envvar="CACHEMON_USER",
    show_envvar=True,
    help="Who acknowledges (name or e-mail).",
)
def ack(database_url: str, observation_id: int, who: str) -> None:
    """Acknowledge finding OBSERVATION_ID."""
    o = auditor.acknowledge(observation_id, who, database_url)
    click.echo(_line(o), nl=False)


@audit.command("resolve")
@database_url_option()
@click.argument("observation_id", type=int)
@click.option(
    "--by",
    "who",
    required=True,
    envvar="CACHEMON_USER",
    show_envvar=True,
    help="Who resolves (name or e-mail).",
)
@click.option("--note", default=None, help="Why it is resolved.")
def resolve(database_url: str, observation_id: int, who: str, note: str | None) -> None:
    """Resolve finding OBSERVATION_ID by hand."""
    o = auditor.resolve(observation_id, who, note, database_url)
    click.echo(_line(o), nl=False)

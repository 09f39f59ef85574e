"""``cachemon db``: schema versions (Alembic) from the command line.

Alembic and SQLAlchemy are imported inside the commands (``orchestrator.dbversions``), so that
``cachemon --help`` and the other commands do not pay for them.
"""

from __future__ import annotations

import sys

import click

from orchestrator.cli import main
from orchestrator.cli.options import confirm, database_url_option, yes_option
from orchestrator.cli.output import emit_json, json_option, say, say_data

REVISION_HELP = "Target revision: head, base, a step such as -1, or an id like 0004_auditor."
# `db upgrade` and `db sql`: where to go (downgrade has its own default and warning).
target_revision_option = click.option(
    "--revision",
    default="head",
    show_default=True,
    envvar="CACHEMON_REVISION",
    show_envvar=True,
    help=REVISION_HELP,
)


def _at(revisions: tuple[str, ...]) -> str:
    return ", ".join(revisions) if revisions else "base (not installed)"


@main.group()
def db() -> None:
    """Install, upgrade and check the cachemon schema (wraps Alembic)."""


@db.command()
@database_url_option(required=False)
@target_revision_option
@click.option(
    "--sql",
    "as_sql",
    is_flag=True,
    envvar="CACHEMON_SQL",
    show_envvar=True,
    help="Print the SQL instead of connecting.",
)
def upgrade(database_url: str | None, revision: str, as_sql: bool) -> None:
    """Upgrade the database to REVISION (default: head)."""
    from orchestrator import dbversions

    if as_sql:
        click.echo(dbversions.offline_sql(revision), nl=False)
        return
    if not database_url:
        raise click.UsageError("no database URL: pass --database-url or set CACHEMON_DATABASE_URL")
    dbversions.upgrade(database_url, revision)
    say(f"cachemon schema at {_at(dbversions.current(database_url))}")


@db.command()
@database_url_option()
@click.option(
    "--revision",
    default="-1",
    show_default=True,
    envvar="CACHEMON_DOWNGRADE_REVISION",
    show_envvar=True,
    help=REVISION_HELP + " base removes cachemon and all its data.",
)
@yes_option("dropping what the downgrade removes")
def downgrade(database_url: str, revision: str, assume_yes: bool) -> None:
    """Downgrade the database to REVISION (default: one step; `base` removes cachemon).

    Downgrades drop the tables, columns and functions later revisions added, with their data:
    it asks first (--yes skips the question; without a terminal --yes is required).
    """
    from orchestrator import dbversions

    at = dbversions.current(database_url)
    if not at:
        say("cachemon is not installed here: nothing to downgrade")
        return
    what = (
        "removes the cachemon schema and ALL its data"
        if revision == "base"
        else ("drops what the later revisions added, with its data")
    )
    confirm(f"downgrade from {_at(at)} to {revision}: this {what}. Continue?", assume_yes)
    dbversions.downgrade(database_url, revision)
    say(f"cachemon schema at {_at(dbversions.current(database_url))}")


@db.command()
@database_url_option()
@json_option()
def current(database_url: str, as_json: bool) -> None:
    """Print the revision the database is at."""
    from orchestrator import dbversions

    at = dbversions.current(database_url)
    if as_json:
        emit_json({"current": list(at), "installed": bool(at)})
    else:
        say(_at(at))


@db.command()
@database_url_option()
@json_option()
def check(database_url: str, as_json: bool) -> None:
    """Exit non-zero when the database is behind head (1), its functions differ from the
    package's (4) or the auditor's last run failed (5)."""
    from orchestrator import dbversions

    result = dbversions.check(database_url)
    at = _at(result.current)
    if as_json:
        emit_json(
            {
                "current": list(result.current),
                "head": result.head,
                "behind": result.behind,
                "drift": result.drift,
                "auditor_failure": result.auditor_failure,
                "auditor_failing_since": result.auditor_failing_since,
                "ok": result.ok,
            }
        )
    if result.behind:
        if not as_json:
            say(f"behind: database at {at}, package head is {result.head}", err=True)
            say("run: cachemon db upgrade", err=True)
        sys.exit(1)
    if result.drift:
        if not as_json:
            say(f"drift: functions differ from the package's ({len(result.drift)} rows)", err=True)
            for line in result.drift:
                say_data(f"  {line[:300]}", err=True)
        sys.exit(4)
    if result.auditor_failure is not None:
        if not as_json:
            reason = " ".join(result.auditor_failure.split())
            say_data(f"auditor failing since {result.auditor_failing_since}: {reason}", err=True)
        sys.exit(5)
    if not as_json:
        say(f"ok: at head {result.head}, functions match the package")


@db.command("sql")
@target_revision_option
@click.option(
    "--from",
    "from_revision",
    default=None,
    envvar="CACHEMON_FROM_REVISION",
    show_envvar=True,
    help="Start revision (default: empty).",
)
def sql_(revision: str, from_revision: str | None) -> None:
    """Print the upgrade script for psql, the Supabase SQL editor or supabase/migrations/."""
    from orchestrator import dbversions

    target = f"{from_revision}:{revision}" if from_revision else revision
    click.echo(dbversions.offline_sql(target), nl=False)

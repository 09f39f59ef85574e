"""``cachemon db``: schema versions (Alembic) from the command line."""

from __future__ import annotations

import sys

import click

from orchestrator import dbversions
from orchestrator.cli import main
from orchestrator.cli.options import database_url_option


@main.group()
def db() -> None:
    """Install, upgrade and check the cachemon schema (wraps Alembic)."""


@db.command()
@database_url_option(required=False)
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.option("--sql", "as_sql", is_flag=True, help="Print the SQL instead of connecting.")
def upgrade(database_url: str | None, revision: str, as_sql: bool) -> None:
    """Upgrade the database to REVISION (default: head)."""
    if as_sql:
        click.echo(dbversions.offline_sql(revision), nl=False)
        return
    if not database_url:
        raise click.UsageError("no database URL: pass --database-url or set CACHEMON_DATABASE_URL")
    dbversions.upgrade(database_url, revision)
    click.echo(f"cachemon schema at {', '.join(dbversions.current(database_url))}")


@db.command()
@database_url_option()
@click.option("--revision", default="-1", show_default=True, help="Target (base removes all).")
def downgrade(database_url: str, revision: str) -> None:
    """Downgrade the database to REVISION (default: one step; `base` removes cachemon)."""
    dbversions.downgrade(database_url, revision)
    at = dbversions.current(database_url)
    click.echo(f"cachemon schema at {', '.join(at) if at else 'base (not installed)'}")


@db.command()
@database_url_option()
def current(database_url: str) -> None:
    """Print the revision the database is at."""
    at = dbversions.current(database_url)
    click.echo(", ".join(at) if at else "base (not installed)")


@db.command()
@database_url_option()
def check(database_url: str) -> None:
    """Exit non-zero when the database is behind head or its functions differ from the package's."""
    result = dbversions.check(database_url)
    at = ", ".join(result.current) or "base (not installed)"
    if result.behind:
        click.echo(f"behind: database at {at}, package head is {result.head}", err=True)
        click.echo("run: cachemon db upgrade", err=True)
        sys.exit(1)
    if result.drift:
        click.echo(
            f"drift: functions differ from the package's ({len(result.drift)} rows)", err=True
        )
        for line in result.drift:
            click.echo(f"  {line[:300]}", err=True)
        sys.exit(2)
    click.echo(f"ok: at head {result.head}, functions match the package")


@db.command("sql")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.option("--from", "from_revision", default=None, help="Start revision (default: empty).")
def sql_(revision: str, from_revision: str | None) -> None:
    """Print the upgrade script for psql, the Supabase SQL editor or supabase/migrations/."""
    target = f"{from_revision}:{revision}" if from_revision else revision
    click.echo(dbversions.offline_sql(target), nl=False)

"""Schema versions: Alembic driven from Python, and the check that a database matches the code."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from orchestrator import catalog, manifest
from orchestrator.errors import translated
from orchestrator.migrations import (
    current_sql_files,
    libpq_url,
    sqlalchemy_url,
)
from orchestrator.paths import alembic_dir

OFFLINE_URL = "postgresql+psycopg://offline/cachemon"


def alembic_config(url: str | None = None, output: io.StringIO | None = None) -> Config:
    """An Alembic ``Config`` for the packaged scripts, with ``url`` (or the environment's)."""
    cfg = Config(output_buffer=output) if output is not None else Config()
    cfg.set_main_option("script_location", str(alembic_dir()))
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    with translated():
        command.upgrade(alembic_config(url or sqlalchemy_url(None)), revision)


def downgrade(url: str | None = None, revision: str = "-1") -> None:
    with translated():
        command.downgrade(alembic_config(url or sqlalchemy_url(None)), revision)


def offline_sql(revision: str = "head", *, downgrade_to: str | None = None) -> str:
    """The SQL script ``alembic upgrade <revision> --sql`` prints (for psql or Supabase).

    With ``downgrade_to``, the script that downgrades from ``revision`` to that one.
    """
    out = io.StringIO()
    cfg = alembic_config(OFFLINE_URL, output=out)
    with translated():
        if downgrade_to is None:
            command.upgrade(cfg, revision, sql=True)
        else:
            command.downgrade(cfg, f"{revision}:{downgrade_to}", sql=True)
    return out.getvalue()


def head() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the migration history has {len(heads)} heads: {heads}")
    return heads[0]


def current(url: str | None = None) -> tuple[str, ...]:
    """The revisions the database is at (empty: not installed)."""
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with translated(), engine.connect() as connection:
            ctx = MigrationContext.configure(connection, opts={"version_table_schema": "cachemon"})
            return tuple(ctx.get_current_heads())
    finally:
        engine.dispose()


@dataclass
class CheckResult:
    """What ``cachemon db check`` found."""

    current: tuple[str, ...]
    head: str
    drift: list[str] = field(default_factory=list)
    # The auditor's last failure (cachemon._auditor_health) while it fails; None when its
    # last run succeeded or the role may not read it.
    auditor_failure: str | None = None
    auditor_failing_since: datetime | None = None

    @property
    def behind(self) -> bool:
        return self.current != (self.head,)

    @property
    def ok(self) -> bool:
        return not self.behind and not self.drift and self.auditor_failure is None


def function_drift(conn: psycopg.Connection[Any], revision: str | None = None) -> list[str]:
    """Differences between the database's functions and triggers and what ``revision`` (default:
    head) installs, as recorded in that revision's manifest (orchestrator/manifest.py).

    Reads the catalogs only (no DDL, no table lock): a health check never blocks ingest. Any
    role that can connect may run it; the function bodies it hashes are public in pg_proc.
    """
    revision = revision or head()
    expected = manifest.head_catalog(revision)
    if expected is None:
        hint = "python -m orchestrator.migrations manifest --all"
        return [f"no manifest for revision {revision}: run {hint}"]
    with conn.transaction():
        conn.execute("SET LOCAL lock_timeout = '2s'")
        conn.execute("SET LOCAL statement_timeout = '30s'")
        actual = catalog.manifest_fingerprint(conn)
    return catalog.manifest_differences(expected, actual)


def check(url: str | None = None) -> CheckResult:
    """Whether the database is at head and its functions equal the package's."""
    url = url or sqlalchemy_url(None)
    result = CheckResult(current=current(url), head=head())
    if not result.behind:
        with translated(), psycopg.connect(libpq_url(sqlalchemy_url(url))) as conn:
            result.drift = function_drift(conn)
            result.auditor_failure, result.auditor_failing_since = auditor_health(conn)
    return result


def auditor_health(conn: psycopg.Connection[Any]) -> tuple[str | None, datetime | None]:
    """The auditor's current failure and since when (cachemon._auditor_health), or
    (None, None) when its last run succeeded, or the table is absent or not readable by
    this role (any role may run the check)."""
    row = (
        conn.execute(
            "SELECT h.failure, h.failing_since FROM cachemon._auditor_health AS h"
            " WHERE pg_catalog.has_table_privilege('cachemon._auditor_health', 'SELECT')"
        ).fetchone()
        if _readable(conn)
        else None
    )
    if row is None:
        return None, None
    return row[0], row[1]


def _readable(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        "SELECT pg_catalog.to_regclass('cachemon._auditor_health') IS NOT NULL"
        " AND pg_catalog.has_table_privilege('cachemon._auditor_health', 'SELECT')"
    ).fetchone()
    return bool(row and row[0])


def build_from_current_sql(conn: psycopg.Connection[Any]) -> None:
    """Build schema ``cachemon`` from the current SQL files (no Alembic), in one transaction."""
    with conn.transaction():
        for path in current_sql_files():
            conn.execute(path.read_text().encode())

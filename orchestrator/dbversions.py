"""Schema versions: Alembic driven from Python, and the check that a database matches the code."""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg import sql
from sqlalchemy import create_engine, pool

from orchestrator import catalog, localpg, manifest
from orchestrator.errors import translated
from orchestrator.migrations import (
    current_sql_files,
    libpq_url,
    revision_folders,
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


def _for(cfg: Config, command_name: str, baseline: bool = True) -> Config:
    """Tell env.py which command runs and whether an empty database may install the squash
    point's full script (alembic/baseline/) instead of walking every revision up to it."""
    cfg.attributes["command"] = command_name
    cfg.attributes["baseline"] = baseline
    return cfg


def upgrade(url: str | None = None, revision: str = "head", *, baseline: bool = True) -> None:
    """Upgrade to ``revision``. An empty database installs the squash point's full script and
    walks only later revisions; ``baseline=False`` walks every revision from the first."""
    with translated():
        cfg = _for(alembic_config(url or sqlalchemy_url(None)), "upgrade", baseline)
        command.upgrade(cfg, revision)


def downgrade(url: str | None = None, revision: str = "-1") -> None:
    with translated():
        command.downgrade(_for(alembic_config(url or sqlalchemy_url(None)), "downgrade"), revision)


def offline_sql(
    revision: str = "head", *, downgrade_to: str | None = None, baseline: bool = True
) -> str:
    """The SQL script ``alembic upgrade <revision> --sql`` prints (for psql or Supabase).

    With ``downgrade_to``, the script that downgrades from ``revision`` to that one. From an
    empty database it installs the squash point's full script first (``baseline=False``: every
    revision).
    """
    out = io.StringIO()
    cfg = _for(alembic_config(OFFLINE_URL, output=out), "downgrade" if downgrade_to else "upgrade")
    cfg.attributes["baseline"] = baseline
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


SCRATCH_DATABASE = "cachemon_manifest_scratch"


@contextmanager
def _scratch_server(url: str | None) -> Iterator[str]:
    """A superuser URL of a server to build in: ``url``, or a throwaway local cluster."""
    if url:
        yield libpq_url(url)
        return
    root = Path(tempfile.mkdtemp(prefix="cachemon-manifest-"))
    try:
        cluster = localpg.start(root, fast=True, cron_database="cachemon_manifest_cron")
        yield cluster.url("postgres")
    finally:
        localpg.destroy(root)
        shutil.rmtree(root, ignore_errors=True)


def _with_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def generate_manifests(
    revisions: list[str] | None = None, url: str | None = None, out: Path | None = None
) -> list[Path]:
    """Write ``manifest.json`` for the named revision folders (None: all), upgrading a scratch
    database from nothing through every revision in order. Returns the files written (into
    the revision folders, or ``out/<revision>/`` when ``out`` is given)."""
    folders = revision_folders()
    wanted = {f.name for f in folders} if revisions is None else set(revisions)
    written: list[Path] = []
    with _scratch_server(url) as server, psycopg.connect(server, autocommit=True) as admin:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(SCRATCH_DATABASE)
        )
        admin.execute(drop)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(SCRATCH_DATABASE)))
        try:
            scratch = _with_dbname(server, SCRATCH_DATABASE)
            for folder in folders:
                upgrade(scratch, folder.name, baseline=False)
                if folder.name not in wanted:
                    continue
                with psycopg.connect(scratch) as conn:
                    fingerprint = catalog.manifest_fingerprint(conn)
                data = {
                    "revision": folder.name,
                    "made_by": "python -m orchestrator.migrations manifest",
                    "files": manifest.file_hashes(folder),
                    "catalog": fingerprint,
                }
                path = manifest.manifest_path(folder if out is None else out / folder.name)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
                written.append(path)
        finally:
            admin.execute(drop)
    return written

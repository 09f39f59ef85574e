"""Revision manifests: what each revision's frozen files are, and what they install.

Every revision folder ``alembic/versions/NNNN_name/`` carries ``manifest.json``:

- ``files``: the sha256 of each SQL file in the folder (``schema/``, ``functions/``, ``post/``,
  ``downgrade.sql``), so a frozen copy edited after the fact is caught by a test;
- ``catalog``: for each function (by signature) and trigger (``table.name``) of schema
  ``cachemon`` after upgrading from nothing to this revision, the sha256 of its normalized
  definition (``orchestrator.catalog.MANIFEST_QUERIES``: body, arguments, result, language,
  volatility, security, settings, comment, grants except the owner's).

``cachemon db check`` compares the database's catalog with the head revision's ``catalog``:
it only reads the catalogs, so it takes no lock that could block ingest (the old check ran the
function files in a rolled-back transaction and took AccessExclusiveLock on tables).

Manifests are made by installing the revisions into a scratch database:
``python -m orchestrator.migrations manifest --all`` (on a throwaway local cluster it starts
and removes; ``--database-url`` uses an existing server where the URL's role may create
databases).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from orchestrator import catalog
from orchestrator.migrations import libpq_url, revision_folders

MANIFEST = "manifest.json"
SCRATCH_DATABASE = "cachemon_manifest_scratch"


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every SQL file of a revision folder, by path relative to the folder."""
    hashes: dict[str, str] = {}
    for path in sorted(folder.rglob("*.sql")):
        hashes[path.relative_to(folder).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def manifest_path(folder: Path) -> Path:
    return folder / MANIFEST


def load(folder: Path) -> dict[str, Any] | None:
    path = manifest_path(folder)
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def head_catalog(revision: str) -> catalog.Manifest | None:
    """The ``catalog`` part of ``revision``'s manifest (None: no manifest)."""
    for folder in revision_folders():
        if folder.name == revision:
            data = load(folder)
            return None if data is None else data["catalog"]
    return None


def frozen_file_mismatches(versions: Path | None = None) -> list[str]:
    """One line per revision without a manifest, or whose SQL files differ from it."""
    problems: list[str] = []
    for folder in revision_folders(versions):
        data = load(folder)
        if data is None:
            problems.append(f"{folder.name}: no {MANIFEST}")
            continue
        want: dict[str, str] = data.get("files", {})
        have = file_hashes(folder)
        for name in sorted(set(want) | set(have)):
            if want.get(name) != have.get(name):
                state = "missing" if name not in have else "new" if name not in want else "edited"
                problems.append(f"{folder.name}/{name}: {state} since the manifest was made")
    return problems


@contextmanager
def _scratch_server(url: str | None) -> Iterator[str]:
    """A superuser URL of a server to build in: ``url``, or a throwaway local cluster."""
    if url:
        yield libpq_url(url)
        return
    from orchestrator import localpg

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


def generate(
    revisions: list[str] | None = None, url: str | None = None, out: Path | None = None
) -> list[Path]:
    """Write ``manifest.json`` for the named revision folders (None: all), upgrading a scratch
    database from nothing through every revision in order. Returns the files written (into
    the revision folders, or ``out/<revision>/`` when ``out`` is given)."""
    from orchestrator import dbversions

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
                dbversions.upgrade(scratch, folder.name)
                if folder.name not in wanted:
                    continue
                with psycopg.connect(scratch) as conn:
                    fingerprint = catalog.manifest_fingerprint(conn)
                data = {
                    "revision": folder.name,
                    "made_by": "python -m orchestrator.migrations manifest",
                    "files": file_hashes(folder),
                    "catalog": fingerprint,
                }
                path = manifest_path(folder if out is None else out / folder.name)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
                written.append(path)
        finally:
            admin.execute(drop)
    return written

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

Manifests are made by installing the revisions into a scratch database
(``orchestrator.dbversions.generate_manifests``; ``python -m orchestrator.migrations manifest
--all`` runs it on a throwaway local cluster it starts and removes, ``--database-url`` on an
existing server where the URL's role may create databases).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from orchestrator import catalog
from orchestrator.migrations import revision_folders

MANIFEST = "manifest.json"


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

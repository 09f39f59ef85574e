"""Where the SQL files and Alembic scripts are, in a checkout and in an installed wheel.

The wheel carries ``sql/`` as ``orchestrator/_sql`` and ``alembic/`` as ``orchestrator/_alembic``
(see ``pyproject.toml``); a checkout or an editable install has them at the project root.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _pick(installed: str, checkout: str) -> Path:
    inside = _PACKAGE / installed
    if inside.is_dir():
        return inside
    beside = _PACKAGE.parent / checkout
    if beside.is_dir():
        return beside
    raise FileNotFoundError(f"cannot find {checkout}/ (looked in {inside} and {beside})")


def sql_dir() -> Path:
    """The folder holding ``schema/`` and ``functions/``."""
    return _pick("_sql", "sql")


def alembic_dir() -> Path:
    """The Alembic script location (``env.py`` and ``versions/``)."""
    return _pick("_alembic", "alembic")

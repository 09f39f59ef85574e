"""How Alembic revisions run SQL, and how the current SQL files build a schema.

Every revision ``alembic/versions/NNNN_name.py`` owns a folder ``alembic/versions/NNNN_name/``:

- ``schema/*.sql``    DDL of this revision (the first revision: a copy of ``sql/schema``);
- ``functions/*.sql`` frozen copies of every ``sql/functions`` file this revision adds or
  changes, taken when the revision was written (``python -m orchestrator.migrations snapshot``);
- ``post/*.sql``      anything that must run after the functions (optional);
- ``downgrade.sql``   undoes ``schema/`` and drops functions this revision added.

Upgrading runs ``schema/``, ``functions/``, ``post/`` in name order. Downgrading runs
``downgrade.sql`` and then, for each function this revision changed, the copy of that function
in the newest earlier revision. A revision therefore installs the same thing whenever it runs:
it never reads ``sql/functions`` (alembic/README.md explains why).

The command line (``python -m orchestrator.migrations``) is ``__main__.py``.
"""

from __future__ import annotations

import difflib
import filecmp
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.paths import alembic_dir, sql_dir

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

SCHEMA = "cachemon"
# pg_advisory_xact_lock key held by every Alembic run (ASCII "cachemon" read as an int8).
ADVISORY_LOCK_KEY = 0x63616368656D6F6E
BUILD_ORDER = ("schema", "functions", "post")


def database_url(explicit: str | None = None) -> str | None:
    """The URL given, else ``CACHEMON_DATABASE_URL``, else ``DATABASE_URL``."""
    return explicit or os.environ.get("CACHEMON_DATABASE_URL") or os.environ.get("DATABASE_URL")


def sqlalchemy_url(url: str | None) -> str:
    """A SQLAlchemy URL using psycopg 3 for a ``postgres://`` or ``postgresql://`` URL."""
    url = database_url(url)
    if not url:
        raise RuntimeError(
            "no database URL: set CACHEMON_DATABASE_URL (or DATABASE_URL), or pass -x url=..."
        )
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def libpq_url(url: str) -> str:
    """A libpq URL (for psycopg) from a SQLAlchemy or libpq URL."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


# Every Alembic run waits at most this long for a table lock, and lets no statement run longer
# (after it holds the advisory lock, so a second upgrade still waits for the first). When the
# lock_timeout expires (ingest or a long query holds the table), the whole upgrade rolls back
# and nothing has changed: run it again, or see docs/security.md ("Upgrading a live database").
LOCK_TIMEOUT_ENV = "CACHEMON_MIGRATION_LOCK_TIMEOUT"
STATEMENT_TIMEOUT_ENV = "CACHEMON_MIGRATION_STATEMENT_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = "5s"
DEFAULT_STATEMENT_TIMEOUT = "30min"
_DURATION = re.compile(r"[0-9]{1,9}(ms|s|min|h)?")


def _duration(env: str, default: str) -> str:
    value = os.environ.get(env) or default
    if not _DURATION.fullmatch(value):
        raise RuntimeError(f"{env} must be a duration such as 5s, 500ms or 2min, got {value!r}")
    return value


def prepare_statements() -> list[str]:
    """What every Alembic run executes first, inside its transaction."""
    lock_timeout = _duration(LOCK_TIMEOUT_ENV, DEFAULT_LOCK_TIMEOUT)
    statement_timeout = _duration(STATEMENT_TIMEOUT_ENV, DEFAULT_STATEMENT_TIMEOUT)
    return [
        f"SELECT pg_catalog.pg_advisory_xact_lock({ADVISORY_LOCK_KEY})",
        f"SET LOCAL lock_timeout = '{lock_timeout}'",
        f"SET LOCAL statement_timeout = '{statement_timeout}'",
        f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    ]


FINISH_SQL = f"""DO $finish$
BEGIN
    /* At base: remove the version table and the (then empty) schema. Else protect the table. */
    IF EXISTS (SELECT FROM {SCHEMA}.alembic_version) THEN
        ALTER TABLE {SCHEMA}.alembic_version ENABLE ROW LEVEL SECURITY;
        REVOKE ALL ON {SCHEMA}.alembic_version FROM PUBLIC;
    ELSE
        DROP TABLE {SCHEMA}.alembic_version;
        DROP SCHEMA {SCHEMA};
    END IF;
END
$finish$"""


def _execute_script(script: str) -> None:
    """Execute a multi-statement script in the migration's transaction, or print it offline.

    Online, the script goes to psycopg without parameters, so ``%`` and ``:name`` in function
    bodies are never taken for placeholders.
    """
    from alembic import op

    ctx = op.get_context()
    if ctx.as_sql:
        ctx.impl.static_output(script.rstrip() + "\n")
        return
    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    driver.execute(script)


def revision_folder(revision_file: str | Path) -> Path:
    return Path(revision_file).with_suffix("")


def _sql_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.sql")) if folder.is_dir() else []


def upgrade_revision(revision_file: str) -> None:
    folder = revision_folder(revision_file)
    for part in BUILD_ORDER:
        for path in _sql_files(folder / part):
            _execute_script(path.read_text())


def downgrade_revision(revision_file: str) -> None:
    folder = revision_folder(revision_file)
    undo = folder / "downgrade.sql"
    if undo.is_file():
        _execute_script(undo.read_text())
    for path in _sql_files(folder / "functions"):
        earlier = previous_snapshot(folder, path.name)
        if earlier is not None:
            _execute_script(earlier.read_text())


def revision_folders(versions: Path | None = None) -> list[Path]:
    """Revision folders in revision order (their names start with a zero-padded number)."""
    versions = versions or alembic_dir() / "versions"
    return sorted(p.with_suffix("") for p in versions.glob("[0-9]*.py"))


_NUMBERED = re.compile(r"[0-9]{4}_[a-z0-9_]+")


def numbered_revision_id(
    rev_id: str | None, message: str | None, versions: Path | None = None
) -> str:
    """The id of a new revision: ``rev_id`` when it is already ``NNNN_name`` (``--rev-id``),
    else the number after the newest revision folder and ``message`` as a slug.

    ``alembic.ini``'s ``file_template = %(rev)s`` makes this id the file name, so
    ``alembic revision -m "hardening"`` writes ``versions/0005_hardening.py``.
    """
    if rev_id and _NUMBERED.fullmatch(rev_id):
        return rev_id
    numbers = [int(f.name[:4]) for f in revision_folders(versions) if f.name[:4].isdigit()]
    slug = re.sub(r"[^a-z0-9]+", "_", (message or "").lower()).strip("_")[:40] or "revision"
    return f"{max(numbers, default=0) + 1:04d}_{slug}"


def previous_snapshot(folder: Path, name: str) -> Path | None:
    """The newest copy of function file ``name`` in a revision before ``folder``."""
    found = None
    for earlier in revision_folders(folder.parent):
        if earlier.name >= folder.name:
            break
        candidate = earlier / "functions" / name
        if candidate.is_file():
            found = candidate
    return found


def latest_snapshots() -> dict[str, Path]:
    """For each function file name, its copy in the newest revision that has one."""
    latest: dict[str, Path] = {}
    for folder in revision_folders():
        for path in _sql_files(folder / "functions"):
            latest[path.name] = path
    return latest


def current_sql_files() -> Iterator[Path]:
    """The current SQL files in the order that builds the schema from nothing."""
    for part in BUILD_ORDER:
        yield from _sql_files(sql_dir() / part)


def current_function_files() -> list[Path]:
    return _sql_files(sql_dir() / "functions")


def stale_functions() -> list[str]:
    """Function files whose text differs from (or is missing in) the newest revision's copy."""
    latest = latest_snapshots()
    stale = []
    for path in current_function_files():
        copy = latest.get(path.name)
        if copy is None or not filecmp.cmp(path, copy, shallow=False):
            stale.append(path.name)
    return stale


def snapshot(revision: str) -> list[str]:
    """Copy every stale function file into the revision's ``functions/`` folder."""
    target = _single_folder(revision) / "functions"
    target.mkdir(parents=True, exist_ok=True)
    copied = stale_functions()
    for name in copied:
        shutil.copyfile(sql_dir() / "functions" / name, target / name)
    return copied


def _single_folder(revision: str) -> Path:
    matches = [f for f in revision_folders() if f.name == revision or f.name.startswith(revision)]
    if len(matches) != 1:
        raise SystemExit(f"no single revision folder matches {revision!r}")
    return matches[0]


def _lines(path: Path | None) -> list[str]:
    if path is None:
        return []
    return [line if line.endswith("\n") else line + "\n" for line in path.read_text().splitlines()]


def revision_diff(revision: str) -> str:
    """What a revision changes, for review: each file of its folder as a unified diff, frozen
    functions against their copy in the newest earlier revision, everything else (new
    functions, ``schema/``, ``post/``, ``downgrade.sql``) as additions."""
    folder = _single_folder(revision)
    root = folder.parents[2]
    out: list[str] = []
    files = [p for part in BUILD_ORDER for p in _sql_files(folder / part)]
    files += [p for p in [folder / "downgrade.sql"] if p.is_file()]
    for path in files:
        earlier = previous_snapshot(folder, path.name) if path.parent.name == "functions" else None
        before = earlier.relative_to(root).as_posix() if earlier else "/dev/null"
        after = path.relative_to(root).as_posix()
        out.extend(difflib.unified_diff(_lines(earlier), _lines(path), before, after))
    return "".join(out)


# The squash point, as PostgreSQL extensions do it: alembic/baseline/<revision>.sql is a full
# install script of that revision (the current sql/ when it was made). An upgrade of an empty
# database to that revision or a later one runs it instead of every revision up to it, then
# walks the later revisions; a database already at some revision walks the revisions as
# always. tests/test_migrations.py proves that both paths give the same catalog.
BASELINE_FOLDER = "baseline"
VERSION_TABLE_SQL = (
    f"CREATE TABLE IF NOT EXISTS {SCHEMA}.alembic_version (version_num VARCHAR(32) NOT NULL, "
    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
)


def baseline_files(versions_root: Path | None = None) -> list[Path]:
    """The full install scripts, oldest squash point first."""
    root = versions_root or alembic_dir()
    return _sql_files(root / BASELINE_FOLDER)


def squash_point() -> str | None:
    """The revision of the newest full install script (None: no squash point)."""
    files = baseline_files()
    return files[-1].stem if files else None


def baseline_to_install(
    script: ScriptDirectory, destination: Any, command: str | None
) -> str | None:
    """The squash point an ``upgrade`` of an empty database to ``destination`` installs first:
    when the destination is the squash point or descends from it. None otherwise (another
    command, a relative or unknown destination, no squash point): the revisions are walked."""
    point = squash_point()
    if point is None or command != "upgrade" or not isinstance(destination, str):
        return None
    if destination[:1] in "+-" or ":" in destination:
        return None
    try:
        targets = script.get_revisions(destination)
    except Exception:
        return None
    if not targets:
        return None
    for target in targets:
        if target is None:
            return None
        ancestors = {r.revision for r in script.walk_revisions("base", target.revision)}
        if point not in ancestors:
            return None
    return point


def baseline_statements(revision: str) -> list[str]:
    """What installs ``revision`` from its full install script and records it as current."""
    path = alembic_dir() / BASELINE_FOLDER / f"{revision}.sql"
    return [
        path.read_text(),
        VERSION_TABLE_SQL,
        f"INSERT INTO {SCHEMA}.alembic_version (version_num) VALUES ('{revision}')",
    ]


def write_baseline() -> Path:
    """Write alembic/baseline/<head>.sql from the current sql/ files (see alembic/README.md)."""
    stale = stale_functions()
    if stale:
        raise SystemExit(f"function files not frozen in a revision yet: {', '.join(stale)}")
    head = revision_folders()[-1].name
    parts = [
        f"-- Full install script of revision {head}: sql/ as it stood at that revision,\n"
        "-- made by `python -m orchestrator.migrations baseline`. Never edit it: a fresh database\n"
        '-- runs it instead of the revisions up to it (alembic/README.md, "The squash point").\n'
    ]
    for path in current_sql_files():
        rel = path.relative_to(sql_dir()).as_posix()
        parts.append(f"\n-- sql/{rel}\n{path.read_text().rstrip()}\n")
    target = alembic_dir() / BASELINE_FOLDER / f"{head}.sql"
    target.parent.mkdir(exist_ok=True)
    target.write_text("".join(parts))
    return target

"""docs/architecture.md stays true: every file, folder and SQL function it names exists, and
the commands of its worked examples run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator import dbversions

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
TEXT = DOC.read_text()
# Spans in backticks, and the first column of the code blocks' lines.
SPANS = re.findall(r"`([^`\n]+)`", TEXT)
CODE = "\n".join(re.findall(r"```[a-z]*\n(.*?)```", TEXT, flags=re.S))
SEARCHED = [
    *ROOT.glob("sql/**/*.sql"),
    *ROOT.glob("orchestrator/**/*.py"),
    *ROOT.glob("tests/*.py"),
]
CORPUS = "\n".join(p.read_text() for p in SEARCHED)
SQL_NAME = re.compile(r"(?:cachemon\.)?(_?[a-z][a-z0-9_]*)(?:\(.*\))?")


def _paths() -> set[str]:
    words = {w for span in SPANS for w in span.split()} | set(CODE.split())
    paths = set()
    for word in words:
        word = word.strip("(),;")
        if re.fullmatch(r"(sql|orchestrator|alembic|tests|docs|benchmarks|\.\.)/[\w./-]*", word):
            if "NNNN" not in word:
                paths.add(word)
        elif re.fullmatch(r"[\w-]+\.md", word):
            paths.add(word)
    return paths


def _located(path: str) -> bool:
    base = path.split(" ")[0]
    candidates = [ROOT / base, DOC.parent / base]
    # A path given after a folder in the same cell, e.g. `sql/functions/a.sql`, `b.sql`.
    return any(c.exists() for c in candidates)


def test_every_path_named_exists() -> None:
    named = _paths()
    assert len(named) > 30, "the map names files"
    missing = sorted(p for p in named if not _located(p))
    assert missing == []


def test_every_file_named_beside_a_folder_exists() -> None:
    """`_rollup_merge.sql` after `sql/functions/tick.sql` is sql/functions/_rollup_merge.sql."""
    bare = {s for s in SPANS if re.fullmatch(r"_?[a-z0-9_]+\.(sql|py)", s)}
    roots = [ROOT / "sql" / "functions", ROOT / "orchestrator", ROOT / "orchestrator" / "cli"]
    roots += [ROOT / "orchestrator" / "collector", ROOT / "orchestrator" / "dashboard"]
    roots += [ROOT / "tests", *(ROOT / "alembic" / "versions").glob("*/")]
    missing = sorted(b for b in bare if not any((r / b).exists() for r in roots))
    assert missing == []


def test_every_sql_function_named_exists() -> None:
    functions = {p.stem for p in (ROOT / "sql" / "functions").glob("*.sql")}
    called = set()
    for span in SPANS:
        match = SQL_NAME.fullmatch(span)
        if match and (span.startswith("cachemon.") or "(" in span):
            called.add(match.group(1))
    assert {"tick", "run_auditor", "compute_baseline"} <= called
    objects = {n for n in called if n not in functions and not re.search(rf"\b{n}\b", CORPUS)}
    assert objects == set(), "named in docs/architecture.md, found in no SQL or Python file"
    # Names the doc gives as functions (with parentheses) are function files.
    with_parens = {
        SQL_NAME.fullmatch(s).group(1)  # type: ignore[union-attr]
        for s in SPANS
        if "(" in s and SQL_NAME.fullmatch(s) and not s.startswith("pg_")
    }
    # ... or Python functions, or PostgreSQL's own.
    unknown = {n for n in with_parens - functions if not re.search(rf"def {n}\(", CORPUS)}
    assert sorted(unknown - {"now", "pg_notify"}) == []


def test_every_fixture_named_exists() -> None:
    conftest = (ROOT / "tests" / "conftest.py").read_text()
    table = TEXT.split("## Tests and their fixtures", 1)[1]
    fixtures = re.findall(r"^\| `(\w+)`(?:, `(\w+)`)? \|", table, flags=re.M)
    names = {n for pair in fixtures for n in pair if n}
    assert {"db_url", "conn", "empty_db_url"} <= names
    for name in names:
        assert f"def {name}(" in conftest, name


@pytest.mark.parametrize("command", ["stale", "verify", "diff"])
def test_worked_example_commands_run(command: str) -> None:
    args = [sys.executable, "-m", "orchestrator.migrations", command]
    if command == "diff":
        args.append(dbversions.head()[:4])
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if command == "diff":
        assert proc.stdout.startswith("--- "), proc.stdout[:200]

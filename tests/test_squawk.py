"""squawk, a linter for PostgreSQL migrations (PyPI squawk-cli, whose wheel ships the binary,
so this runs offline), over the script `cachemon db sql` prints. Each warning must be fixed, or
waived in .squawk.toml with its reason (see the comment at the top of that file)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from orchestrator import dbversions

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".squawk.toml"
SECTION = re.compile(r"^-- Running upgrade \S* ?-> (\S+)")


def _squawk() -> str:
    found = Path(sys.executable).with_name("squawk")
    if found.is_file():
        return str(found)
    which = shutil.which("squawk")
    if which is None:
        pytest.fail("squawk is not installed: pip install squawk-cli (make setup does)")
    return which


def _warnings(script: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [_squawk(), "--config", str(CONFIG), "--reporter", "json", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    found: list[dict[str, Any]] = json.loads(proc.stdout or "[]")
    return found


def _revision_at(lines: list[str], line: int) -> str:
    revision = "(alembic preamble)"
    for text in lines[: line + 1]:
        m = SECTION.match(text)
        if m:
            revision = m.group(1)
    return revision


def _unwaived(
    script: Path, waivers: list[dict[str, str]], used: set[int], any_revision: bool
) -> list[str]:
    """Warnings of ``script`` without a waiver; ``used`` collects the waivers that matched.
    With ``any_revision``, a waiver of any revision covers the line (the full install script
    holds the statements the revisions ran, under no revision's section)."""
    lines = script.read_text().splitlines()
    unwaived: list[str] = []
    for warning in _warnings(script):
        text = lines[warning["line"]]
        revision = _revision_at(lines, warning["line"])
        match = [
            i
            for i, w in enumerate(waivers)
            if (any_revision or w["revision"] == revision)
            and w["rule"] == warning["rule_name"]
            and w["match"] in text
        ]
        if match:
            used.update(match)
        else:
            unwaived.append(f"{revision}: {warning['rule_name']}: {text.strip()}")
    return unwaived


def test_squawk_finds_nothing_unwaived_in_the_upgrade_script(tmp_path: Path) -> None:
    """Both scripts: every revision walked (an existing database), and a fresh install (the
    squash point's full install script, then the later revisions)."""
    waivers: list[dict[str, str]] = tomllib.loads(CONFIG.read_text()).get("cachemon_waiver", [])
    for waiver in waivers:
        assert waiver.get("reason", "").strip(), f"waiver without a reason: {waiver}"
    walked, fresh = tmp_path / "walked.sql", tmp_path / "fresh.sql"
    walked.write_text(dbversions.offline_sql("head", baseline=False))
    fresh.write_text(dbversions.offline_sql("head"))
    used: set[int] = set()
    unwaived = _unwaived(walked, waivers, used, any_revision=False)
    stale = [w for i, w in enumerate(waivers) if i not in used]
    unwaived += _unwaived(fresh, waivers, set(), any_revision=True)
    assert unwaived == [], "fix these, or waive each in .squawk.toml with a reason"
    assert stale == [], "these waivers match no warning any more: remove them"


def test_squawk_would_catch_an_unsafe_revision(tmp_path: Path) -> None:
    """Near miss and breach: the same run flags an integer column and a lock without timeout."""
    script = tmp_path / "bad.sql"
    script.write_text("ALTER TABLE cachemon.cache_metrics ADD COLUMN n integer;\n")
    rules = {w["rule_name"] for w in _warnings(script)}
    assert {"prefer-bigint-over-int", "require-lock-timeout"} <= rules

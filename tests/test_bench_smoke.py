"""Every benchmark still runs, and every figure the docs quote is still printed.

Each ``benchmarks/bench_*.py`` runs once at its ``--smoke`` size (tiny inputs on its own
throwaway cluster; a new benchmark is picked up by its name and must accept ``--smoke``). The
figures a smoke run prints mean nothing; the full sizes are ``make bench``.

Figures are quoted in README.md and docs/ in a fenced block whose first line is the command,
``$ .venv/bin/python benchmarks/bench_<name>.py [options]``, followed by lines of its output as
printed (docs/capacity.md). Each quoted line's labels (the line with every number replaced,
``…`` standing for an elided part) must appear in one line of that script's smoke output.
Values are not compared: they are the measurement. The smoke run takes no other option, so a
quoted line must be one the script prints at its default steps.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = sorted((ROOT / "benchmarks").glob("bench_*.py"))
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?")
_OUTPUTS: dict[str, str] = {}


@dataclass(frozen=True)
class Quote:
    source: str
    script: str
    lines: tuple[str, ...]


def labels(line: str) -> str:
    return " ".join(NUMBER.sub("#", line).split())


def quotes() -> list[Quote]:
    """The quoted blocks, one per script (the lines of every block quoting it)."""
    found: dict[str, Quote] = {}
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in FENCE.findall(path.read_text()):
            lines = block.splitlines()
            if not lines or not lines[0].startswith("$ ") or "benchmarks/bench_" not in lines[0]:
                continue
            argv = shlex.split(lines[0][2:])
            assert argv[0] == ".venv/bin/python" and argv[1].startswith("benchmarks/bench_"), argv
            script = Path(argv[1]).name
            outputs = tuple(line for line in lines[1:] if line.strip())
            if outputs:
                seen = found.get(script)
                found[script] = Quote(
                    path.name if seen is None else f"{seen.source}, {path.name}",
                    script,
                    outputs if seen is None else seen.lines + outputs,
                )
    return list(found.values())


def matches(quoted: str, printed: list[str]) -> bool:
    parts = [p.strip() for p in labels(quoted).split("…") if p.strip()]
    for line in printed:
        at = 0
        for part in parts:
            at = line.find(part, at)
            if at < 0:
                break
            at += len(part)
        else:
            return True
    return False


def smoke_output(script: Path) -> str:
    """The stdout of ``script --smoke`` (run once per session, checked to succeed)."""
    if script.name not in _OUTPUTS:
        env = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k}
        proc = subprocess.run(
            [sys.executable, str(script), "--smoke"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
        _OUTPUTS[script.name] = proc.stdout
    return _OUTPUTS[script.name]


def test_every_benchmark_is_found() -> None:
    assert {"bench_rollup.py", "bench_auditor.py", "bench_collector.py"} <= {
        p.name for p in BENCHMARKS
    }


def test_the_docs_quote_at_least_the_capacity_figures() -> None:
    assert "bench_capacity.py" in {q.script for q in quotes()}


def test_the_label_check_fails_when_a_label_changed() -> None:
    printed = [labels("   collector / \\copy rate: 0.81 (target >= 0.8)")]
    assert matches("   collector / \\copy rate: 0.64 (target >= 0.8)", printed)
    assert matches("   collector / \\copy rate: 0.64 …", printed)
    assert not matches("   collector / psql rate: 0.64 (target >= 0.8)", printed)
    assert not matches("   collector / \\copy rate: 0.64 (goal >= 0.8)", printed)
    assert not matches("   … / \\copy speed: …", printed)


@pytest.mark.slow
@pytest.mark.parametrize("script", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_benchmark_runs_at_smoke_size(script: Path) -> None:
    assert smoke_output(script).strip(), "a benchmark prints its figures"


@pytest.mark.slow
@pytest.mark.parametrize("quote", quotes(), ids=lambda q: f"{q.script}")
def test_a_quoted_benchmark_still_prints_its_quoted_lines(quote: Quote) -> None:
    printed = [
        labels(line) for line in smoke_output(ROOT / "benchmarks" / quote.script).splitlines()
    ]
    missing = [line for line in quote.lines if not matches(line, printed)]
    assert not missing, f"{quote.source}: {quote.script} --smoke no longer prints {missing}"

"""Every benchmark command quoted with its figures in README.md and docs/ still prints the
lines it is quoted with.

The convention (docs/capacity.md): a figure is quoted in a fenced block whose first line is
the command, ``$ .venv/bin/python benchmarks/bench_<name>.py [options]``, followed by lines of
its output as printed. This runs each such command with ``--smoke`` (every line, at a size of
seconds) and checks that each quoted line's labels, i.e. the line with every number replaced
and ``…`` standing for an elided part, appear in one line of the output. Values are not
compared: they are the measurement.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?")


@dataclass(frozen=True)
class Quote:
    source: str
    argv: tuple[str, ...]
    lines: tuple[str, ...]


def labels(line: str) -> str:
    return " ".join(NUMBER.sub("#", line).split())


def quotes() -> list[Quote]:
    """The quoted blocks, one per command (the lines of every block quoting it)."""
    found: dict[tuple[str, ...], Quote] = {}
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in FENCE.findall(path.read_text()):
            lines = block.splitlines()
            if not lines or not lines[0].startswith("$ ") or "benchmarks/bench_" not in lines[0]:
                continue
            argv = tuple(shlex.split(lines[0][2:]))
            outputs = tuple(line for line in lines[1:] if line.strip())
            if outputs:
                seen = found.get(argv)
                found[argv] = Quote(
                    path.name if seen is None else f"{seen.source}, {path.name}",
                    argv,
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


def test_the_docs_quote_at_least_the_capacity_figures() -> None:
    scripts = {Path(a).name for q in quotes() for a in q.argv if a.startswith("benchmarks/")}
    assert "bench_capacity.py" in scripts, scripts


def test_the_label_check_fails_when_a_label_changed() -> None:
    printed = [labels("   collector / \\copy rate: 0.81 (target >= 0.8)")]
    assert matches("   collector / \\copy rate: 0.64 (target >= 0.8)", printed)
    assert matches("   collector / \\copy rate: 0.64 …", printed)
    assert not matches("   collector / psql rate: 0.64 (target >= 0.8)", printed)
    assert not matches("   collector / \\copy rate: 0.64 (goal >= 0.8)", printed)
    assert not matches("   … / \\copy speed: …", printed)


@pytest.mark.parametrize("quote", quotes(), ids=lambda q: f"{q.source}:{' '.join(q.argv[1:3])}")
def test_a_quoted_benchmark_still_prints_its_quoted_lines(quote: Quote) -> None:
    argv = list(quote.argv)
    assert argv[0] == ".venv/bin/python" and argv[1].startswith("benchmarks/bench_"), argv
    done = subprocess.run(
        [sys.executable, str(ROOT / argv[1]), *argv[2:], "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    printed = [labels(line) for line in done.stdout.splitlines()]
    missing = [line for line in quote.lines if not matches(line, printed)]
    assert not missing, f"{quote.source}: {' '.join(argv)} --smoke no longer prints {missing}"

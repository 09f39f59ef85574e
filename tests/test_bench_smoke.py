"""Every benchmark still runs: each ``benchmarks/bench_*.py`` at its ``--smoke`` size (tiny
inputs on its own throwaway cluster). The figures a smoke run prints mean nothing; the full
sizes are ``make bench``. A new benchmark is picked up by its name and must accept --smoke."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = sorted((ROOT / "benchmarks").glob("bench_*.py"))


def test_every_benchmark_is_found() -> None:
    assert {"bench_rollup.py", "bench_auditor.py", "bench_collector.py"} <= {
        p.name for p in BENCHMARKS
    }


@pytest.mark.slow
@pytest.mark.parametrize("script", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_benchmark_runs_at_smoke_size(script: Path) -> None:
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
    assert proc.stdout.strip(), "a benchmark prints its figures"

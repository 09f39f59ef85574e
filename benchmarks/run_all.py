"""Run every benchmark at its full size, one after the other (`make bench`).

Each script starts (and removes) its own local PostgreSQL and prints its figures beside the
references it measures in the same run. Run on an otherwise idle machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    "bench_collector.py",
    "bench_rollup.py",
    "bench_auditor.py",
    "bench_auditor_cost.py",
    "bench_ingest.py",
    "bench_maintenance.py",
    "bench_dashboard.py",
    "bench_dashboard_load.py",
    "bench_notify.py",
    "bench_capacity.py",  # the longest: steps of 5 minutes, then a 30-minute hold per size
]


def main() -> int:
    failed = 0
    for script in SCRIPTS:
        print(f"\n===== {script} =====", flush=True)
        failed += subprocess.run([sys.executable, str(HERE / script)]).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

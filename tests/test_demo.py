"""`cachemon demo`, the README's main job, run as a user runs it (twice on the same folder)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from orchestrator import localpg

CACHEMON = str(Path(sys.executable).parent / "cachemon")


@pytest.mark.slow
def test_demo_plays_a_regression_and_runs_again_cleanly() -> None:
    root = Path(tempfile.mkdtemp(prefix="cachemon-demo-"))
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)},
        "CACHEMON_LOCAL_DIR": str(root),
        "CACHEMON_DATABASE_URL": "",
    }
    try:
        for _ in range(2):
            proc = subprocess.run(
                [CACHEMON, "demo"], env=env, capture_output=True, text=True, timeout=300
            )
            assert proc.returncode == 0, proc.stderr
            out = proc.stdout
            # The regression of `new` is found, and found to be over: one finding for the
            # incident, led by one rule, the others named in its message ("[with ...]").
            led = re.findall(r"#\d+ resolved\s+\w+\s+new\s+(\w+)[^\n]*\n\s+([^\n]*)", out)
            assert led, out
            named = " ".join(f"{rule} {message}" for rule, message in led)
            for rule in ("hit_rate_drop", "response_time", "error_rate", "migration"):
                assert re.search(rf"\b{rule}\b", named), (rule, out)
            assert len(re.findall(r"#\d+ \w+\s+\w+\s+new\s", out)) == 1, out
            # legacy behaved all along: no finding about it (no false alarm).
            assert not re.search(r"#\d+ \w+\s+\w+\s+legacy\s", out), out
            assert " 0 dropped" in out
            # the finding's messages arrived at the webhook the demo started on 127.0.0.1:
            # firing first, resolved last, each naming the finding
            told = re.findall(
                r"\+\s*\d+ min  (FIRING|RESOLVED)\s+\w+\s+\w+ on new \(finding #", out
            )
            assert told and told[0] == "FIRING" and told[-1] == "RESOLVED", out
            url = re.search(r"export CACHEMON_DATABASE_URL='([^']+)'", out)
            assert url is not None
        assert url is not None
        with psycopg.connect(url.group(1)) as conn:
            # Every event the collector stored is in the rollups: the run left nothing behind.
            raw, rolled, pending = conn.execute(
                "SELECT (SELECT count(*) FROM cachemon.cache_metrics),"
                " (SELECT sum(total_events) FROM cachemon.cache_metrics_1min),"
                " (SELECT count(*) FROM cachemon._dirty_buckets)"
            ).fetchone() or (None, None, None)
            assert raw == rolled and raw > 100_000 and pending == 0
            baselines = conn.execute(
                "SELECT count(*) FROM cachemon.cache_baseline_metrics WHERE is_active"
            ).fetchone()
            assert baselines == (2,)
    finally:
        localpg.destroy(root)

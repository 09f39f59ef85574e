"""``cachemon ingest FILE``: JSON Lines and CSV through the batch path, idempotent, with reasons."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from click.testing import CliRunner

from orchestrator.cli import main

RECENT = (datetime.now(UTC) - timedelta(hours=1)).isoformat()


def count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM cachemon.cache_metrics").fetchone()
        assert row is not None
        return int(row[0])


def test_jsonl_with_rejected_lines_and_rerun(db_url: str, tmp_path: Path) -> None:
    lines = [
        {
            "implementation_type": "new",
            "event_type": "hit",
            "cache_key": "a",
            "response_time_ms": 3,
        },
        {"implementation_type": "new", "event_type": "hot", "cache_key": "b"},
        {
            "implementation_type": "legacy",
            "event_type": "miss",
            "recorded_at": RECENT,
            "cache_size": 12,
        },
        {"implementation_type": "new", "event_type": "set", "response_time_ms": -4},
        # Older than raw retention: the database refuses it, naming the value.
        {"implementation_type": "new", "event_type": "hit", "recorded_at": "2024-01-02T03:04:05Z"},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n\n")
    runner = CliRunner()
    result = runner.invoke(
        main, ["ingest", str(path), "--database-url", db_url, "--batch-size", "1"]
    )
    assert result.exit_code == 1, result.output
    assert "accepted 2 lines (2 stored now), rejected 4 lines" in result.stdout
    assert "2024-01-02" in result.stderr
    assert f"{path}:2: rejected: event_type must be one of" in result.stderr
    assert "'hot'" in result.stderr
    assert f"{path}:4: rejected: response_time_ms" in result.stderr and "-4" in result.stderr
    assert f"{path}:6: rejected: not valid JSON" in result.stderr
    assert count(db_url) == 2
    again = runner.invoke(
        main, ["ingest", str(path), "--database-url", db_url, "--batch-size", "1"]
    )
    assert "accepted 2 lines (0 stored now, 2 already stored)" in again.stdout
    assert count(db_url) == 2
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT recorded_at, cache_size FROM cachemon.cache_metrics"
            " WHERE implementation_type = 'legacy'"
        ).fetchone()
    assert row == (datetime.fromisoformat(RECENT), 12)


def test_csv_through_the_console_script(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "recorded_at,implementation_type,event_type,cache_key,response_time_ms,cache_size,error_type\n"
        f"{RECENT},new,hit,k1,1.5,10,\n"
        ",legacy,error,k2,,,TimeoutError\n"
        f"{RECENT},new,hit,k3,fast,10,\n"
    )
    script = Path(sys.executable).parent / "cachemon"
    proc = subprocess.run(
        [str(script), "ingest", str(path)],
        # A bare environment, except that the script keeps the test's clock (libfaketime).
        env={
            "CACHEMON_DATABASE_URL": db_url,
            "PATH": "/usr/bin:/bin",
            **{k: v for k, v in os.environ.items() if k.startswith(("FAKETIME", "LD_PRELOAD"))},
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert "accepted 2 lines (2 stored now), rejected 1 lines" in proc.stdout
    assert ":4: rejected: response_time_ms must be a number >= 0, got 'fast'" in proc.stderr
    assert count(db_url) == 2

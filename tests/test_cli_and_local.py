"""The installed console script, run as a user would: local cluster and schema versions."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from orchestrator import localpg

CACHEMON = shutil.which("cachemon", path=str(Path(sys.executable).parent)) or "cachemon"


def run(
    *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [CACHEMON, *args], capture_output=True, text=True, env=full_env, timeout=300
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"cachemon {' '.join(args)} failed: {proc.stdout}\n{proc.stderr}")
    return proc


def test_find_bindir_finds_server_binaries() -> None:
    bindir = localpg.find_bindir()
    assert (bindir / "initdb").is_file() and (bindir / "postgres").is_file()


@pytest.mark.slow
def test_local_start_status_stop_and_db_commands() -> None:
    root = Path(tempfile.mkdtemp(prefix="cachemon-cli-"))
    env = {"CACHEMON_LOCAL_DIR": str(root)}
    try:
        out = run("local", "start", env=env).stdout
        # eval "$(cachemon local start)": stdout is the export line and nothing else.
        assert out.count("\n") == 1 and out.startswith("export CACHEMON_DATABASE_URL='"), out
        url = out.split("export CACHEMON_DATABASE_URL='")[1].split("'")[0]
        shell = subprocess.run(
            ["bash", "-c", f'eval "$({CACHEMON} local start)" && echo "$CACHEMON_DATABASE_URL"'],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=120,
        )
        assert shell.stdout.strip() == url, shell
        assert "running" in run("local", "status", env=env).stdout
        if os.geteuid() == 0:
            # PostgreSQL refuses root: the server runs as the unprivileged service user.
            pid = int((root / "data" / "postmaster.pid").read_text().split()[0])
            owner = pwd.getpwuid(os.stat(f"/proc/{pid}").st_uid).pw_name
            assert owner == localpg.SERVICE_USER
        denv = {"CACHEMON_DATABASE_URL": url}
        assert run("db", "check", env=denv, check=False).returncode == 1  # behind head
        assert "cachemon schema at" in run("db", "upgrade", env=denv).stdout
        assert run("db", "check", env=denv).returncode == 0
        head = run("db", "current", env=denv).stdout.strip()
        assert head and head != "base (not installed)"
        # Starting again is idempotent, and the same URL keeps working.
        run("local", "start", env=env)
        with psycopg.connect(url) as conn:
            assert (conn.execute("SELECT count(*) FROM cachemon._settings").fetchone() or (0,))[
                0
            ] >= 3
            if localpg.load(root).pg_cron:  # type: ignore[union-attr]
                # pg_cron lives in the local database, so the upgrade scheduled the jobs.
                jobs = conn.execute(
                    "SELECT jobname FROM cron.job WHERE jobname LIKE 'cachemon-%' ORDER BY 1"
                ).fetchall()
                assert [j[0] for j in jobs] == [
                    "cachemon-auditor-check",
                    "cachemon-cron-cleanup",
                    "cachemon-maintenance",
                    "cachemon-tick",
                ]
        status = json.loads(run("local", "status", "--json", env=env).stdout)
        assert status["running"] and {"cachemon"} <= {d["name"] for d in status["databases"]}
        refused = run("db", "downgrade", "--revision", "base", env=denv, check=False)
        assert refused.returncode == 19 and "--yes" in refused.stderr  # no terminal: refused
        run("db", "downgrade", "--revision", "base", "--yes", env=denv)
        assert run("db", "current", env=denv).stdout.strip() == "base (not installed)"
        # Stop with a client connected, then start at once: the port probe must not see the
        # closed connections in TIME_WAIT as "port taken" (SO_REUSEADDR, as PostgreSQL binds).
        client = psycopg.connect(url)
        client.execute("SELECT 1")
        assert "stopped" in run("local", "stop", env=env).stdout
        client.close()
        assert run("local", "status", env=env, check=False).returncode == 3
        run("local", "start", env=env)
        assert run("local", "stop", env=env).returncode == 0
        assert run("local", "destroy", env=env, check=False).returncode == 19  # asks first
        assert "removed" in run("local", "destroy", "--yes", env=env).stdout
        assert not root.exists()
    finally:
        localpg.destroy(root)


def test_db_sql_prints_the_script_without_a_database() -> None:
    env = {"CACHEMON_DATABASE_URL": "", "DATABASE_URL": ""}
    out = run("db", "sql", env=env).stdout
    assert out.startswith("BEGIN;") and "CREATE TABLE cachemon.cache_metrics" in out
    assert run("db", "upgrade", "--sql", env=env).stdout == out


def test_missing_url_is_a_clear_error() -> None:
    proc = run("db", "current", env={"CACHEMON_DATABASE_URL": "", "DATABASE_URL": ""}, check=False)
    assert proc.returncode != 0
    assert "CACHEMON_DATABASE_URL" in proc.stderr


def test_help_shows_environment_variables() -> None:
    assert "CACHEMON_DATABASE_URL" in run("db", "upgrade", "--help").stdout
    assert "CACHEMON_LOCAL_DIR" in run("local", "start", "--help").stdout

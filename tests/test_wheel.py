"""The built wheel carries sql/ and alembic/, so an installed package can upgrade a database."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_installed_wheel_upgrades_a_database(tmp_path: Path, empty_db_url: str) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = dist.glob("cachemon-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "orchestrator/_alembic/env.py" in names
    assert any(n.startswith("orchestrator/_sql/functions/") for n in names)
    assert any(n.startswith("orchestrator/_alembic/versions/0001_foundation/") for n in names)
    # The dashboard's assets (page, script, vendored uPlot) ship inside the package.
    for asset in ("index.html", "dashboard.js", "dashboard.css", "uPlot.iife.min.js"):
        assert f"orchestrator/dashboard/static/{asset}" in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = venv / "bin" / "pip"
    subprocess.run([str(pip), "install", "-q", str(wheel)], check=True, timeout=600)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env["CACHEMON_DATABASE_URL"] = empty_db_url
    # Run from an unrelated folder, so nothing of the checkout can be picked up.
    proc = subprocess.run(
        [str(venv / "bin" / "cachemon"), "db", "upgrade"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    located = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import orchestrator.paths as p; print(p.sql_dir())"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert "site-packages" in located
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("SELECT to_regclass('cachemon.cache_metrics')").fetchone() == (
            "cachemon.cache_metrics",
        )

"""`cachemon db check` compares with the head revision's manifest, reading the
catalogs only, so a health check never blocks ingest; the frozen revision files are pinned by
their manifests."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import psycopg
import pytest

from orchestrator import dbversions, manifest, migrations
from orchestrator.paths import alembic_dir


def test_every_revision_has_a_manifest_matching_its_frozen_files() -> None:
    assert manifest.frozen_file_mismatches() == []


def test_an_edited_frozen_file_no_longer_matches_its_manifest(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    shutil.copytree(alembic_dir() / "versions", versions)
    frozen = versions / "0003_rollup" / "functions" / "tick.sql"
    frozen.write_text(frozen.read_text().replace("tick", "tock", 1))
    (versions / "0002_ingest" / "functions" / "extra.sql").write_text("SELECT 1;\n")
    problems = manifest.frozen_file_mismatches(versions)
    assert "0003_rollup/functions/tick.sql: edited since the manifest was made" in problems
    assert "0002_ingest/functions/extra.sql: new since the manifest was made" in problems
    assert len(problems) == 2


def test_check_takes_no_lock_that_blocks_ingest(db_url: str) -> None:
    """An ingest transaction holds its locks on cache_metrics, the 1-minute and observation
    tables; db check still answers at once (the old check waited for AccessExclusiveLock),
    and it holds no lock on any cachemon relation that an INSERT would wait for."""
    with psycopg.connect(db_url) as ingest:
        ingest.execute(
            "INSERT INTO cachemon.cache_metrics (recorded_at, implementation_type, event_type,"
            " response_time_ms, cache_size) VALUES (now(), 'new', 'hit', 1, 1)"
        )
        ingest.execute(
            "INSERT INTO cachemon.cache_metrics_1min (bucket, implementation_type, hits, misses,"
            " total_events) VALUES (date_trunc('minute', now()), 'new', 1, 0, 1)"
        )
        ingest.execute(
            "INSERT INTO cachemon.cache_auditor_observations (implementation_type, rule,"
            " severity, category, message) VALUES ('new', 'r', 'info', 'anomaly', 'm')"
        )
        started = time.monotonic()
        result = dbversions.check(db_url)
        assert time.monotonic() - started < 5
        assert result.ok, result.drift
        ingest.rollback()

    with psycopg.connect(db_url) as checker, psycopg.connect(db_url, autocommit=True) as other:
        pid = checker.info.backend_pid
        assert dbversions.function_drift(checker) == []  # inside checker's open transaction
        held = other.execute(
            "SELECT c.relname, l.mode FROM pg_locks AS l JOIN pg_class AS c ON c.oid = l.relation"
            " WHERE l.pid = %s AND c.relnamespace = 'cachemon'::regnamespace"
            " AND l.mode <> 'AccessShareLock'",
            (pid,),
        ).fetchall()
        assert held == []
        # And an INSERT goes through while the checker's transaction is still open.
        other.execute("SET lock_timeout = '2s'")
        other.execute(
            "INSERT INTO cachemon.cache_metrics (recorded_at, implementation_type, event_type,"
            " response_time_ms, cache_size) VALUES (now(), 'new', 'hit', 1, 1)"
        )


def test_check_detects_a_replaced_function_and_an_added_one(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE OR REPLACE FUNCTION cachemon.calculate_hit_rate(hits bigint, misses bigint)"
            " RETURNS numeric LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp"
            " AS $$ SELECT 100::numeric $$"
        )
        conn.execute("CREATE FUNCTION cachemon.extra() RETURNS int LANGUAGE sql AS 'SELECT 1'")
        conn.execute("GRANT EXECUTE ON FUNCTION cachemon.tick(timestamptz) TO PUBLIC")
    drift = dbversions.check(db_url).drift
    assert "functions: ~ cachemon.calculate_hit_rate(bigint,bigint) (definition differs)" in drift
    assert "functions: + cachemon.extra() (not in the package)" in drift
    assert "functions: ~ cachemon.tick(timestamp with time zone) (definition differs)" in drift


def test_check_runs_as_a_role_without_privileges(db_url: str) -> None:
    """Reading pg_proc needs no privilege: a monitoring role can run the check."""
    with psycopg.connect(db_url) as conn:
        conn.execute("SET ROLE pg_monitor")
        assert dbversions.function_drift(conn) == []


def test_manifest_command_regenerates_the_same_manifests(pg_server: object, tmp_path: Path) -> None:
    """`python -m orchestrator.migrations manifest --all` rebuilds what is committed."""
    from tests.conftest import Server

    assert isinstance(pg_server, Server)
    committed = {f.name: manifest.load(f) for f in migrations.revision_folders()}
    dbversions.generate_manifests(None, pg_server.base_url, out=tmp_path)
    fresh = {f.name: manifest.load(tmp_path / f.name) for f in migrations.revision_folders()}
    assert fresh == committed


@pytest.mark.parametrize("revision", ["0003_rollup"])
def test_check_of_an_older_database_reports_behind_not_drift(
    empty_db_url: str, revision: str
) -> None:
    dbversions.upgrade(empty_db_url, revision)
    result = dbversions.check(empty_db_url)
    assert result.behind and not result.ok
    with psycopg.connect(empty_db_url) as conn:
        assert dbversions.function_drift(conn, revision) == []

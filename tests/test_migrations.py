"""Schema versions: upgrade, downgrade, offline SQL, reproducibility and concurrency."""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.script import ScriptDirectory

from orchestrator import catalog, dbversions, migrations
from orchestrator.paths import alembic_dir

from .conftest import Server

# The contract: every table and column users and other code rely on.
CONTRACT: dict[str, set[str]] = {
    "cache_metrics": {
        "recorded_at",
        "implementation_type",
        "event_type",
        "cache_key",
        "response_time_ms",
        "cache_size",
        "error_type",
        "error_message",
        "batch_id",
        "received_at",
    },
    "cache_metrics_1min": {
        "bucket",
        "implementation_type",
        "hits",
        "misses",
        "sets",
        "evictions",
        "errors",
        "total_events",
        "hit_rate",
        "error_rate",
        "avg_response_time_ms",
        "p50_response_time_ms",
        "p95_response_time_ms",
        "p99_response_time_ms",
        "max_response_time_ms",
        "avg_cache_size",
        "max_cache_size",
    },
    "cache_baseline_metrics": {
        "id",
        "implementation_type",
        "window_start",
        "window_end",
        "sample_minutes",
        "is_active",
        "created_at",
        *(
            f"{metric}_{stat}"
            for metric in (
                "hit_rate",
                "error_rate",
                "avg_response_time_ms",
                "p95_response_time_ms",
            )
            for stat in ("mean", "stddev")
        ),
    },
    "cache_auditor_observations": {
        "id",
        "implementation_type",
        "rule",
        "severity",
        "category",
        "status",
        "metric",
        "observed_value",
        "baseline_value",
        "deviation_pct",
        "message",
        "recommendation",
        "first_seen_at",
        "last_seen_at",
        "occurrences",
        "acknowledged_at",
        "acknowledged_by",
        "resolved_at",
        "details",
    },
}
CONTRACT["cache_metrics_1hour"] = CONTRACT["cache_metrics_1min"]


def _fingerprint(url: str) -> catalog.Fingerprint:
    with psycopg.connect(url) as conn:
        return catalog.fingerprint(conn)


def _columns(url: str) -> dict[str, set[str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'cachemon'"
        ).fetchall()
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    return found


def _objects_in_schema(url: str) -> list[Any]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT 'schema', nspname FROM pg_namespace WHERE nspname = 'cachemon'"
            " UNION ALL SELECT 'relation', relname FROM pg_class"
            "  WHERE relnamespace IN (SELECT oid FROM pg_namespace WHERE nspname = 'cachemon')"
            " UNION ALL SELECT 'function', proname FROM pg_proc"
            "  WHERE pronamespace IN (SELECT oid FROM pg_namespace WHERE nspname = 'cachemon')"
        ).fetchall()


def test_upgrade_builds_every_contract_table_and_column(empty_db_url: str) -> None:
    dbversions.upgrade(empty_db_url)
    found = _columns(empty_db_url)
    for table, columns in CONTRACT.items():
        assert table in found, f"missing table cachemon.{table}"
        assert columns <= found[table], f"{table} lacks {sorted(columns - found[table])}"
    assert dbversions.current(empty_db_url) == (dbversions.head(),)


def test_raw_events_are_partitioned_by_day_on_recorded_at(conn: Any) -> None:
    row = conn.execute(
        "SELECT pg_get_partkeydef('cachemon.cache_metrics'::regclass) AS key"
    ).fetchone()
    assert row["key"] == "RANGE (recorded_at)"


def test_downgrade_base_removes_everything_and_upgrade_works_again(empty_db_url: str) -> None:
    dbversions.upgrade(empty_db_url)
    migrated = _fingerprint(empty_db_url)
    dbversions.downgrade(empty_db_url, "base")
    assert _objects_in_schema(empty_db_url) == []
    assert dbversions.current(empty_db_url) == ()
    dbversions.upgrade(empty_db_url)
    assert catalog.differences(migrated, _fingerprint(empty_db_url)) == []


def test_each_step_down_and_up_again_is_clean(empty_db_url: str) -> None:
    """Every revision's downgrade undoes exactly its upgrade."""
    script = ScriptDirectory.from_config(dbversions.alembic_config())
    revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
    for revision in revisions:
        dbversions.upgrade(empty_db_url, revision)
        at_revision = _fingerprint(empty_db_url)
        dbversions.upgrade(empty_db_url, "head")
        dbversions.downgrade(empty_db_url, revision)
        assert catalog.differences(at_revision, _fingerprint(empty_db_url)) == [], revision
    dbversions.downgrade(empty_db_url, "base")
    assert _objects_in_schema(empty_db_url) == []


# Data the schema files insert: the settings, their rules and the auditor's rules.
CONFIGURATION = {"_settings": "name", "_setting_rules": "name", "_auditor_rules": "rule"}


def _state(url: str) -> tuple[catalog.Fingerprint, dict[str, Any]]:
    """The catalog, the column order of every table and type, and the configuration rows."""
    with psycopg.connect(url) as conn:
        extra: dict[str, Any] = {
            "column order": conn.execute(
                "SELECT c.relname, array_agg(a.attname::text ORDER BY a.attnum)"
                "  FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid"
                " WHERE c.relnamespace = 'cachemon'::regnamespace AND a.attnum > 0"
                "   AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'c')"
                "   AND c.relname <> 'alembic_version'"
                "   AND NOT (c.relispartition AND c.relname ~ '_p[0-9]{8}$')"
                " GROUP BY c.relname ORDER BY c.relname"
            ).fetchall()
        }
        for table, key in CONFIGURATION.items():
            extra[table] = conn.execute(
                f"SELECT to_jsonb(t) - 'updated_at' FROM cachemon.{table} AS t ORDER BY {key}"
            ).fetchall()
        return catalog.fingerprint(conn), extra


def _assert_same(left: str, right: str) -> None:
    (cat_left, extra_left), (cat_right, extra_right) = _state(left), _state(right)
    assert catalog.differences(cat_left, cat_right) == []
    for key in extra_left:
        assert extra_left[key] == extra_right[key], key
    assert cat_left["functions"] and cat_left["columns"] and cat_left["policies"]
    assert extra_left["_auditor_rules"] and extra_left["_settings"]


def test_every_way_of_building_head_gives_the_same_schema(
    pg_server: Server, template_url: str, empty_db_url: str
) -> None:
    """`sql/` is the true current picture, and a fresh install (the squash point's full script,
    then the later revisions) equals a database that walked every revision: same catalog,
    same column order, same settings and rules."""
    walked = pg_server.create_database(f"walked_{os.getpid()}")
    try:
        dbversions.upgrade(walked, baseline=False)
        with psycopg.connect(empty_db_url, autocommit=True) as conn:
            dbversions.build_from_current_sql(conn)
        _assert_same(walked, empty_db_url)
        _assert_same(walked, template_url)
        assert dbversions.current(template_url) == dbversions.current(walked)
    finally:
        pg_server.drop_database(f"walked_{os.getpid()}")


def test_the_squash_point_installs_what_its_revisions_install(
    pg_server: Server, empty_db_url: str
) -> None:
    """At the squash point itself: its full script equals the walk through every revision up
    to it, also after later revisions changed `sql/`."""
    point = migrations.squash_point()
    assert point is not None, "alembic/baseline/ holds the full install script"
    walked = pg_server.create_database(f"walked_squash_{os.getpid()}")
    try:
        dbversions.upgrade(walked, point, baseline=False)
        dbversions.upgrade(empty_db_url, point)
        _assert_same(walked, empty_db_url)
        assert dbversions.current(empty_db_url) == (point,)
    finally:
        pg_server.drop_database(f"walked_squash_{os.getpid()}")


def test_a_fresh_install_runs_the_full_script_and_an_old_database_walks() -> None:
    """Which path each upgrade takes, as printed by `cachemon db sql`."""
    point = migrations.squash_point()
    fresh = dbversions.offline_sql("head")
    assert f"-- Installing {point} from its full install script" in fresh
    assert "-- Running upgrade  -> 0001_foundation" not in fresh
    walked = dbversions.offline_sql("head", baseline=False)
    assert "-- Installing" not in walked and "-> 0001_foundation" in walked
    # Only to a revision before the squash point: every revision up to it.
    first = migrations.revision_folders()[0].name
    assert "-- Installing" not in dbversions.offline_sql(first)
    # An existing database (a start revision): the revisions after it.
    assert "-- Installing" not in dbversions.offline_sql(f"{first}:head")


def test_diff_prints_a_revision_against_its_previous_copies() -> None:
    folders = migrations.revision_folders()
    changed = next(
        f
        for f in reversed(folders)
        if any(migrations.previous_snapshot(f, p.name) for p in (f / "functions").glob("*.sql"))
    )
    text = migrations.revision_diff(changed.name)
    frozen = sorted((changed / "functions").glob("*.sql"))
    for path in frozen:
        earlier = migrations.previous_snapshot(changed, path.name)
        before = earlier.relative_to(earlier.parents[4]).as_posix() if earlier else "/dev/null"
        assert f"--- {before}" in text, path.name
        assert f"+++ alembic/versions/{changed.name}/functions/{path.name}" in text
    # A changed function shows its change, not its whole text: its added lines are exactly
    # the lines the new copy inserts or replaces; unchanged lines appear only as context.
    sections = re.split(r"^(?=--- )", text, flags=re.M)
    for path in frozen:
        earlier = migrations.previous_snapshot(changed, path.name)
        if earlier is not None:
            header = f"+++ alembic/versions/{changed.name}/functions/{path.name}\n"
            shown = next(s for s in sections if header in s)
            added = [ln for ln in shown.splitlines()[2:] if ln.startswith("+")]
            old, new = earlier.read_text().splitlines(), path.read_text().splitlines()
            matcher = difflib.SequenceMatcher(None, old, new)
            inserted = sum(
                j2 - j1
                for tag, _i1, _i2, j1, j2 in matcher.get_opcodes()
                if tag in ("replace", "insert")
            )
            assert len(added) == inserted, path.name


def test_every_function_file_is_frozen_in_a_revision() -> None:
    assert migrations.stale_functions() == [], (
        "run: python -m orchestrator.migrations snapshot <revision>"
    )


def test_revision_folders_sort_in_revision_order() -> None:
    script = ScriptDirectory.from_config(dbversions.alembic_config())
    chain = [r.revision for r in reversed(list(script.walk_revisions()))]
    assert chain == [f.name for f in migrations.revision_folders()]
    assert len(script.get_heads()) == 1


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql is not installed")
def test_offline_sql_applied_by_psql_equals_online_upgrade(
    template_url: str, empty_db_url: str, tmp_path: Path
) -> None:
    script = tmp_path / "upgrade.sql"
    script.write_text(dbversions.offline_sql("head"))
    subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", empty_db_url, "-f", str(script)],
        check=True,
        capture_output=True,
        text=True,
    )
    assert catalog.differences(_fingerprint(template_url), _fingerprint(empty_db_url)) == []
    assert dbversions.current(empty_db_url) == (dbversions.head(),)


def test_offline_sql_needs_no_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CACHEMON_DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    text = dbversions.offline_sql("head")
    assert "CREATE TABLE cachemon.cache_metrics" in text
    assert text.rstrip().endswith("COMMIT;")


def test_concurrent_upgrades_both_succeed(empty_db_url: str, template_url: str) -> None:
    """Three `cachemon db upgrade` processes at once (Alembic's context is per process)."""
    env = {**os.environ, "CACHEMON_DATABASE_URL": empty_db_url}
    cachemon = str(Path(sys.executable).parent / "cachemon")
    procs = [
        subprocess.Popen(
            [cachemon, "db", "upgrade"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], results
    assert dbversions.current(empty_db_url) == (dbversions.head(),)
    assert catalog.differences(_fingerprint(template_url), _fingerprint(empty_db_url)) == []


def test_check_is_ok_at_head_and_reports_drift(db_url: str) -> None:
    assert dbversions.check(db_url).ok
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "COMMENT ON FUNCTION cachemon.calculate_hit_rate(bigint, bigint) IS 'edited by hand'"
        )
    result = dbversions.check(db_url)
    assert not result.behind
    assert any("calculate_hit_rate" in line for line in result.drift)
    # The check itself changed nothing.
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT obj_description('cachemon.calculate_hit_rate(bigint,bigint)'::regprocedure)"
        ).fetchone()
    assert row is not None and row[0] == "edited by hand"


def test_check_reports_a_database_behind_head(empty_db_url: str) -> None:
    result = dbversions.check(empty_db_url)
    assert result.behind and not result.ok
    first = migrations.revision_folders()[0].name
    dbversions.upgrade(empty_db_url, first)
    assert dbversions.check(empty_db_url).behind == (first != dbversions.head())


def test_version_table_lives_in_cachemon(template_url: str) -> None:
    with psycopg.connect(template_url) as conn:
        row = conn.execute(
            "SELECT relrowsecurity FROM pg_class WHERE oid = 'cachemon.alembic_version'::regclass"
        ).fetchone()
        assert row == (True,)
        assert conn.execute("SELECT to_regclass('public.alembic_version')").fetchone() == (None,)


def test_installed_scripts_come_with_the_package() -> None:
    assert (alembic_dir() / "env.py").is_file()
    assert migrations.revision_folders()


def test_upgrade_on_a_server_with_supabase_roles(pg_server: Server, empty_db_url: str) -> None:
    """service_role becomes writer, reader and admin; anon and authenticated get nothing."""
    with pg_server.admin() as admin:
        for role in ("anon", "authenticated", "service_role"):
            if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                admin.execute(f"CREATE ROLE {role} NOLOGIN")
    dbversions.upgrade(empty_db_url)
    with psycopg.connect(empty_db_url) as conn:
        for group in ("cachemon_writer", "cachemon_reader", "cachemon_admin"):
            assert conn.execute(
                "SELECT pg_has_role('service_role', %s, 'MEMBER')", (group,)
            ).fetchone() == (True,)
        for role in ("anon", "authenticated"):
            row = conn.execute(
                "SELECT has_schema_privilege(%s, 'cachemon', 'USAGE'),"
                " has_table_privilege(%s, 'cachemon.cache_metrics_1min', 'SELECT'),"
                " has_function_privilege(%s,"
                "  'cachemon.calculate_hit_rate(bigint,bigint)', 'EXECUTE')",
                (role, role, role),
            ).fetchone()
            assert row == (False, False, False), role

"""The auditor needs no privilege beyond its roles' grants, and a failing auditor is loud on
every surface a person looks at: tick's result, `cachemon tick`, `cachemon db check`, the
dashboard (JSON and the page in Chromium) and, with pg_cron, the job's recorded run.

The auditor is broken on purpose three ways (a privilege revoked from cachemon_admin, a
setting made invalid by the owner behind the validation trigger's back, a helper function
dropped); each surface must name the failure, the rollups of the failing tick must still
commit, and the first successful run after the repair must say it recovered.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql
from psycopg.rows import dict_row

from orchestrator import rollup
from orchestrator.cli import main
from orchestrator.dashboard import DashboardSettings
from orchestrator.paths import sql_dir
from tests.auditor_helpers import NEW, T, audit, baselined, play
from tests.dashboard_helpers import chromium, running_server
from tests.rollup_helpers import Conn, db_now, insert_events
from tests.trust_helpers import login_role

ROLES = ("cachemon_admin", "cachemon_reader", "cachemon_writer", "cachemon_jobs")


def _dbname(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def test_the_auditor_runs_where_temporary_is_revoked(db_url: str) -> None:
    """REVOKE TEMPORARY ON DATABASE ... FROM PUBLIC (and from every cachemon role): baselines,
    the auditor and tick run as a member of cachemon_admin and open a finding; the role
    cannot create a temporary table (so the test would catch one)."""
    _, admin_url = login_role(db_url, "notemp", "cachemon_admin")
    with psycopg.connect(db_url, autocommit=True) as owner:
        owner.execute(
            sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC, {}").format(
                sql.Identifier(_dbname(db_url)), sql.SQL(", ").join(map(sql.Identifier, ROLES))
            )
        )
    with psycopg.connect(admin_url, autocommit=True, row_factory=dict_row) as conn:
        can = conn.execute(
            "SELECT has_database_privilege(current_database(), 'TEMPORARY') AS t"
        ).fetchone()
        assert can == {"t": False}
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="temporary"):
            conn.execute("CREATE TEMPORARY TABLE probe (x int)")
        baselined(conn)  # compute_baseline and _baseline_pooled
        end = play(conn, [(NEW.but(hit_rate=40), 12)], T, seed=0.4)
        results = audit(conn, T, end)
        assert all(r["skipped"] is None for r in results)
        assert sum(r["opened"] for r in results) >= 1
        found = conn.execute(
            "SELECT rule FROM cachemon.cache_auditor_observations WHERE implementation_type = 'new'"
        ).fetchall()
        assert {"rule": "hit_rate_drop"} in found
        result = conn.execute("SELECT status, auditor FROM cachemon.tick()").fetchone()
        assert result == {"status": "done", "auditor": "ran"}


def test_the_judgement_is_a_function_of_its_inputs(conn: Conn) -> None:
    """_audit_judgement called alone with the statistics run_auditor passes: the same verdict
    as the run (which writes the finding), no side effect of its own; given no statistics,
    the rules that judge them see no breach."""
    baselined(conn)
    end = play(conn, [(NEW.but(hit_rate=40), 6)], T, seed=0.4)
    at = end + timedelta(seconds=5)
    inputs = """
        WITH w AS (SELECT date_trunc('minute', %(at)s::timestamptz, 'UTC') AS e,
                          cachemon._setting('auditor.window')::interval AS win)
        SELECT ARRAY(SELECT s FROM w, (SELECT k.k FROM w, cachemon._auditor_windows(w.win) AS k (k)
                                        UNION SELECT (extract(epoch FROM w.win) / 60)::integer
                                          FROM w) AS k,
                          cachemon._window_stats(w.e - make_interval(mins => k.k), w.e) AS s)
                   AS stats,
               ARRAY(SELECT ROW(c.*)::cachemon._cusum_stat
                       FROM cachemon._cusum_compute(%(at)s) AS c) AS cusum,
               (SELECT win FROM w) AS win
    """
    got = conn.execute(inputs, {"at": at}).fetchone()
    assert got is not None
    judged = conn.execute(
        "SELECT j.group_state, (j.finding).rule, (j.finding).implementation_type AS impl"
        " FROM cachemon._audit_judgement(%s, %s, %s, %s) AS j",
        (at, got["win"], got["stats"], got["cusum"]),
    ).fetchall()
    breach = {(r["impl"], r["rule"]) for r in judged if r["group_state"] == "breach"}
    assert ("new", "hit_rate_drop") in breach
    assert conn.execute("SELECT count(*) AS n FROM cachemon._audit_state").fetchone() == {"n": 0}
    empty = conn.execute(
        "SELECT (j.finding).rule FROM cachemon._audit_judgement(%s, %s, '{}', '{}') AS j"
        " WHERE j.group_state = 'breach'",
        (at, got["win"]),
    ).fetchall()
    assert {"rule": "hit_rate_drop"} not in empty
    audit(conn, end - timedelta(minutes=1), end)
    row = conn.execute(
        "SELECT count(*) AS n FROM cachemon.cache_auditor_observations"
        " WHERE rule = 'hit_rate_drop' AND implementation_type = 'new'"
    ).fetchone()
    assert row == {"n": 1}


@dataclass(frozen=True)
class Break:
    words: str  # what every surface must show of the failure
    do: Callable[[psycopg.Connection[Any]], None]
    undo: Callable[[psycopg.Connection[Any]], None]


def _revoke(c: psycopg.Connection[Any]) -> None:
    c.execute("REVOKE SELECT ON cachemon.cache_baseline_metrics FROM cachemon_admin")


def _grant(c: psycopg.Connection[Any]) -> None:
    c.execute("GRANT SELECT ON cachemon.cache_baseline_metrics TO cachemon_admin")


def _bad_setting(c: psycopg.Connection[Any]) -> None:
    # The owner bypasses the settings' validation trigger.
    c.execute("ALTER TABLE cachemon._settings DISABLE TRIGGER USER")
    c.execute("UPDATE cachemon._settings SET value = '0 minutes' WHERE name = 'auditor.window'")
    c.execute("ALTER TABLE cachemon._settings ENABLE TRIGGER USER")


def _good_setting(c: psycopg.Connection[Any]) -> None:
    c.execute("UPDATE cachemon._settings SET value = '5 minutes' WHERE name = 'auditor.window'")


def _drop_helper(c: psycopg.Connection[Any]) -> None:
    c.execute("DROP FUNCTION cachemon._last_resolution(timestamptz)")


def _restore_helper(c: psycopg.Connection[Any]) -> None:
    c.execute((sql_dir() / "functions" / "_last_resolution.sql").read_text().encode())


BREAKS = {
    "revoked privilege": Break("permission denied", _revoke, _grant),
    "invalid setting": Break("auditor.window", _bad_setting, _good_setting),
    "dropped helper": Break("_last_resolution", _drop_helper, _restore_helper),
}


def _cli(args: list[str], url: str, tmp_path: Path) -> Any:
    env = {
        "CACHEMON_DATABASE_URL": url,
        "DATABASE_URL": "",
        "CACHEMON_DEBUG": "",
        "CACHEMON_LOCAL_DIR": str(tmp_path / "local"),
    }
    return CliRunner().invoke(main, args, env=env)


def _banner(url: str) -> tuple[bool, str]:
    """Whether the page shows the auditor banner, and its text (Chromium, real server)."""
    with chromium() as browser, running_server(DashboardSettings(url)) as server:
        page = browser.new_page()
        page.goto(server.base_url + "/?range=1h")
        page.wait_for_selector("body[data-rendered-at]")
        banner = page.locator("#auditor-banner")
        return banner.is_visible(), banner.inner_text() if banner.is_visible() else ""


@pytest.mark.parametrize("how", list(BREAKS))
def test_a_failing_auditor_is_loud_everywhere(db_url: str, tmp_path: Path, how: str) -> None:
    broken = BREAKS[how]
    _, jobs_url = login_role(db_url, "jobs", "cachemon_admin")  # as pg_cron's role would
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as owner:
        now = db_now(owner)
        broken.do(owner)
        insert_events(owner, [(now - timedelta(minutes=1), "health", "hit", 3.0, 1)])

        # tick(): the rollups commit, the status and the auditor field say why.
        with psycopg.connect(jobs_url, autocommit=True, row_factory=dict_row) as jobs:
            result = rollup.tick(jobs)
        assert result.status == "auditor_failed"
        assert result.auditor.startswith("failed: ") and broken.words in result.auditor
        rolled = owner.execute(
            "SELECT total_events FROM cachemon.cache_metrics_1min"
            " WHERE implementation_type = 'health'"
        ).fetchone()
        assert rolled == {"total_events": 1}
        health = owner.execute("SELECT * FROM cachemon._auditor_health").fetchone()
        assert health is not None and broken.words in health["failure"]
        since = health["failing_since"]
        assert since is not None

        # `cachemon tick`: exit 5, one line naming the failure.
        cli = _cli(["tick"], jobs_url, tmp_path)
        assert cli.exit_code == 5, cli.output
        lines = [line for line in cli.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("cachemon tick: the auditor failed: ")
        assert broken.words in lines[0]
        assert owner.execute("SELECT failing_since FROM cachemon._auditor_health").fetchone() == {
            "failing_since": since
        }  # the same run of failures

        # `cachemon db check`: the failure is reported (a dropped function is drift first).
        check = _cli(["db", "check", "--json"], db_url, tmp_path)
        assert check.exit_code == (4 if how == "dropped helper" else 5), check.output
        report = json.loads(check.stdout)
        assert broken.words in report["auditor_failure"] and report["ok"] is False
        if how != "dropped helper":
            text = _cli(["db", "check"], db_url, tmp_path)
            assert text.exit_code == 5 and "auditor failing since" in text.stderr

        # The dashboard: the JSON twin and a banner on the page.
        visible, text = _banner(db_url)
        assert visible and "The auditor is failing since" in text and broken.words in text

        # Repaired: the next run says it recovered, and every surface is quiet again.
        broken.undo(owner)
        with psycopg.connect(jobs_url, autocommit=True, row_factory=dict_row) as jobs:
            again = rollup.tick(jobs)
        assert again.status == "done"
        assert again.auditor.startswith("ran; recovered after failing since ")
        assert broken.words in again.auditor
        health = owner.execute("SELECT * FROM cachemon._auditor_health").fetchone()
        assert health is not None
        assert health["failure"] is None and health["failing_since"] is None
        assert health["recovered_at"] is not None
        quiet = _cli(["tick"], jobs_url, tmp_path)
        assert quiet.exit_code == 0, quiet.output
        assert _cli(["db", "check"], db_url, tmp_path).exit_code == 0
        assert _banner(db_url) == (False, "")


def test_the_health_row_is_readable_by_readers_and_written_by_admins_only(db_url: str) -> None:
    _, reader_url = login_role(db_url, "health_reader", "cachemon_reader")
    _, writer_url = login_role(db_url, "health_writer", "cachemon_writer")
    with psycopg.connect(reader_url, autocommit=True) as reader:
        assert reader.execute("SELECT failure FROM cachemon._auditor_health").fetchall() == [
            (None,)
        ]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("UPDATE cachemon._auditor_health SET failure = 'x'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("SELECT cachemon._auditor_outcome(NULL)")
    with (
        psycopg.connect(writer_url, autocommit=True) as writer,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        writer.execute("SELECT failure FROM cachemon._auditor_health")
    with psycopg.connect(db_url, autocommit=True) as owner:
        with pytest.raises(psycopg.errors.CheckViolation):
            owner.execute("INSERT INTO cachemon._auditor_health (id) VALUES (false)")
        with pytest.raises(psycopg.errors.UniqueViolation):
            owner.execute("INSERT INTO cachemon._auditor_health (id) VALUES (true)")


def test_pg_cron_records_a_failed_run_and_then_a_good_one(cron_db_url: str) -> None:
    """pg_cron itself runs the jobs: the tick job's rollups commit while the auditor fails
    (and it records the failure), and the runs of cachemon-auditor-check are recorded as
    failed with the reason; once repaired, the tick job records the recovery and the check's
    next run succeeds."""
    impl = "cron-health"
    with psycopg.connect(cron_db_url, autocommit=True, row_factory=dict_row) as conn:
        try:
            rollup.schedule_jobs(conn)
            _drop_helper(conn)
            started = db_now(conn)
            insert_events(conn, [(started - timedelta(minutes=1), impl, "hit", 4.0, 10)])
            failed_at = _wait(
                conn,
                "SELECT last_failure_at AS t FROM cachemon._auditor_health"
                " WHERE failure IS NOT NULL AND last_failure_at >= %s",
                started,
            )
            rolled = conn.execute(
                "SELECT total_events FROM cachemon.cache_metrics_1min"
                " WHERE implementation_type = %s",
                (impl,),
            ).fetchone()
            assert rolled == {"total_events": 1}  # the tick job committed its rollups
            run = _wait_for_check(conn, failed_at)
            assert run["status"] == "failed", run
            assert "the auditor is failing since" in run["return_message"]
            assert "_last_resolution" in run["return_message"]
            _restore_helper(conn)
            repaired = db_now(conn)
            recovered_at = _wait(
                conn,
                "SELECT recovered_at AS t FROM cachemon._auditor_health"
                " WHERE failure IS NULL AND recovered_at >= %s",
                repaired,
            )
            run = _wait_for_check(conn, recovered_at)
            assert run["status"] == "succeeded", run
        finally:
            if conn.execute(
                "SELECT to_regprocedure('cachemon._last_resolution(timestamptz)') IS NULL AS gone"
            ).fetchone() == {"gone": True}:
                _restore_helper(conn)
            conn.execute(
                "DELETE FROM cachemon.cache_metrics WHERE implementation_type = %s", (impl,)
            )
            rollup.tick(conn)


def _wait(conn: Conn, query: str, since: Any) -> Any:
    """Poll ``query`` (one row with column t once true) for up to 150 s."""
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        row = conn.execute(query, (since,)).fetchone()
        if row is not None:
            return row["t"]
        time.sleep(2)
    raise AssertionError(f"timed out after 150 s: {query}")


def _wait_for_check(conn: Conn, since: Any) -> dict[str, Any]:
    """The first finished run of cachemon-auditor-check that started after ``since``."""
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        run = conn.execute(
            "SELECT d.status, d.return_message FROM cron.job_run_details AS d"
            " JOIN cron.job AS j USING (jobid)"
            " WHERE j.jobname = 'cachemon-auditor-check' AND d.start_time > %s"
            "   AND d.status IN ('failed', 'succeeded')"
            " ORDER BY d.start_time LIMIT 1",
            (since,),
        ).fetchone()
        if run is not None:
            return dict(run)
        time.sleep(2)
    raise AssertionError(
        f"pg_cron recorded no finished run of cachemon-auditor-check since {since}"
    )

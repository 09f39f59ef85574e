"""Scheduling: pg_cron jobs (and their absence), the foreground scheduler, the CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from psycopg.rows import dict_row

from orchestrator import rollup
from orchestrator.cli import main
from tests.rollup_helpers import Conn, db_now, insert_events

JOBS = {
    "cachemon-tick",
    "cachemon-maintenance",
    "cachemon-cron-cleanup",
    "cachemon-auditor-check",
}


def test_without_pg_cron_scheduling_is_a_noop_with_a_notice(conn: Conn) -> None:
    notices: list[str] = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
    assert rollup.schedule_jobs(conn) == []
    assert rollup.unschedule_jobs(conn) == 0
    assert any("pg_cron is not installed" in n for n in notices)


@pytest.mark.pgcron
def test_jobs_are_scheduled_idempotently(cron_db_url: str) -> None:
    with psycopg.connect(cron_db_url, autocommit=True, row_factory=dict_row) as conn:
        try:
            # The migration's post/ step scheduled them already.
            names = {r["jobname"] for r in conn.execute("SELECT jobname FROM cron.job")}
            assert names >= JOBS
            first = rollup.schedule_jobs(conn)
            second = rollup.schedule_jobs(conn)
            assert {j.job_name for j in first} == JOBS
            assert [j.jobid for j in first] == [j.jobid for j in second]
            rows = conn.execute(
                "SELECT jobname, schedule FROM cron.job WHERE jobname LIKE 'cachemon-%%'"
            ).fetchall()
            assert len(rows) == len(JOBS)
            assert {r["jobname"]: r["schedule"] for r in rows}["cachemon-tick"] == "* * * * *"
            assert rollup.unschedule_jobs(conn) == len(JOBS)
            assert rollup.unschedule_jobs(conn) == 0
        finally:
            rollup.schedule_jobs(conn)  # leave the database as the migration made it


@pytest.mark.pgcron
@pytest.mark.slow
def test_pg_cron_runs_tick_and_rollups_appear(cron_db_url: str) -> None:
    """pg_cron itself (minute granularity) runs cachemon.tick(): wait for its rows."""
    impl = "pgcron-test"
    with psycopg.connect(cron_db_url, autocommit=True, row_factory=dict_row) as conn:
        try:
            rollup.schedule_jobs(conn)
            started = db_now(conn)
            insert_events(conn, [(started - timedelta(minutes=2), impl, "hit", 4.0, 10)] * 5)
            deadline = time.monotonic() + 100
            row = None
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT total_events FROM cachemon.cache_metrics_1min"
                    " WHERE implementation_type = %s",
                    (impl,),
                ).fetchone()
                if row:
                    break
                time.sleep(2)
            assert row is not None and row["total_events"] == 5, "pg_cron did not roll up"
            run = conn.execute(
                "SELECT d.status FROM cron.job_run_details AS d JOIN cron.job AS j USING (jobid)"
                " WHERE j.jobname = 'cachemon-tick' AND d.start_time >= %s"
                " ORDER BY d.start_time DESC LIMIT 1",
                (started,),
            ).fetchone()
            assert run is not None and run["status"] == "succeeded"
        finally:
            conn.execute(
                "DELETE FROM cachemon.cache_metrics WHERE implementation_type = %s", (impl,)
            )
            rollup.tick(conn)


def _cachemon() -> list[str]:
    script = Path(sys.executable).with_name("cachemon")
    return [str(script)] if script.exists() else [shutil.which("cachemon") or "cachemon"]


def test_scheduler_runs_tick_and_stops_on_sigterm(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as conn:
        now = db_now(conn)
        insert_events(conn, [(now - timedelta(minutes=1), "new", "hit", 3.0, 1)] * 3)
    env = {**os.environ, "CACHEMON_DATABASE_URL": db_url, "CACHEMON_TICK_INTERVAL": "0.5"}
    proc = subprocess.Popen(
        [*_cachemon(), "scheduler"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 30
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if " tick done minutes=1 " in line:
                break
        assert any(" maintenance done" in ln for ln in lines), lines
        assert any(" tick done minutes=1 " in ln for ln in lines), lines
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "signal SIGTERM" in out and " stopped" in out
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as conn:
        row = conn.execute(
            "SELECT sum(total_events) AS n FROM cachemon.cache_metrics_1min"
        ).fetchone()
        assert row is not None and row["n"] == 3


def test_scheduler_json_lines(db_url: str) -> None:
    env = {**os.environ, "CACHEMON_DATABASE_URL": db_url, "CACHEMON_TICK_INTERVAL": "0.5"}
    proc = subprocess.Popen(
        [*_cachemon(), "scheduler", "--json"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        kinds = [json.loads(proc.stdout.readline())["kind"] for _ in range(2)]
        assert kinds == ["maintenance", "tick"]
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    kinds = [json.loads(line)["kind"] for line in out.splitlines()]
    assert "signal" in kinds and kinds[-1] == "stopped", kinds


def test_cli_tick_and_summary(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as conn:
        now = db_now(conn)
        insert_events(
            conn,
            [(now - timedelta(minutes=2), "legacy", "hit", 10.0, 1)] * 3
            + [(now - timedelta(minutes=2), "legacy", "miss", 30.0, 1)],
        )
    runner = CliRunner()
    result = runner.invoke(main, ["tick"], env={"CACHEMON_DATABASE_URL": db_url})
    assert result.exit_code == 0, result.output
    assert "minutes_done" in result.output
    assert any(line.split() == ["status", "done"] for line in result.output.splitlines())
    result = runner.invoke(
        main, ["summary", "--window", "10m"], env={"CACHEMON_DATABASE_URL": db_url}
    )
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.output.splitlines()]
    assert lines[2][:4] == ["implementation", "events", "hit", "%"], result.output
    assert ["legacy", "4", "75.00"] in [line[:3] for line in lines], result.output
    result = runner.invoke(
        main, ["summary", "--window", "10 minutes", "--json"], env={"CACHEMON_DATABASE_URL": db_url}
    )
    (row,) = json.loads(result.output)
    assert (row["implementation_type"], row["total_events"], row["hit_rate"]) == ("legacy", 4, 75)
    bad = runner.invoke(
        main, ["summary", "--window", "soon"], env={"CACHEMON_DATABASE_URL": db_url}
    )
    assert bad.exit_code != 0 and "--window" in bad.output


def test_result_types_match_sql_columns(conn: Conn) -> None:
    import dataclasses

    def sql_columns(query: str) -> list[str]:
        cur = conn.execute(query + " LIMIT 0")
        assert cur.description is not None
        return [c.name for c in cur.description]

    for cls, query in (
        (rollup.TickResult, "SELECT * FROM cachemon.tick()"),
        (rollup.MaintenanceResult, "SELECT * FROM cachemon.run_maintenance()"),
        (rollup.SummaryRow, "SELECT * FROM cachemon.get_cache_performance_summary()"),
        (rollup.ScheduledJob, "SELECT * FROM cachemon.schedule_jobs()"),
    ):
        assert [f.name for f in dataclasses.fields(cls)] == sql_columns(query)


def test_scheduler_reports_an_unchanged_error_once() -> None:
    from orchestrator.errors import NotInstalled

    events: list[tuple[str, object]] = []
    scheduler = rollup.Scheduler(
        "postgresql://x@127.0.0.1/x", 1, 1, lambda k, p: events.append((k, p))
    )
    scheduler._connection = lambda: None  # type: ignore[assignment,method-assign,return-value]

    def failing(conn: object) -> object:
        raise NotInstalled('schema "cachemon" does not exist')

    for _ in range(3):
        scheduler._call("tick", failing)
    scheduler._call("tick", lambda conn: "ok")
    assert [k for k, _ in events] == ["error", "recovered", "tick"]
    assert "cachemon db upgrade" in str(events[0][1])

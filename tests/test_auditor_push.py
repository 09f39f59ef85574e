"""Live push: pg_notify payloads, the Supabase realtime.send path, the publication on a
Supabase-like database, `cachemon watch`, and the result types against the catalog."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from typing import Any

import psycopg
from click.testing import CliRunner

from orchestrator import auditor, baseline, dbversions, watch
from orchestrator.cli import main
from tests.auditor_helpers import NEW, Conn, T, audit, baselined, play
from tests.conftest import Server
from tests.watch_helpers import received_while

ROW = (
    "INSERT INTO cachemon.cache_metrics_1min (bucket, implementation_type, hits, misses,"
    " total_events, hit_rate) VALUES (%s, 'new', 8, 2, 10, 80)"
)


def test_changes_are_notified_as_small_json(conn: Conn, db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute("LISTEN cachemon_events")
        conn.execute(ROW, (T,))
        conn.execute("UPDATE cachemon.cache_metrics_1min SET hits = 9, total_events = 11")
        conn.execute(
            "INSERT INTO cachemon.cache_auditor_observations (implementation_type, rule,"
            " severity, category, message) VALUES ('new', 'r', 'warning', 'anomaly', %s)",
            ("x" * 2000,),
        )
        notes = list(listener.notifies(timeout=2, stop_after=3))
    assert [n.channel for n in notes] == ["cachemon_events"] * 3
    payloads = [json.loads(n.payload) for n in notes]
    assert all(len(n.payload.encode()) < 8000 for n in notes)
    assert payloads[0]["table"] == "cache_metrics_1min"
    assert payloads[0]["op"] == "INSERT"
    assert payloads[0]["implementation_type"] == "new"
    # Identifiers only (docs/security.md): the numbers are read through RLS.
    assert "hit_rate" not in payloads[0]
    assert payloads[1]["op"] == "UPDATE" and "total_events" not in payloads[1]
    assert payloads[2]["table"] == "cache_auditor_observations"
    assert payloads[2]["topic"] == "cachemon:observations"
    assert set(payloads[2]) == {"topic", "table", "op", "id"}


def _fake_realtime(conn: Conn, *, fail: bool = False) -> None:
    body = (
        "RAISE EXCEPTION 'realtime is down';"
        if fail
        else "INSERT INTO realtime.calls VALUES (payload, event, topic, private);"
    )
    conn.execute("CREATE SCHEMA realtime")
    conn.execute(
        "CREATE TABLE realtime.calls (payload jsonb, event text, topic text, private boolean)"
    )
    conn.execute(
        "CREATE FUNCTION realtime.send(payload jsonb, event text, topic text,"
        f" private boolean DEFAULT true) RETURNS void LANGUAGE plpgsql AS $$ BEGIN {body} END $$"
    )


def test_supabase_realtime_send_broadcasts_privately(conn: Conn) -> None:
    _fake_realtime(conn)
    conn.execute(ROW, (T,))
    calls = conn.execute("SELECT * FROM realtime.calls").fetchall()
    assert len(calls) == 1
    assert calls[0]["topic"] == "cachemon:metrics_1min"
    assert calls[0]["event"] == "INSERT"
    assert calls[0]["private"] is True
    assert calls[0]["payload"]["bucket"] is not None
    conn.execute(
        "UPDATE cachemon._settings SET value = 'false' WHERE name = 'push.realtime_private'"
    )
    baselined(conn)
    end = play(conn, [(NEW.but(hit_rate=40), 5)], T, seed=0.2)
    audit(conn, T, end)
    topics = conn.execute(
        "SELECT DISTINCT topic, private FROM realtime.calls WHERE topic = 'cachemon:observations'"
    ).fetchall()
    assert topics == [{"topic": "cachemon:observations", "private": False}]


def test_a_failing_realtime_send_does_not_fail_the_write(conn: Conn) -> None:
    _fake_realtime(conn, fail=True)
    warnings: list[str] = []
    conn.add_notice_handler(lambda d: warnings.append(d.message_primary or ""))
    conn.execute(ROW, (T,))
    assert conn.execute("SELECT count(*) AS n FROM cachemon.cache_metrics_1min").fetchone() == {
        "n": 1
    }
    assert any("realtime.send" in w for w in warnings)


def test_supabase_publication_gets_the_tables(pg_server: Server, empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url, autocommit=True) as c:
        c.execute("CREATE PUBLICATION supabase_realtime")
    dbversions.upgrade(empty_db_url)
    with psycopg.connect(empty_db_url, autocommit=True) as c:
        rows = c.execute(
            "SELECT pubname, tablename FROM pg_publication_tables WHERE schemaname = 'cachemon'"
            " ORDER BY tablename"
        ).fetchall()
        assert rows == [
            ("supabase_realtime", "cache_auditor_observations"),
            ("supabase_realtime", "cache_metrics_1min"),
        ]
        assert c.execute(
            "SELECT count(*) FROM pg_publication WHERE pubname = 'cachemon_realtime'"
        ).fetchone() == (0,)
    dbversions.downgrade(empty_db_url, "base")
    with psycopg.connect(empty_db_url, autocommit=True) as c:
        assert c.execute("SELECT count(*) FROM pg_publication_tables").fetchone() == (0,)


def test_listen_yields_events(db_url: str) -> None:
    got = received_while(db_url, db_url, ROW, (T,))
    assert [e["table"] for e in got] == ["cache_metrics_1min"]
    assert "hit=80.0%" in watch.format_event(got[0])


def test_watch_command_prints_updates(db_url: str) -> None:
    exe = os.path.join(os.path.dirname(sys.executable), "cachemon")
    proc = subprocess.Popen(
        [exe, "watch", "--duration", "20", "--count", "1"],
        env={**os.environ, "CACHEMON_DATABASE_URL": db_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        assert "listening on cachemon_events" in proc.stderr.readline()
        with psycopg.connect(db_url, autocommit=True) as c:
            c.execute(ROW, (T,))
        out, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert "new" in out and "events=" in out


def _result_columns(conn: Conn, signature: str) -> list[str]:
    row = conn.execute(
        """
        SELECT coalesce(
                 (SELECT array_agg(a.attname ORDER BY a.attnum) FROM pg_attribute AS a
                   WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped),
                 (SELECT array_agg(n ORDER BY i) FROM unnest(p.proargnames, p.proargmodes)
                    WITH ORDINALITY AS x(n, m, i) WHERE m = 't')) AS cols
          FROM pg_proc AS p JOIN pg_type AS t ON t.oid = p.prorettype
         WHERE p.oid = %s::regprocedure
        """,
        (signature,),
    ).fetchone()
    assert row is not None
    return list(row["cols"])


def test_result_types_match_the_sql_functions(conn: Conn) -> None:
    def fields(cls: type[Any]) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    assert fields(auditor.AuditRun) == _result_columns(conn, "cachemon.run_auditor(timestamptz)")
    assert fields(auditor.Observation) == _result_columns(
        conn, "cachemon.acknowledge_observation(bigint, text, timestamptz)"
    )
    assert fields(auditor.Observation) == _result_columns(
        conn, "cachemon.resolve_observation(bigint, text, text, timestamptz)"
    )
    assert fields(baseline.Baseline) == _result_columns(
        conn, "cachemon.compute_baseline(text, interval, timestamptz)"
    )


def test_cli_baseline_and_audit(conn: Conn, db_url: str) -> None:
    play(conn, [(NEW, 120)], T, seed=0.3)
    runner = CliRunner()
    env = {"CACHEMON_DATABASE_URL": db_url}
    result = runner.invoke(main, ["baseline", "compute", "new", "--window", "100 years"], env=env)
    assert result.exit_code != 0  # more than 400 days: refused by the database
    assert "baseline_window" in str(result.exception) + result.output
    result = runner.invoke(main, ["baseline", "compute", "new", "--window", "1 year"], env=env)
    assert result.exit_code == 0, result.output
    assert "new: baseline #" in result.output and "hit_rate" in result.output
    result = runner.invoke(main, ["baseline", "show"], env=env)
    assert result.exit_code == 0 and "new: baseline #" in result.output
    result = runner.invoke(main, ["audit", "run"], env=env)
    assert result.exit_code == 0 and "evaluated" in result.output
    # The history ended in March 2026, so "now" the baselined implementation is silent.
    result = runner.invoke(main, ["audit", "list"], env=env)
    assert result.exit_code == 0
    line = next(x for x in result.output.splitlines() if "no_data" in x)
    assert line.split()[1:6] == ["open", "critical", "reliability", "new", "no_data"], line
    assert "-> Check that the application serving new is up" in result.output
    listed = runner.invoke(main, ["audit", "list", "--json"], env=env)
    assert [f["rule"] for f in json.loads(listed.output)] == ["no_data"]
    (oid,) = [r["id"] for r in conn.execute("SELECT id FROM cachemon.cache_auditor_observations")]
    result = runner.invoke(main, ["audit", "ack", str(oid), "--by", "dana"], env=env)
    assert result.exit_code == 0 and "acknowledged" in result.output and "dana" in result.output
    result = runner.invoke(main, ["audit", "resolve", str(oid), "--by", "dana", "--json"], env=env)
    assert result.exit_code == 0, result.output
    (resolved,) = json.loads(result.output)
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == "dana"
    result = runner.invoke(main, ["audit", "ack", "999999", "--by", "dana"], env=env)
    assert result.exit_code == 18 and "999999 does not exist" in result.output
    result = runner.invoke(main, ["audit", "ack", "--help"], env=env)
    assert "CACHEMON_USER" in result.output

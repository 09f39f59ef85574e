"""What the CLI prints is safe for a terminal: strings stored in the database (here by the
owner, bypassing every validation) cannot send escape sequences, OSC/BEL, bidi overrides or
rich markup to the terminal; --json stays valid JSON with the same escapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from psycopg.rows import dict_row

from orchestrator.cli import main
from orchestrator.cli.options import parse_window
from orchestrator.cli.output import clean

# Everything PostgreSQL text can hold that a terminal acts on (text cannot hold NUL).
EVIL = (
    "\x1b[31mred\x1b[0m \x1b]0;title\x07 \x1b]8;;http://x\x1b\\link \u202eevil\u202c"
    " \x9b2J [bold]m[/bold] \x7f\r\x08"
)
FORBIDDEN = ["\x1b", "\x07", "\u202e", "\u202c", "\x9b", "\x00", "\x7f", "\r", "\x08"]


def _drop_checks(conn: psycopg.Connection[Any], table: str) -> None:
    """The owner bypasses validation: drop the table's CHECK constraints (throwaway DB)."""
    rows = conn.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'c'",
        (table,),
    ).fetchall()
    for row in rows:
        name = row["conname"] if isinstance(row, dict) else row[0]
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')


def _assert_safe(text: str) -> None:
    for ch in FORBIDDEN:
        assert ch not in text, (repr(ch), text)


def test_clean_escapes_every_control_and_bidi_character() -> None:
    out = clean(EVIL)
    _assert_safe(out)
    assert "\\x1b]0;title\\x07" in out and "\\u202e" in out and "[bold]m[/bold]" in out
    for code in [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029, 0x200B, 0x2066]:
        assert clean(f"a{chr(code)}b") != f"a{chr(code)}b", hex(code)
    assert clean("plain é 中文 ✓") == "plain é 中文 ✓"


def test_database_strings_reach_the_terminal_escaped(db_url: str) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute(
            "SELECT cachemon.ingest_events(%s::jsonb)",
            (
                json.dumps(
                    [
                        {
                            "recorded_at": (now - timedelta(minutes=2)).isoformat(),
                            "implementation_type": "new",
                            "event_type": "hit",
                            "response_time_ms": 1.0,
                        }
                    ]
                ),
            ),
        )
        conn.execute("SELECT * FROM cachemon.tick()")
        for table in (
            "cachemon.cache_metrics_1min",
            "cachemon.cache_metrics_1hour",
            "cachemon.cache_auditor_observations",
        ):
            _drop_checks(conn, table)
        conn.execute(
            "UPDATE cachemon.cache_metrics_1min SET implementation_type = %s", (EVIL[:60],)
        )
        conn.execute(
            "UPDATE cachemon.cache_metrics_1hour SET implementation_type = %s", (EVIL[:60],)
        )
        conn.execute(
            "INSERT INTO cachemon.cache_auditor_observations"
            " (implementation_type, rule, severity, category, status, message, recommendation,"
            "  acknowledged_by)"
            " VALUES (%s, %s, 'critical', 'reliability', 'acknowledged', %s, %s, %s)",
            ("new", EVIL[:40], EVIL, EVIL, EVIL[:100]),
        )
    runner = CliRunner()
    env = {"CACHEMON_DATABASE_URL": db_url}
    for args in (["summary", "--window", "1h"], ["audit", "list", "--status", "all"]):
        result = runner.invoke(main, args, env=env)
        assert result.exit_code == 0, (args, result.output, result.exception)
        _assert_safe(result.output)
        assert "\\x1b" in result.output, result.output  # shown, as an escape
        assert "[bold]" in result.output or args[0] == "summary"  # markup printed literally
        result = runner.invoke(main, [*args, "--json"], env=env)
        assert result.exit_code == 0, result.output
        _assert_safe(result.output)
        rows = json.loads(result.output)
        assert any(EVIL[:40] in str(v) for r in rows for v in r.values())  # exact data


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90m", 5400),
        ("2h", 7200),
        ("14d", 14 * 86400),
        ("30s", 30),
        ("1w", 7 * 86400),
        ("14 days", 14 * 86400),
        ("1 hour 30 minutes", 5400),
        ("01:30:00", 5400),
        ("90", 5400),
        ("1 year", 31557600),
    ],
)
def test_one_window_format(text: str, seconds: int) -> None:
    assert parse_window(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["soon", "", "0m", "-5m", "5 parsecs", "1h tomorrow"])
def test_bad_windows_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"window"):
        parse_window(text)


def test_summary_right_after_a_tick_shows_the_current_minute(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        events = [{"implementation_type": "new", "event_type": "hit", "response_time_ms": 2.0}]
        conn.execute("SELECT cachemon.ingest_events(%s::jsonb)", (json.dumps(events),))
    runner = CliRunner()
    env = {"CACHEMON_DATABASE_URL": db_url}
    assert runner.invoke(main, ["tick"], env=env).exit_code == 0
    # 2m: the current minute and the one before (in case the minute turned since the ingest).
    result = runner.invoke(main, ["summary", "--window", "2m", "--json"], env=env)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["implementation_type"], r["total_events"]) for r in rows] == [("new", 1)]

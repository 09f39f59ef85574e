"""Every CLI command through the failure modes a newcomer meets: one or two lines, a distinct
exit code, no traceback.

Commands run in-process (click's CliRunner) against the session's real cluster; a refused
port is a socket bound on 127.0.0.1 that does not listen. A few run as the installed console
script too, to see what a shell sees (and that --debug does show the traceback).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import click
import psycopg
import pytest
from click.testing import CliRunner, Result

from orchestrator import errors
from orchestrator.cli import main
from tests.conftest import Server

CACHEMON = shutil.which("cachemon", path=str(Path(sys.executable).parent)) or "cachemon"

# Every command that talks to a database, with arguments that are valid apart from the URL.
# A new command must be added here (test_every_command_is_walked fails until it is).
DB_COMMANDS: list[list[str]] = [
    ["db", "upgrade"],
    ["db", "downgrade", "--yes"],
    ["db", "current"],
    ["db", "check"],
    ["tick"],
    ["maintenance"],
    ["summary", "--window", "2h"],
    ["schedule"],
    ["unschedule"],
    ["scheduler"],
    ["audit", "run"],
    ["audit", "list"],
    ["audit", "ack", "1", "--by", "dana"],
    ["audit", "resolve", "1", "--by", "dana"],
    ["baseline", "compute", "new", "--window", "1d"],
    ["baseline", "show"],
    ["watch", "--duration", "1"],
    ["ingest", "{file}"],
    ["verdict"],
    ["dashboard", "--port", "0"],  # fails at start, before it serves
    ["demo", "--database-url", "{url}"],  # the demo takes its URL only from its command line
    ["notify", "receiver", "add", "team", "--kind", "webhook", "--url", "https://example.org/h"],
    ["notify", "receiver", "list"],
    ["notify", "receiver", "drop", "team"],
    ["notify", "route", "add", "--receiver", "team"],
    ["notify", "route", "list"],
    ["notify", "route", "drop", "1"],
    ["notify", "silence", "add", "--match", "rule=x", "--by", "dana", "--comment", "why"],
    ["notify", "silence", "list"],
    ["notify", "silence", "expire", "1", "--by", "dana"],
    ["notify", "deliveries"],
    ["notify", "attempts", "1"],
    ["notify", "log"],
    ["notify", "run", "--once"],
]
# Commands that need no database: covered by their own tests below.
NO_DB_COMMANDS = {"db sql", "local start", "local stop", "local status", "local destroy"}


def _leaf_commands(group: click.Group, prefix: str = "") -> Iterator[str]:
    for name, cmd in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(cmd, click.Group):
            yield from _leaf_commands(cmd, path + " ")
        else:
            yield path


def test_every_command_is_walked() -> None:
    walked = {
        " ".join(a for a in args if not a.startswith("-") and "{" not in a).split(" 1")[0]
        for args in DB_COMMANDS
    }
    walked = {
        " ".join(w.split()[:3])
        if w.split()[0] == "notify" and w.split()[1] in ("receiver", "route", "silence")
        else " ".join(w.split()[:2])
        if w.split()[0] in ("db", "audit", "baseline", "local", "notify")
        else w.split()[0]
        for w in walked
    }
    assert set(_leaf_commands(main)) == walked | NO_DB_COMMANDS


@pytest.fixture(scope="module")
def refused_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections: bound, never listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def _with(
    url: str, *, password: str | None = None, port: int | None = None, dbname: str | None = None
) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    netloc = f"{user}:{password if password is not None else parts.password}"
    netloc += f"@127.0.0.1:{port if port is not None else parts.port}"
    return urlunsplit(parts._replace(netloc=netloc, path="/" + (dbname or parts.path[1:])))


def _invoke(args: list[str], url: str, tmp_path: Path) -> Result:
    events = tmp_path / "events.jsonl"
    events.write_text('{"implementation_type": "new", "event_type": "hit"}\n')
    argv = [a.replace("{file}", str(events)).replace("{url}", url) for a in args]
    env = {
        "CACHEMON_DATABASE_URL": url,
        "DATABASE_URL": "",
        "CACHEMON_DEBUG": "",
        "CACHEMON_LOCAL_DIR": str(tmp_path / "local"),
    }
    return CliRunner().invoke(main, argv, env=env)


def _assert_one_error(result: Result, code: int, *words: str) -> None:
    shown = result.output
    assert result.exit_code == code, (result.exit_code, shown, result.exception)
    # A handled error is a SystemExit with the code; anything else would be a traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in shown and "sqlalche.me" not in shown, shown
    error_lines = [line for line in shown.splitlines() if line.strip()]
    assert 1 <= len(error_lines) <= 3, shown  # `error: ...` and at most a hint (and a note)
    for word in words:
        assert word in shown, (word, shown)


@pytest.mark.parametrize(
    ("mode", "code", "words"),
    [
        ("wrong password", errors.AuthenticationFailed.exit_code, ("password",)),
        ("refused port", errors.DatabaseUnavailable.exit_code, ("refused",)),
        ("unknown database", errors.DatabaseNotFound.exit_code, ("does not exist",)),
        ("not-a-url", errors.BadConfiguration.exit_code, ("not a PostgreSQL URL",)),
        ("mysql url", errors.BadConfiguration.exit_code, ("not a PostgreSQL URL", "mysql")),
    ],
)
def test_connection_failures_are_one_line(
    mode: str,
    code: int,
    words: tuple[str, ...],
    template_url: str,
    refused_port: int,
    tmp_path: Path,
) -> None:
    url = {
        "wrong password": _with(template_url, password="wrong"),
        "refused port": _with(template_url, port=refused_port),
        "unknown database": _with(template_url, dbname="no_such_database"),
        "not-a-url": "not-a-url",
        "mysql url": "mysql://root@127.0.0.1/cachemon",
    }[mode]
    for args in DB_COMMANDS:
        result = _invoke(args, url, tmp_path)
        _assert_one_error(result, code, *words)


def test_commands_before_db_upgrade_say_run_db_upgrade(empty_db_url: str, tmp_path: Path) -> None:
    expected_other = {
        ("db", "upgrade"): 0,  # it installs
        ("db", "downgrade"): 0,  # "not installed: nothing to downgrade"
        ("db", "current"): 0,  # "base (not installed)"
        ("db", "check"): 1,  # behind head
    }
    for args in DB_COMMANDS:
        if args[0] in ("demo", "db"):
            continue  # demo: an empty database is one it accepts (tested in test_demo_safety)
        result = _invoke(args, empty_db_url, tmp_path)
        _assert_one_error(result, errors.NotInstalled.exit_code, "cachemon db upgrade")
    for key, code in expected_other.items():
        if key == ("db", "upgrade"):
            continue
        result = _invoke(
            list(key) + (["--yes"] if key[1] == "downgrade" else []), empty_db_url, tmp_path
        )
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output


def test_permission_denied(pg_server: Server, db_url: str, tmp_path: Path) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS cli_nobody")
        conn.execute("CREATE ROLE cli_nobody LOGIN PASSWORD 'nobody'")
    try:
        parts = urlsplit(db_url)
        url = urlunsplit(parts._replace(netloc=f"cli_nobody:nobody@127.0.0.1:{parts.port}"))
        for args in (
            ["tick"],
            ["summary"],
            ["audit", "list"],
            ["baseline", "show"],
            ["verdict"],
            ["dashboard", "--port", "0"],
        ):
            result = _invoke(args, url, tmp_path)
            _assert_one_error(result, errors.PermissionDenied.exit_code, "permission denied")
    finally:
        pg_server.drop_database(parts.path[1:])
        with pg_server.admin() as admin:
            admin.execute("DROP ROLE IF EXISTS cli_nobody")


def test_bad_revision_and_unknown_finding(db_url: str, tmp_path: Path) -> None:
    for args in (
        ["db", "upgrade", "--revision", "nope"],
        ["db", "downgrade", "--revision", "nope", "--yes"],
    ):
        _assert_one_error(_invoke(args, db_url, tmp_path), errors.NotFound.exit_code, "nope")
    for verb in ("ack", "resolve"):
        result = _invoke(["audit", verb, "424242", "--by", "dana"], db_url, tmp_path)
        _assert_one_error(result, errors.NotFound.exit_code, "424242")
    result = _invoke(["summary", "--window", "soon"], db_url, tmp_path)
    assert result.exit_code == 2 and "not a window" in result.output


def test_downgrade_asks_and_refuses_without_a_terminal(db_url: str, tmp_path: Path) -> None:
    result = _invoke(["db", "downgrade", "--revision", "base"], db_url, tmp_path)
    _assert_one_error(result, errors.Refused.exit_code, "--yes")
    runner = CliRunner()
    env = {"CACHEMON_DATABASE_URL": db_url}
    # CliRunner's stdin is not a terminal either: answering is only possible with a TTY.
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT to_regclass('cachemon.cache_metrics')").fetchone() != (None,)
    result = runner.invoke(main, ["db", "downgrade", "--revision", "base", "--yes"], env=env)
    assert result.exit_code == 0 and "base (not installed)" in result.output


def test_local_commands_without_a_cluster(tmp_path: Path) -> None:
    env = {"CACHEMON_LOCAL_DIR": str(tmp_path / "none")}
    result = CliRunner().invoke(main, ["local", "status"], env=env)
    assert result.exit_code == errors.EXIT_NOT_RUNNING and "no cluster" in result.output
    result = CliRunner().invoke(main, ["local", "status", "--json"], env=env)
    assert json.loads(result.output)["exists"] is False
    result = CliRunner().invoke(main, ["local", "stop"], env=env)
    assert result.exit_code == 0 and "not running" in result.output
    result = CliRunner().invoke(main, ["local", "destroy", "--yes"], env=env)
    assert result.exit_code == 0 and "nothing to remove" in result.output


def _shell(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CACHEMON_DEBUG")}
    return subprocess.run(
        [CACHEMON, *args], capture_output=True, text=True, env={**full, **env}, timeout=120
    )


def test_console_script_one_line_and_debug_traceback(template_url: str) -> None:
    url = _with(template_url, password="wrong")
    proc = _shell("tick", env={"CACHEMON_DATABASE_URL": url})
    assert proc.returncode == errors.AuthenticationFailed.exit_code
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: password authentication failed"), proc.stderr
    proc = _shell("--debug", "tick", env={"CACHEMON_DATABASE_URL": url})
    assert proc.returncode == errors.AuthenticationFailed.exit_code
    assert "Traceback" in proc.stderr and "error: password authentication failed" in proc.stderr
    proc = _shell("tick", env={"CACHEMON_DATABASE_URL": url, "CACHEMON_DEBUG": "1"})
    assert "Traceback" in proc.stderr
    proc = _shell("db", "current", env={"CACHEMON_DATABASE_URL": "not-a-url"})
    assert proc.returncode == errors.BadConfiguration.exit_code and "Traceback" not in proc.stderr

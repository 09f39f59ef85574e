"""``cachemon local``: a PostgreSQL cluster that cachemon runs itself.

``eval "$(cachemon local start)"`` works: stdout carries only the ``export`` line, everything
else goes to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from orchestrator.cli import main
from orchestrator.cli.options import confirm, local_dir_option, yes_option
from orchestrator.cli.output import emit_json, json_option, print_table, say
from orchestrator.errors import EXIT_NOT_RUNNING


@main.group()
def local() -> None:
    """Start, stop and inspect a local PostgreSQL cluster (pg_cron preloaded when installed)."""


@local.command()
@local_dir_option()
def start(root: str) -> None:
    """Create (first time) and start the local cluster; print the URL to export.

    Only the export line goes to stdout, so `eval "$(cachemon local start)"` sets
    CACHEMON_DATABASE_URL in your shell.
    """
    from orchestrator import localpg

    cluster = localpg.start(Path(root))
    say(f"local PostgreSQL running in {cluster.root} (pg_cron: {cluster.pg_cron})", err=True)
    # The URL's password is percent-encoded: it holds no quote, so single quotes suffice.
    click.echo(f"export CACHEMON_DATABASE_URL='{cluster.url()}'")


@local.command()
@local_dir_option()
def stop(root: str) -> None:
    """Stop the local cluster."""
    from orchestrator import localpg

    stopped = localpg.stop(Path(root))
    say("stopped" if stopped else "not running")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


@local.command()
@local_dir_option()
@json_option()
def status(root: str, as_json: bool) -> None:
    """Whether the local cluster runs, its URL and its databases (cachemon's, the demo's);
    exit 3 when it does not run."""
    from orchestrator import localpg

    info = localpg.status(Path(root))
    if as_json:
        emit_json(info)
    elif not info.exists:
        say(f"no cluster in {root}")
    else:
        say(
            f"{'running' if info.running else 'stopped'}: {info.root} "
            f"(port {info.port}, pg_cron {'yes' if info.pg_cron else 'no'}, "
            f"{_size(info.folder_bytes)} on disk)"
        )
        if info.databases:
            print_table(
                [
                    ("name", "database"),
                    ("cachemon_revision", "cachemon schema"),
                    ("demo", "demo"),
                    ("size", "size"),
                    ("url", "url"),
                ],
                [
                    {
                        "name": d.name,
                        "cachemon_revision": d.cachemon_revision or "not installed",
                        "demo": d.demo,
                        "size": _size(d.size_bytes),
                        "url": d.url,
                    }
                    for d in info.databases
                ],
            )
    if not info.running:
        sys.exit(EXIT_NOT_RUNNING)


@local.command()
@local_dir_option()
@yes_option("deleting the folder")
def destroy(root: str, assume_yes: bool) -> None:
    """Stop the local cluster and delete its folder (every database in it)."""
    from orchestrator import localpg

    path = Path(root)
    if localpg.load(path) is None and not path.exists():
        say(f"nothing to remove: no cluster in {root}")
        return
    size = _size(localpg.folder_size(path))
    confirm(f"delete {root} ({size}) with every database in it?", assume_yes)
    localpg.destroy(path)
    say(f"removed {root} ({size})")

"""``cachemon ingest FILE``: load exported events (JSON Lines or CSV)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from orchestrator.cli import main
from orchestrator.cli.options import database_url_option
from orchestrator.cli.output import Progress, emit_json, json_option, say, say_data
from orchestrator.errors import CachemonError

SHOWN_REJECTIONS = 50


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@database_url_option()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "jsonl", "csv"]),
    default="auto",
    show_default=True,
    envvar="CACHEMON_INGEST_FORMAT",
    show_envvar=True,
    help="File format; auto: csv for *.csv, else JSON Lines.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=5000,
    show_default=True,
    envvar="CACHEMON_INGEST_BATCH_SIZE",
    show_envvar=True,
    help="Events per batch (transaction).",
)
@click.option(
    "--key-mode",
    type=click.Choice(["full", "hash", "none"]),
    default="full",
    show_default=True,
    envvar="CACHEMON_INGEST_KEY_MODE",
    show_envvar=True,
    help="What of cache_key to store (exported keys are usually already in stored form).",
)
@json_option()
def ingest(
    file: Path, database_url: str, fmt: str, batch_size: int, key_mode: str, as_json: bool
) -> None:
    """Load cache events from FILE (JSON Lines or CSV with a header row).

    Fields: implementation_type, event_type (required); recorded_at (ISO 8601 or epoch
    seconds; default now), cache_key, response_time_ms, cache_size, error_type, error_message.
    Loading the same file twice stores nothing twice. Exits 1 when lines were rejected.
    """
    from orchestrator.collector.files import ingest_file

    size = file.stat().st_size
    try:
        with Progress(f"ingesting {file.name}", total=size) as bar:
            report = ingest_file(
                file,
                database_url,
                fmt=fmt,
                batch_size=batch_size,
                key_mode=key_mode,
                progress=bar.advance,
            )
    except CachemonError as exc:
        exc.hint = (exc.hint + "; " if exc.hint else "") + (
            "nothing is stored twice: run the same command again to finish"
        )
        raise
    if as_json:
        emit_json(
            {
                "file": str(file),
                "accepted": report.accepted,
                "stored": report.stored,
                "rejected": [{"line": n, "reason": r} for n, r in report.rejected],
            }
        )
        if report.rejected:
            sys.exit(1)
        return
    for number, reason in report.rejected[:SHOWN_REJECTIONS]:
        say_data(f"{file}:{number}: rejected: {reason}", err=True)
    if len(report.rejected) > SHOWN_REJECTIONS:
        say(f"... and {len(report.rejected) - SHOWN_REJECTIONS} more", err=True)
    already = report.accepted - report.stored
    say(
        f"accepted {report.accepted} lines ({report.stored} stored now"
        + (f", {already} already stored" if already else "")
        + f"), rejected {len(report.rejected)} lines"
    )
    if report.rejected:
        sys.exit(1)

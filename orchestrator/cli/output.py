"""How the CLI prints: rich tables and progress bars, ``--json``, errors, terminal safety.

Every string that comes from the database (or from any file or user) goes through
``clean()`` before it reaches the terminal: control characters (C0, DEL, C1, so ESC, OSC, BEL,
CR...), bidi controls and other invisible format characters are shown as ``\\xNN`` /
``\\uNNNN`` escapes. Rich markup is off for data: consoles are made with ``markup=False``,
cells are ``rich.text.Text`` objects, and no data string is ever parsed for ``[...]`` tags.
``--json`` output is ``json.dumps`` with ``ensure_ascii=True``, which escapes the same
characters by itself.

A new command: ``@json_option()``; build a list of dicts (or dataclasses); then
``emit_json(rows)`` when ``as_json`` else ``print_table(...)`` / ``print_record(...)``. Raise
``orchestrator.errors`` classes (or let psycopg/Alembic errors through): ``main`` maps them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import click

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

F = TypeVar("F", bound=Callable[..., Any])

SEVERITY_STYLES = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
STATUS_STYLES = {"open": "bold", "acknowledged": "magenta", "resolved": "green"}

# Bidi embedding/override/isolate controls and marks (also category Cf, listed for clarity).
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def _unsafe(ch: str) -> bool:
    if ch in _BIDI:
        return True
    cat = unicodedata.category(ch)
    # Cc: C0, DEL, C1 controls; Cf: format (zero-width, bidi); Zl/Zp: line/paragraph separators.
    return cat in ("Cc", "Cf", "Zl", "Zp")


def clean(value: object) -> str:
    """``value`` as text that cannot drive the terminal: unsafe characters become escapes."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable() and not any(ch in _BIDI for ch in text):
        return text
    out = []
    for ch in text:
        if _unsafe(ch):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


_consoles: dict[bool, Console] = {}


def console(stderr: bool = False) -> Console:
    """The rich console for stdout (or stderr): markup, emoji and highlighting off."""
    found = _consoles.get(stderr)
    if found is None or found.file is not (sys.stderr if stderr else sys.stdout):
        from rich.console import Console

        file = sys.stderr if stderr else sys.stdout
        width = None  # a terminal: its width
        if not (hasattr(file, "isatty") and file.isatty()):
            # A pipe or a file: wide enough that tables are not squeezed or wrapped.
            width = int(os.environ.get("COLUMNS", "0") or 0) or 200
        found = Console(
            file=file,
            width=width,
            markup=False,
            emoji=False,
            highlight=False,
            soft_wrap=False,
        )
        _consoles[stderr] = found
    return found


def say(text: object = "", *, err: bool = False) -> None:
    """One line of program text (not data) to stdout or stderr, without markup."""
    click.echo(text if isinstance(text, str) else str(text), err=err)


def say_data(text: object, *, err: bool = False) -> None:
    """Lines holding data from the database: each escaped (the newlines between them kept)."""
    click.echo("\n".join(clean(line) for line in str(text).split("\n")), err=err)


# -- --json ---------------------------------------------------------------------------------


def json_option() -> Callable[[F], F]:
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        envvar="CACHEMON_JSON",
        show_envvar=True,
        help="Print JSON (one document on stdout) instead of a table.",
    )


def _json_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_json(value: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=True, indent=2)


def emit_json(value: Any) -> None:
    click.echo(to_json(value))


# -- tables ---------------------------------------------------------------------------------


def fmt(value: Any) -> str:
    """A cell: numbers aligned to a few decimals, times in UTC to the second, ``-`` for none."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, list | tuple):
        return ", ".join(clean(v) for v in value) or "-"
    return clean(value)


def cell(value: Any, style: str | None = None) -> Text:
    from rich.text import Text

    return Text(fmt(value), style=style or "")


def print_table(
    columns: Sequence[tuple[str, str]],
    rows: Iterable[dict[str, Any] | Any],
    *,
    title: str | None = None,
    styles: dict[str, Callable[[Any], str | None]] | None = None,
) -> None:
    """``columns``: (field, heading) pairs; numbers right-aligned; ``styles`` per field, e.g.
    severity colours. Every cell is escaped (``clean``) and rendered without markup."""
    from rich import box
    from rich.table import Table

    table = Table(title=clean(title) if title else None, box=box.SIMPLE_HEAD, title_justify="left")
    materialised = [r if isinstance(r, dict) else dataclasses.asdict(r) for r in rows]
    for name, heading in columns:
        numeric = (
            bool(materialised)
            and all(
                (
                    isinstance(r.get(name), int | float | Decimal)
                    and not isinstance(r.get(name), bool)
                )
                or r.get(name) is None
                for r in materialised
            )
            and any(r.get(name) is not None for r in materialised)
        )
        table.add_column(heading, justify="right" if numeric else "left", no_wrap=not numeric)
    for r in materialised:
        table.add_row(
            *(
                cell(r.get(name), (styles or {}).get(name, lambda _v: None)(r.get(name)))
                for name, _ in columns
            )
        )
    console().print(table)


def print_record(obj: Any) -> None:
    """A dataclass (or dict) as ``name  value`` lines."""
    data = obj if isinstance(obj, dict) else dataclasses.asdict(obj)
    width = max((len(k) for k in data), default=0)
    for key, value in data.items():
        click.echo(f"{key:<{width}}  {fmt(value)}")


def severity_style(value: Any) -> str | None:
    return SEVERITY_STYLES.get(str(value))


def status_style(value: Any) -> str | None:
    return STATUS_STYLES.get(str(value))


# -- progress -------------------------------------------------------------------------------


class Progress:
    """A rich progress bar on stderr (nothing when stderr is not a terminal)."""

    def __init__(self, description: str, total: float | None) -> None:
        from rich.progress import (
            BarColumn,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self._progress = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeRemainingColumn(),
            console=console(stderr=True),
            transient=False,
            disable=not sys.stderr.isatty(),
        )
        self._task = self._progress.add_task(clean(description), total=total)

    def __enter__(self) -> Progress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def finish(self) -> None:
        """Stop drawing (idempotent): later output goes below the finished bar."""
        if self._progress.live.is_started:
            self._progress.stop()

    @property
    def enabled(self) -> bool:
        return not self._progress.disable

    def set_total(self, total: float | None) -> None:
        self._progress.update(self._task, total=total)

    def advance(self, amount: float = 1) -> None:
        self._progress.advance(self._task, amount)

    def update(self, completed: float | None = None, description: str | None = None) -> None:
        self._progress.update(
            self._task,
            completed=completed,
            description=clean(description) if description else None,
        )


# -- errors ---------------------------------------------------------------------------------


def report_error(exc: BaseException, *, debug: bool = False) -> int:
    """Print ``exc`` as one or two lines on stderr; return the exit code."""
    from orchestrator import errors

    mapped = errors.translate(exc)
    if type(mapped) is errors.CachemonError and not isinstance(exc, errors.CachemonError):
        # Not an error we know: a bug. Say so in one line; --debug shows the traceback.
        click.echo(f"error: unexpected {clean(mapped.message)}", err=True)
        if not debug:
            click.echo(
                "  this is a bug in cachemon: rerun with --debug (or CACHEMON_DEBUG=1) "
                "and report the traceback",
                err=True,
            )
        return errors.EXIT_UNEXPECTED
    click.echo(f"error: {clean(mapped.message)}", err=True)
    if mapped.hint:
        click.echo(f"  {clean(mapped.hint)}", err=True)
    return mapped.exit_code

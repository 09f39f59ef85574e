"""Options shared by commands: each can come from a ``CACHEMON_*`` environment variable.

``--window`` has one format everywhere (``parse_window``): ``90m``, ``2h``, ``14d``, ``30s``,
``1w``, or a PostgreSQL interval such as ``14 days``, ``1 hour 30 minutes`` or ``01:30:00``.
A month counts 30 days and a year 365.25 days (as PostgreSQL's ``EXTRACT(EPOCH ...)``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

_UNITS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
    # As PostgreSQL's EXTRACT(EPOCH FROM interval) counts them: a month is 30 days, a year
    # 365.25 days.
    "mon": 2592000,
    "mons": 2592000,
    "month": 2592000,
    "months": 2592000,
    "y": 31557600,
    "year": 31557600,
    "years": 31557600,
}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*")
_CLOCK = re.compile(r"^\s*(\d+):(\d{1,2})(?::(\d{1,2}(?:\.\d+)?))?\s*$")


def parse_window(text: str) -> timedelta:
    """A window: ``90m``, ``2h``, ``14d``, ``1 hour 30 minutes``, ``01:30:00`` (a bare number:
    minutes). Raises ``ValueError`` with the accepted forms."""
    raw = text
    text = text.strip().lower()
    problem = (
        f"{raw!r} is not a window: use a number and a unit (90m, 2h, 14d, 30s, 1w) or a "
        "PostgreSQL interval such as '14 days' or '01:30:00'"
    )
    seconds = 0.0
    clock = _CLOCK.match(text)
    if clock:
        h, m, s = clock.groups()
        seconds = int(h) * 3600 + int(m) * 60 + float(s or 0)
    elif re.fullmatch(r"\d+(?:\.\d+)?", text):
        seconds = float(text) * 60
    else:
        pos = 0
        matched = False
        while pos < len(text):
            m = _PART.match(text, pos)
            if not m or m.group(2) not in _UNITS:
                raise ValueError(problem)
            seconds += float(m.group(1)) * _UNITS[m.group(2)]
            pos = m.end()
            matched = True
        if not matched:
            raise ValueError(problem)
    if seconds <= 0:
        raise ValueError(f"{raw!r}: a window must be longer than zero")
    if seconds > 10_000 * 31557600:
        raise ValueError(f"{raw!r}: a window is at most 10,000 years")
    return timedelta(seconds=seconds)


class WindowType(click.ParamType):  # type: ignore[type-arg]
    """Click type of every ``--window``: see ``parse_window``."""

    name = "WINDOW"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_window(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


WINDOW = WindowType()


def window_option(default: str, envvar: str, help_text: str) -> Callable[[F], F]:
    return click.option(
        "--window",
        type=WINDOW,
        default=default,
        show_default=True,
        envvar=envvar,
        show_envvar=True,
        help=help_text + " Forms: 90m, 2h, 14d, or a PostgreSQL interval ('14 days').",
    )


def check_database_url(value: str | None) -> str | None:
    """Reject a URL that is not PostgreSQL's before anything connects (``BadConfiguration``,
    exit code 11, whether the URL came from the flag or the environment)."""
    if not value:
        return value
    from orchestrator.errors import check_url

    return check_url(value)


def database_url_option(required: bool = True) -> Callable[[F], F]:
    """``--database-url`` from the flag, ``CACHEMON_DATABASE_URL`` or ``DATABASE_URL``."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        value = value or os.environ.get("DATABASE_URL")
        if required and not value:
            raise click.UsageError(
                "no database URL: pass --database-url or set CACHEMON_DATABASE_URL "
                "(or DATABASE_URL); `cachemon local start` prints one"
            )
        return check_database_url(value)

    return click.option(
        "--database-url",
        envvar="CACHEMON_DATABASE_URL",
        show_envvar=True,
        callback=callback,
        help="PostgreSQL URL (falls back to DATABASE_URL).",
    )


def _default_local_dir() -> str:
    from orchestrator.localpg import default_root  # psycopg: not at import time

    return str(default_root())


def local_dir_option() -> Callable[[F], F]:
    return click.option(
        "--dir",
        "root",
        envvar="CACHEMON_LOCAL_DIR",
        show_envvar=True,
        type=click.Path(file_okay=False, path_type=str),
        default=_default_local_dir,
        show_default="user data folder (root: /var/lib/cachemon/local)",
        help="Folder of the local cluster.",
    )


def yes_option(what: str) -> Callable[[F], F]:
    return click.option(
        "--yes",
        "-y",
        "assume_yes",
        is_flag=True,
        # Deliberately no environment variable: a destructive step is confirmed on the
        # command line that runs it, never by a variable exported long ago.
        help=f"Do not ask before {what} (needed without a terminal).",
    )


def confirm(question: str, assume_yes: bool) -> None:
    """Ask ``question`` on the terminal; without one (and without --yes) refuse."""
    import sys

    from orchestrator.errors import Refused

    if assume_yes:
        return
    if not sys.stdin.isatty():
        raise Refused(
            f"{question.rstrip('?')}: not confirmed", "pass --yes to confirm (no terminal)"
        )
    if not click.confirm(question, default=False, err=True):
        raise Refused("cancelled: nothing changed")

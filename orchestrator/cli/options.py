"""Options shared by commands: each can come from a ``CACHEMON_*`` environment variable."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def database_url_option(required: bool = True) -> Callable[[F], F]:
    """``--database-url`` from the flag, ``CACHEMON_DATABASE_URL`` or ``DATABASE_URL``."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        value = value or os.environ.get("DATABASE_URL")
        if required and not value:
            raise click.UsageError(
                "no database URL: pass --database-url or set CACHEMON_DATABASE_URL "
                "(or DATABASE_URL); `cachemon local start` prints one"
            )
        return value

    return click.option(
        "--database-url",
        envvar="CACHEMON_DATABASE_URL",
        show_envvar=True,
        callback=callback,
        help="PostgreSQL URL (falls back to DATABASE_URL).",
    )


def local_dir_option() -> Callable[[F], F]:
    from orchestrator.localpg import default_root

    return click.option(
        "--dir",
        "root",
        envvar="CACHEMON_LOCAL_DIR",
        show_envvar=True,
        type=click.Path(file_okay=False, path_type=str),
        default=lambda: str(default_root()),
        show_default="user data folder (root: /var/lib/cachemon/local)",
        help="Folder of the local cluster.",
    )

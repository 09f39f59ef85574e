"""The main job of the README: a database to play on, at head."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from orchestrator import dbversions, localpg
from orchestrator.migrations import database_url


def prepare_database(
    url: str | None = None, root: Path | None = None, say: Callable[[str], None] = print
) -> str:
    """The URL to use: ``url`` or the environment's, else a local cluster started here.

    The database is upgraded to head either way.
    """
    url = database_url(url)
    if not url:
        root = root or localpg.default_root()
        say(f"starting local PostgreSQL in {root} ...")
        url = localpg.start(root).url()
    say("upgrading the cachemon schema ...")
    dbversions.upgrade(url)
    say(f"cachemon schema at {', '.join(dbversions.current(url))}")
    return url

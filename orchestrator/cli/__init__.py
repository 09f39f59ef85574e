"""The ``cachemon`` command line: thin wrappers over importable functions and SQL functions.

Each command group lives in its own module and registers itself on ``main``.
"""

from __future__ import annotations

import click

from orchestrator import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="cachemon")
def main() -> None:
    """cachemon: cache-metrics monitoring that lives in PostgreSQL."""


# Command modules register themselves on ``main`` when imported.
from orchestrator.cli import (  # noqa: E402, F401
    audit,
    baseline,
    db,
    demo,
    ingest,
    local,
    rollup,
    verdict,
    watch,
)

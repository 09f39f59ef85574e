"""The ``cachemon`` command line: thin wrappers over importable functions and SQL functions.

Each command group lives in its own module and registers itself on ``main``. Errors: every
exception leaving a command goes through ``orchestrator.errors.translate`` (the one mapping
place) and is printed as one or two lines on stderr with the error's exit code; ``--debug``
(or ``CACHEMON_DEBUG=1``) prints the traceback as well. Modules import Alembic, SQLAlchemy and
the collector inside the commands that need them, so ``cachemon --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

import click

from orchestrator import __version__


def _debug_requested(ctx: click.Context) -> bool:
    root = ctx.find_root()
    if root.params.get("debug"):
        return True
    return os.environ.get("CACHEMON_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


class CachemonGroup(click.Group):
    """A click group that turns every error into a sentence and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            from orchestrator.cli.output import report_error

            code = report_error(exc, debug=_debug_requested(ctx))
            if _debug_requested(ctx):
                traceback.print_exception(exc, file=sys.stderr)
            ctx.exit(code)


@click.group(
    cls=CachemonGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="cachemon")
@click.option(
    "--debug",
    is_flag=True,
    envvar="CACHEMON_DEBUG",
    show_envvar=True,
    help="On an error, print the Python traceback too.",
)
def main(debug: bool) -> None:
    """cachemon: cache-metrics monitoring that lives in PostgreSQL.

    Errors print one line saying what is wrong and what to do, and exit with a distinct
    code (README, "Exit codes").
    """


# Command modules register themselves on ``main`` when imported.
from orchestrator.cli import (  # noqa: E402, F401
    audit,
    baseline,
    dashboard,
    db,
    demo,
    ingest,
    local,
    notify,
    rollup,
    verdict,
    watch,
)

"""Every live collector of the process: a forked child starts each afresh (no parent events,
connection or spool lock), and the process flushes each at exit."""

from __future__ import annotations

import atexit
import logging
import os
import weakref
from typing import Any

log = logging.getLogger("cachemon.collector")

# Collector instances (typed Any: this module sits below collector.py, which it must not import).
live: weakref.WeakSet[Any] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for collector in list(live):
        collector._after_fork_in_child()


def _stop_all_at_exit() -> None:
    for collector in list(live):
        if collector._thread is not None:
            try:
                collector.stop()
            except Exception:  # exiting: report, never raise
                log.exception("cachemon collector: flush at exit failed")


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_stop_all_at_exit)

"""What the collector says when it cannot store events, and how fast it retries.

One error state per collector. An error a human must fix (``CachemonError.permanent``: wrong
password, unknown database, schema not installed, missing privilege) is logged once at ERROR
with the fix; the flusher then retries at ``permanent_retry_delay`` without logging again until
the error changes or goes away. A transient error (connection refused or lost) is logged once
per outage at WARNING; the end of an outage is logged at INFO with how long it lasted.
"""

from __future__ import annotations

import logging
import time

from orchestrator.errors import CachemonError

log = logging.getLogger("cachemon.collector")


def describe(exc: BaseException) -> str:
    """``Class: message; what to do`` for an error the collector met."""
    return f"{type(exc).__name__}: {exc}"


class Health:
    """The error state of one collector (used by the flusher thread only)."""

    def __init__(self) -> None:
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.failing_since: float | None = None
        self.permanent = False
        self.failures = 0  # failed attempts in the current outage
        self._logged: str | None = None

    def failed(self, exc: BaseException, *, retry_in: float | None = None) -> None:
        """Note a failed attempt; log it when it is news (a new outage or a different error)."""
        now = time.time()
        text = describe(exc)
        self.last_error, self.last_error_at = text, now
        if self.failing_since is None:
            self.failing_since = now
        self.failures += 1
        self.permanent = isinstance(exc, CachemonError) and exc.permanent
        if text == self._logged:
            log.debug("cachemon collector: still failing (%d attempts): %s", self.failures, text)
            return
        self._logged = text
        pace = f"; retrying every {retry_in:.0f} s" if retry_in else ""
        if self.permanent:
            log.error(
                "cachemon collector cannot store events until this is fixed: %s%s "
                "(events wait in the buffer%s)",
                text,
                pace,
                " and the spool" if retry_in else "",
            )
        else:
            log.warning("cachemon collector: %s (retrying with backoff)", text)

    def rejected(self, exc: BaseException) -> None:
        """The database refused events as invalid: an error of the data, not an outage."""
        self.last_error, self.last_error_at = describe(exc), time.time()

    def succeeded(self) -> None:
        if self.failing_since is not None:
            log.info(
                "cachemon collector: storing again after %d failed attempts over %.0f s",
                self.failures,
                time.time() - self.failing_since,
            )
        self.failing_since = None
        self.permanent = False
        self.failures = 0
        self._logged = None

    def reason(self) -> str:
        """Why events are not stored now (for the message at stop)."""
        return self.last_error or "the database did not answer in time"

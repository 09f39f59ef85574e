"""``CollectorStats``: what a collector did and whether it can store events now."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class CollectorStats:
    """What a collector has done since it was created (or since a fork, in the child).

    ``get_collector_stats()`` and ``Collector.stats()`` return this type. ``stats["sent"]``
    also works (dict-style reads), and ``as_dict()`` gives a plain dict (e.g. for JSON).
    """

    collected: int  # events recorded (accepted by validation)
    sent: int  # events stored in the database (including by an earlier, unacknowledged try)
    batches_sent: int  # batches stored
    failed_attempts: int  # batch attempts that failed and will be retried
    dropped: int  # events discarded: buffer full without a spool, or unsent at stop()
    rejected: int  # events the database refused as invalid (kept in spool_dir/rejected)
    buffered: int  # events in memory now
    spooled: int  # events in spool files now, waiting for replay
    spooled_total: int  # events ever written to the spool by this process
    replayed: int  # events found in spool files left by earlier processes
    quarantined_lines: int  # spool lines set aside as malformed (in spool_dir/quarantine)
    quarantined_files: int  # spool-named entries moved aside: links, FIFOs, others' files
    connected: bool  # the last attempt reached the server and logged in (or a session is open)
    last_error: str | None  # the latest error, with what to do about it
    last_error_at: float | None  # epoch seconds of the latest error
    failing_since: float | None  # epoch seconds of the first error of the current outage;
    # None when the last attempt succeeded (or none was made)
    error_is_permanent: bool  # the current error needs a human (password, schema, privilege)
    last_flush_at: float | None  # epoch seconds of the last stored batch

    @property
    def healthy(self) -> bool:
        """No outage now: the last attempt to store succeeded (or nothing was tried yet)."""
        return self.failing_since is None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __getitem__(self, name: str) -> Any:
        """Dict-style reads (``stats["sent"]``), as ``get_collector_stats()`` once returned."""
        if name not in self.__dataclass_fields__:
            raise KeyError(name)
        return getattr(self, name)

"""The on-disk spool: append-only files of batches that could not be sent (yet).

``CACHE_METRICS_SPOOL_DIR`` holds files ``<time_ns>-<pid>-<random>.spool``. Each line is one
batch, ``{"batch_id": ..., "events": [[...], ...]}``, with keys already in stored form (a
hashed key never reaches the disk in clear). A file is only ever appended to, by the one
process that holds an exclusive ``flock`` on it; lines are written with one unbuffered
``write`` each, so a crash leaves at most a torn last line, which replay ignores.

Replay (on reconnect, and at the start of any process using the folder) takes the files no
live process holds, oldest first, sends each batch with its recorded id (so a batch sent twice
is stored once) and deletes the file. Batches the database refuses as invalid are moved to
``rejected/`` with the error.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.collector.events import Event

SUFFIX = ".spool"


@dataclass
class SpoolFile:
    """A spool file this process may replay; ``fd`` is set while this process holds its lock."""

    path: Path
    fd: int | None = None
    events: int = 0
    own: bool = False
    sealed: bool = False
    lines: int = field(default=0)


def _line(batch_id: uuid.UUID, events: Sequence[Event]) -> bytes:
    return (
        json.dumps(
            {"batch_id": str(batch_id), "events": [list(e) for e in events]},
            separators=(",", ":"),
            ensure_ascii=False,
        )
        + "\n"
    ).encode("utf-8", "surrogatepass")


class Spool:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "rejected").mkdir(exist_ok=True)

    def new_file(self) -> SpoolFile:
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return SpoolFile(path, fd, own=True)

    def append(self, spool_file: SpoolFile, batch_id: uuid.UUID, events: Sequence[Event]) -> None:
        assert spool_file.fd is not None and not spool_file.sealed
        data = _line(batch_id, events)
        view = memoryview(data)
        while view:
            written = os.write(spool_file.fd, view)
            view = view[written:]
        spool_file.events += len(events)
        spool_file.lines += 1

    def sync(self, spool_file: SpoolFile) -> None:
        if spool_file.fd is not None:
            with contextlib.suppress(OSError):
                os.fsync(spool_file.fd)

    def claim_foreign(self, known: set[Path]) -> list[SpoolFile]:
        """Spool files no live process holds (oldest first), locked for this process."""
        claimed = []
        for path in sorted(self.directory.glob("*" + SUFFIX)):
            if path in known:
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            if not path.exists():  # replayed and removed by another process meanwhile
                os.close(fd)
                continue
            entry = SpoolFile(path, fd, sealed=True)
            entry.events = sum(len(events) for _, events in self.read(entry))
            claimed.append(entry)
        return claimed

    def read(self, spool_file: SpoolFile) -> list[tuple[uuid.UUID, list[Event]]]:
        """The complete batches of a file; a torn last line (a crash mid-write) is skipped."""
        batches = []
        with open(spool_file.path, "rb") as fh:
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break
                try:
                    record: dict[str, Any] = json.loads(raw)
                    events: list[Event] = [tuple(e) for e in record["events"]]
                    batches.append((uuid.UUID(record["batch_id"]), events))
                except (ValueError, KeyError, TypeError):
                    continue
        return batches

    def remove(self, spool_file: SpoolFile) -> None:
        with contextlib.suppress(FileNotFoundError):
            spool_file.path.unlink()
        self.release(spool_file)

    def release(self, spool_file: SpoolFile) -> None:
        fd, spool_file.fd = spool_file.fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)  # unbuffered: closing writes nothing, and frees the lock

    def reject(self, batch_id: uuid.UUID, events: Sequence[Event], error: str) -> Path:
        """Keep a batch the database refused as invalid, with the reason, for a human."""
        path = self.directory / "rejected" / f"{time.time_ns():020d}-{batch_id}.json"
        payload = {"batch_id": str(batch_id), "error": error, "events": [list(e) for e in events]}
        path.write_text(json.dumps(payload, ensure_ascii=False) + "\n")
        return path

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

Anyone who can write the folder can hand events to the collector, so the folder and every
file are checked before anything is read:

- the folder must be a directory owned by the collector's user that neither its group nor
  others may write; otherwise the spool is refused (``Spool.open`` returns None, the reason
  is logged once at ERROR) and the collector runs as without one;
- a spool file is opened with ``O_NOFOLLOW | O_NONBLOCK`` (a symbolic link fails, a FIFO
  does not block) and read only when it is a regular file owned by the collector's user;
  anything else is moved to ``quarantine/`` and logged once;
- a line that is not a batch of well-formed events (wrong shape, wrong types, longer than
  ``MAX_LINE_BYTES``, or not JSON) is copied to ``quarantine/<file>.lines`` and counted
  (``CollectorStats.quarantined_lines``); the file's other batches are replayed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import stat
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.collector.events import (
    Event,
    check_cache_size,
    check_error,
    check_event_type,
    check_implementation_type,
    check_response_time,
)

SUFFIX = ".spool"
QUARANTINE = "quarantine"
# The longest line replay parses. A longer line is copied whole to quarantine/ in 1 MiB pieces
# (never held in memory at once) and counted; the flusher writes one line per spooled buffer,
# about 100 bytes an event, so a line this long would hold some 600,000 events.
MAX_LINE_BYTES = 64 * 1024 * 1024
# recorded_at in epoch seconds that the COPY encoding can carry (microseconds in an int64);
# the database refuses times outside its accepted range with a clear error.
_MAX_EPOCH = 9.0e12

log = logging.getLogger("cachemon.collector")


class SpoolLineError(ValueError):
    """A spool line that is not a batch of well-formed events."""


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


def _optional_text(name: str, value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise SpoolLineError(f"{name} must be a string or null, got {type(value).__name__}")


def parse_event(raw: object) -> Event:
    """One spooled event, checked against the rules ``record`` applied when it was taken."""
    if not isinstance(raw, list) or len(raw) != 8:
        raise SpoolLineError("an event must be a list of 8 fields")
    t, event_type, impl, key, rt, size, err_type, err_msg = raw
    if isinstance(t, bool) or not isinstance(t, int | float):
        raise SpoolLineError(f"recorded_at must be epoch seconds, got {type(t).__name__}")
    if not math.isfinite(t) or abs(t) > _MAX_EPOCH:
        raise SpoolLineError(f"recorded_at out of range: {t!r}")
    try:
        event_type = check_event_type(event_type)
        impl = check_implementation_type(impl)
        key = _optional_text("cache_key", key)
        rt = None if rt is None else check_response_time(rt)
        size = None if size is None else check_cache_size(size)
        if err_type is not None:
            err_type, err_msg = check_error(err_type, err_msg)
        elif err_msg is not None:
            raise SpoolLineError("error_message without error_type")
    except SpoolLineError:
        raise
    except ValueError as exc:
        raise SpoolLineError(str(exc)) from exc
    return (float(t), event_type, impl, key, rt, size, err_type, err_msg)


def parse_line(raw: bytes) -> tuple[uuid.UUID, list[Event]]:
    """A spool line as (batch id, events), or ``SpoolLineError`` saying what is wrong."""
    try:
        record: Any = json.loads(raw)
    except ValueError as exc:
        raise SpoolLineError(f"not JSON: {exc}") from exc
    if not isinstance(record, dict) or set(record) != {"batch_id", "events"}:
        raise SpoolLineError('a line must be an object with keys "batch_id" and "events"')
    if not isinstance(record["batch_id"], str):
        raise SpoolLineError("batch_id must be a UUID string")
    try:
        batch_id = uuid.UUID(record["batch_id"])
    except ValueError as exc:
        raise SpoolLineError(f"batch_id is not a UUID: {exc}") from exc
    if not isinstance(record["events"], list) or not record["events"]:
        raise SpoolLineError("events must be a non-empty list")
    return batch_id, [parse_event(e) for e in record["events"]]


def folder_problem(directory: Path) -> str | None:
    """Why ``directory`` cannot be trusted as a spool folder, or None."""
    try:
        st = os.stat(directory)
    except OSError as exc:
        return f"cannot inspect it: {exc}"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a directory"
    if st.st_uid != os.geteuid():
        return (
            f"it is owned by uid {st.st_uid}, not by this process's user (uid {os.geteuid()});"
            " whoever owns it can plant events"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return (
            f"its mode {stat.S_IMODE(st.st_mode):04o} lets its group or others write it, so they"
            " could plant events; chmod go-w it (0700 is best)"
        )
    return None


class Spool:
    """A checked spool folder. Build it with ``Spool.open`` (None when it is refused)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.quarantined_lines = 0
        self.quarantined_files = 0
        self._reported: set[str] = set()

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> Spool | None:
        """The spool in ``directory`` (created 0700 if missing), or None when the folder is
        unsafe; the reason is logged at ERROR."""
        path = Path(directory)
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            log.error("cachemon collector: spool folder %s refused: %s", path, exc)
            return None
        spool = cls(path)
        problem = spool.problem()
        if problem is not None:
            log.error(
                "cachemon collector: spool folder %s refused: %s; running without a spool",
                path,
                problem,
            )
            return None
        return spool

    def problem(self) -> str | None:
        """Why the folder (or one of its subfolders) cannot be trusted now, or None."""
        problem = folder_problem(self.directory)
        if problem is not None:
            return problem
        for sub in ("rejected", QUARANTINE):
            path = self.directory / sub
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                pass
            except OSError as exc:
                return f"cannot create {sub}/: {exc}"
            if path.is_symlink():
                return f"{sub}/ is a symbolic link"
            problem = folder_problem(path)
            if problem is not None:
                return f"{sub}/: {problem}"
        return None

    def _report(self, key: str, message: str, *args: object) -> None:
        """Log a problem once per spool and key (a file, a reason), never on every pass."""
        if key in self._reported:
            return
        if len(self._reported) < 10_000:
            self._reported.add(key)
        log.warning(message, *args)

    def new_file(self) -> SpoolFile:
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        path = self.directory / name
        fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL | os.O_NOFOLLOW, 0o600
        )
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

    def _open_checked(self, path: Path) -> int:
        """An fd for reading ``path``: no link followed, no blocking open, a regular file of
        this user; else ``OSError``/``SpoolLineError`` saying why."""
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise SpoolLineError("not a regular file")
            if st.st_uid != os.geteuid():
                raise SpoolLineError(f"owned by uid {st.st_uid}, not by uid {os.geteuid()}")
        except BaseException:
            os.close(fd)
            raise
        return fd

    def quarantine_file(self, path: Path, reason: str) -> None:
        """Move a file that is no spool file of ours out of the way (the link itself, never
        its target), so replay stops looking at it, and say so once."""
        target = self.directory / QUARANTINE / f"{time.time_ns():020d}-{path.name}"
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return
        except OSError as exc:
            self._report(
                f"file:{path}",
                "cachemon collector: ignoring %s (%s); cannot move it: %s",
                path,
                reason,
                exc,
            )
            return
        self.quarantined_files += 1
        self._report(
            f"file:{path}",
            "cachemon collector: %s is not a spool file (%s); moved to %s",
            path,
            reason,
            target,
        )

    def claim_foreign(self, known: set[Path]) -> list[SpoolFile]:
        """Spool files no live process holds (oldest first), locked for this process."""
        problem = self.problem()
        if problem is not None:
            self._report(
                f"folder:{problem}",
                "cachemon collector: not replaying the spool folder %s: %s",
                self.directory,
                problem,
            )
            return []
        claimed = []
        for path in sorted(self.directory.glob("*" + SUFFIX)):
            if path in known:
                continue
            try:
                fd = self._open_checked(path)
            except FileNotFoundError:
                continue
            except (OSError, SpoolLineError) as exc:
                self.quarantine_file(path, str(exc))
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
            entry.events = sum(len(events) for _, events in self.read(entry, quarantine=False))
            claimed.append(entry)
        return claimed

    def read(
        self, spool_file: SpoolFile, *, quarantine: bool = True
    ) -> list[tuple[uuid.UUID, list[Event]]]:
        """The complete, well-formed batches of a file; a torn last line (a crash mid-write)
        is skipped. With ``quarantine``, other bad lines go to ``quarantine/`` and are
        counted. A file that cannot be read as a regular file of ours gives no batches (and
        is moved to ``quarantine/``)."""
        batches: list[tuple[uuid.UUID, list[Event]]] = []
        bad: list[bytes] = []
        try:
            fd = self._open_checked(spool_file.path)
        except FileNotFoundError:
            return batches
        except (OSError, SpoolLineError) as exc:
            if quarantine:
                self.quarantine_file(spool_file.path, str(exc))
            return batches
        with open(fd, "rb", closefd=True) as fh:
            if spool_file.fd is not None and not spool_file.own:
                # The file read must be the one locked (not a file swapped in since).
                held, opened = os.fstat(spool_file.fd), os.fstat(fh.fileno())
                if (held.st_dev, held.st_ino) != (opened.st_dev, opened.st_ino):
                    if quarantine:
                        self.quarantine_file(spool_file.path, "replaced while locked")
                    return batches
            while True:
                raw = fh.readline(MAX_LINE_BYTES + 1)
                if not raw:
                    break
                if not raw.endswith(b"\n"):
                    if len(raw) > MAX_LINE_BYTES:
                        # Copied whole to quarantine/ in bounded pieces, never held at once.
                        if quarantine:
                            self._quarantine_long_line(spool_file.path.name, raw, fh)
                        else:
                            while raw and not raw.endswith(b"\n"):
                                raw = fh.readline(1024 * 1024)
                        continue
                    break  # a torn last line: the writer died mid-write
                try:
                    batches.append(parse_line(raw))
                except SpoolLineError as exc:
                    bad.append(raw)
                    if quarantine:
                        self._report(
                            f"line:{spool_file.path.name}",
                            "cachemon collector: bad line(s) in spool file %s (%s);"
                            " copied to %s/ and skipped",
                            spool_file.path,
                            exc,
                            self.directory / QUARANTINE,
                        )
        if bad and quarantine:
            self._quarantine_lines(spool_file.path.name, bad)
        return batches

    def _quarantine_long_line(self, name: str, first: bytes, fh: Any) -> None:
        path = self.directory / QUARANTINE / f"{name}.lines"
        self._report(
            f"long:{name}",
            "cachemon collector: a line of spool file %s is longer than %d bytes; copied to %s",
            name,
            MAX_LINE_BYTES,
            path,
        )
        chunk = first
        fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
        try:
            while chunk:
                os.write(fd, chunk)
                if chunk.endswith(b"\n"):
                    break
                chunk = fh.readline(1024 * 1024)
            else:
                os.write(fd, b"\n")
        finally:
            os.close(fd)
        self.quarantined_lines += 1

    def _quarantine_lines(self, name: str, lines: list[bytes]) -> None:
        path = self.directory / QUARANTINE / f"{name}.lines"
        try:
            fd = os.open(
                path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
            )
            try:
                for raw in lines:
                    os.write(fd, raw if raw.endswith(b"\n") else raw + b"\n")
            finally:
                os.close(fd)
        except OSError as exc:
            self._report(f"qfile:{name}", "cachemon collector: cannot write %s: %s", path, exc)
        self.quarantined_lines += len(lines)

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
        data = (json.dumps(payload, ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        return path

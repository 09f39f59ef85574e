"""Loading exported events from a file (JSON Lines or CSV) through the collector's batch path.

Each line is validated with the same checks as the collector's call site; valid lines are
stored in batches with ``BatchWriter`` (binary COPY, batch id and rows in one transaction).
Batch ids derive from the file's content, the batch size and the batch's position, so loading
the same file again stores nothing twice. A batch the database refuses is split until the
refused lines are isolated; they are reported with the database's reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.collector.events import (
    Event,
    check_cache_key,
    check_cache_size,
    check_error,
    check_event_type,
    check_implementation_type,
    check_recorded_at,
    check_response_time,
)
from orchestrator.collector.keys import apply_key_mode, check_key_mode
from orchestrator.collector.sink import BatchWriter
from orchestrator.errors import InvalidInput

FIELDS = (
    "recorded_at",
    "implementation_type",
    "event_type",
    "cache_key",
    "response_time_ms",
    "cache_size",
    "error_type",
    "error_message",
)
_FILE_NAMESPACE = uuid.UUID("0b8a3f5c-58a4-4c52-8d44-7f3f6d8c2a91")


@dataclass
class IngestReport:
    accepted: int = 0  # lines stored now or found stored by an earlier load
    stored: int = 0  # of those, stored by this run
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    batches: int = 0


def parse_event(record: dict[str, Any], now: float, key_full: bool) -> Event:
    """An event tuple from a dict of a file's fields; ``ValueError`` names the field and value."""
    unknown = [k for k in record if k not in FIELDS]
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r} (known: {', '.join(FIELDS)})")
    impl = check_implementation_type(record.get("implementation_type"))
    event_type = check_event_type(record.get("event_type"))
    raw_at = record.get("recorded_at")
    recorded_at = now if raw_at is None else check_recorded_at(raw_at)
    rt = record.get("response_time_ms")
    rt = None if rt is None else check_response_time(rt)
    size = record.get("cache_size")
    if isinstance(size, float) and size.is_integer():
        size = int(size)
    size = None if size is None else check_cache_size(size)
    key = record.get("cache_key")
    check_cache_key(key, key_full)
    error_type, error_message = record.get("error_type"), record.get("error_message")
    if error_type is not None or error_message is not None:
        error_type, error_message = check_error(error_type, error_message)
    return (recorded_at, event_type, impl, key, rt, size, error_type, error_message)


def _csv_value(name: str, value: str) -> Any:
    if value == "":
        return None
    if name == "response_time_ms":
        try:
            return float(value)
        except ValueError:
            return value
    if name == "cache_size":
        try:
            return int(value)
        except ValueError:
            return value
    return value


def read_records(path: Path, fmt: str) -> Iterator[tuple[int, int, dict[str, Any] | str]]:
    """(line number, bytes consumed, record or the reason it cannot be read) per line."""
    if fmt == "auto":
        fmt = "csv" if path.suffix.lower() == ".csv" else "jsonl"
    with open(path, "rb") as fh:
        if fmt == "jsonl":
            for number, raw in enumerate(fh, 1):
                if not raw.strip():
                    yield number, len(raw), {}
                    continue
                try:
                    value = json.loads(raw)
                except json.JSONDecodeError as exc:
                    yield number, len(raw), f"not valid JSON ({exc.msg})"
                    continue
                except UnicodeDecodeError:
                    yield number, len(raw), "not valid UTF-8"
                    continue
                if not isinstance(value, dict):
                    yield number, len(raw), f"a line must be a JSON object, got {raw[:60]!r}"
                    continue
                yield number, len(raw), value
        elif fmt == "csv":
            text = io.TextIOWrapper(fh, encoding="utf-8", newline="")
            reader = csv.DictReader(text)
            consumed = 0
            for row in reader:
                position = fh.tell()  # read-ahead makes this coarse: for the progress bar
                step, consumed = max(0, position - consumed), max(consumed, position)
                if None in row:
                    yield reader.line_num, step, "more cells than the header has columns"
                    continue
                yield (
                    reader.line_num,
                    step,
                    {k: _csv_value(k, v) for k, v in row.items() if v is not None},
                )
        else:
            raise ValueError(f"format must be jsonl, csv or auto, got {fmt!r}")


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ingest_file(
    path: str | Path,
    database_url: str | None = None,
    *,
    fmt: str = "auto",
    batch_size: int = 5000,
    key_mode: str = "full",
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Load a JSON Lines or CSV file of events; returns what was accepted and rejected."""
    path = Path(path)
    check_key_mode(key_mode)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    digest = _file_digest(path)
    writer = BatchWriter(database_url, source="cli", application_name="cachemon-ingest")
    report = IngestReport()
    now = time.time()
    pending: list[tuple[int, Event]] = []
    batch_index = 0

    def send(batch_id: uuid.UUID, items: list[tuple[int, Event]]) -> None:
        events = apply_key_mode([e for _, e in items], key_mode)
        try:
            result = writer.write(batch_id, events)
        except InvalidInput as exc:
            if len(items) == 1:
                report.rejected.append((items[0][0], f"refused by the database: {exc}"))
                return
            half = len(items) // 2
            send(uuid.uuid5(batch_id, "0"), items[:half])
            send(uuid.uuid5(batch_id, "1"), items[half:])
            return
        report.accepted += len(items)
        report.batches += 1
        if result == "stored":
            report.stored += len(items)

    def flush() -> None:
        nonlocal batch_index
        if pending:
            send(uuid.uuid5(_FILE_NAMESPACE, f"{digest}:{batch_size}:{batch_index}"), pending[:])
            pending.clear()
            batch_index += 1

    try:
        for number, consumed, record in read_records(path, fmt):
            if progress is not None:
                progress(consumed)
            if isinstance(record, str):
                report.rejected.append((number, record))
                continue
            if not record:
                continue
            try:
                pending.append((number, parse_event(record, now, key_mode == "full")))
            except ValueError as exc:
                report.rejected.append((number, str(exc)))
                continue
            if len(pending) >= batch_size:
                flush()
        flush()
    finally:
        writer.close()
    report.rejected.sort()
    return report

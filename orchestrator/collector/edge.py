"""Edge pre-aggregation: a collector in ``aggregate`` mode sends minutes, not events.

Per process (``source``), minute, implementation and event type the collector keeps counts,
the sum, minimum and maximum latency, cache-size statistics, error counts by type with one
sample message each, and the latency histogram as an OpenTelemetry exponential histogram at
scale 6 (``otel_index``, the same index ``cachemon.sketch_key`` computes in SQL and every
OpenTelemetry SDK computes). A minute's rows leave once the minute has ended (plus a grace
period for events recorded late), and at stop; each becomes one row of
``cachemon.cache_metrics_edge`` through ``cachemon.ingest_edge``, in batches that count
once, as event batches do. ``tick()`` merges them with raw events into the same minute rows.
"""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orchestrator.collector.events import Event

SCALE = 6
# ldexp(1 / ln 2, scale), as the OpenTelemetry SDKs compute it: index = floor(ln(x) * factor).
SCALE_FACTOR = math.ldexp(1 / math.log(2), SCALE)
MODES = ("events", "aggregate")


def otel_index(value: float) -> int:
    """The OpenTelemetry exponential histogram bucket index of ``value`` > 0 at scale 6.

    Bucket ``i`` holds ``(2**(i/64), 2**((i+1)/64)]``. Exact powers of two are computed from
    the exponent (the logarithm may round either way there); everything else as
    ``floor(ln(value) * SCALE_FACTOR)``, the SDKs' formula, so indexes agree bit for bit
    with ``cachemon.sketch_key`` and with OpenTelemetry SDKs.
    """
    mantissa, exponent = math.frexp(value)
    if mantissa == 0.5:  # value == 2 ** (exponent - 1)
        return ((exponent - 1) << SCALE) - 1
    return math.floor(math.log(value) * SCALE_FACTOR)


def check_mode(value: str) -> str:
    if value not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, got {value!r}")
    return value


def default_source() -> str:
    """``host:pid``, cut to the column's 128 characters."""
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


@dataclass
class _Minute:
    count: int = 0
    latency_count: int = 0
    latency_sum: float = 0.0
    latency_min: float = math.inf
    latency_max: float = -math.inf
    zero_count: int = 0
    buckets: dict[int, int] = field(default_factory=dict)
    size_count: int = 0
    size_sum: int = 0
    size_min: int = 0
    size_max: int = 0
    errors: dict[str, list[Any]] = field(default_factory=dict)


class EdgeAggregator:
    """Folds events into per-minute edge rows; not thread-safe (the flusher owns it)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._minutes: dict[tuple[int, str, str], _Minute] = {}

    def __len__(self) -> int:
        return len(self._minutes)

    def add(self, event: Event) -> None:
        at, event_type, impl, _key, rt, size, error_type, error_message = event
        minute = int(at // 60) * 60
        key = (minute, impl, event_type)
        m = self._minutes.get(key)
        if m is None:
            m = self._minutes[key] = _Minute()
        m.count += 1
        if rt is not None:
            m.latency_count += 1
            m.latency_sum += rt
            m.latency_min = min(m.latency_min, rt)
            m.latency_max = max(m.latency_max, rt)
            if rt == 0:
                m.zero_count += 1
            else:
                i = otel_index(rt)
                m.buckets[i] = m.buckets.get(i, 0) + 1
        if size is not None:
            if m.size_count == 0:
                m.size_min = m.size_max = size
            else:
                m.size_min = min(m.size_min, size)
                m.size_max = max(m.size_max, size)
            m.size_count += 1
            m.size_sum += size
        if event_type == "error":
            name = error_type or "unknown"
            entry = m.errors.get(name)
            if entry is None:
                if len(m.errors) >= 64:  # the column's bound: the rest share one entry
                    name = "other"
                    entry = m.errors.setdefault(name, [0, error_message or ""])
                else:
                    entry = m.errors[name] = [0, error_message or ""]
            entry[0] += 1

    def take(self, before: float | None) -> list[tuple[dict[str, Any], int]]:
        """Rows (with their event counts) of the minutes that ended before ``before`` (epoch
        seconds), or of every minute when ``before`` is None; they leave the aggregator."""
        done = [k for k in self._minutes if before is None or k[0] + 60 <= before]
        done.sort()
        out = []
        for k in done:
            m = self._minutes.pop(k)
            out.append((self._row(k, m), m.count))
        return out

    def _row(self, key: tuple[int, str, str], m: _Minute) -> dict[str, Any]:
        minute, impl, event_type = key
        row: dict[str, Any] = {
            "bucket": datetime.fromtimestamp(minute, UTC).isoformat(),
            "implementation_type": impl,
            "event_type": event_type,
            "source": self.source,
            "event_count": m.count,
            "latency_count": m.latency_count,
            "latency_sum": m.latency_sum,
            "zero_count": m.zero_count,
            "scale": SCALE,
            "cache_size_count": m.size_count,
            "cache_size_sum": m.size_sum,
        }
        if m.latency_count:
            row["latency_min"] = m.latency_min
            row["latency_max"] = m.latency_max
        if m.buckets:
            lo, hi = min(m.buckets), max(m.buckets)
            row["bucket_offset"] = lo
            row["bucket_counts"] = [m.buckets.get(i, 0) for i in range(lo, hi + 1)]
        if m.size_count:
            row["cache_size_min"] = m.size_min
            row["cache_size_max"] = m.size_max
        if event_type == "error":
            names = sorted(m.errors)
            row["error_types"] = names
            row["error_counts"] = [m.errors[n][0] for n in names]
            row["error_samples"] = [m.errors[n][1] for n in names]
        return row

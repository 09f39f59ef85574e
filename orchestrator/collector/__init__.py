"""The cachemon collector: record cache events cheaply, store each exactly once.

See docs/collector.md. The names below are the public API the README documents.
"""

from orchestrator.collector.api import (
    get_collector,
    get_collector_stats,
    instrument,
    record_cache_error,
    record_cache_evict,
    record_cache_hit,
    record_cache_miss,
    record_cache_set,
    start_collector,
    stop_collector,
)
from orchestrator.collector.collector import Collector
from orchestrator.collector.instrument import InstrumentedCache, Operation
from orchestrator.collector.recorder import Recorder
from orchestrator.collector.stats import CollectorStats

__all__ = [
    "Collector",
    "CollectorStats",
    "InstrumentedCache",
    "Operation",
    "Recorder",
    "get_collector",
    "get_collector_stats",
    "instrument",
    "record_cache_error",
    "record_cache_evict",
    "record_cache_hit",
    "record_cache_miss",
    "record_cache_set",
    "start_collector",
    "stop_collector",
]

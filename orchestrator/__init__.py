"""cachemon: cache-metrics monitoring that lives in PostgreSQL.

The package is thin on purpose: it inserts batches of events (the collector) and manages
schema versions (Alembic). Everything else is SQL in the ``cachemon`` schema.
"""

__version__ = "0.1.0"

# The collector's public names (README, "Use it from your application"), importable from the
# package itself.
# Imported lazily (PEP 562) so that `python -m orchestrator.migrations` and the CLI's schema
# commands do not load the collector (and psycopg) through the package's __init__.
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.collector import (
        Collector,
        CollectorStats,
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

__all__ = [
    "Collector",
    "CollectorStats",
    "__version__",
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


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "__version__":
        from orchestrator import collector

        value = getattr(collector, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")

"""cachemon: cache-metrics monitoring that lives in PostgreSQL.

The package is thin on purpose: it inserts batches of events (the collector) and manages
schema versions (Alembic). Everything else is SQL in the ``cachemon`` schema.
"""

__version__ = "0.1.0"

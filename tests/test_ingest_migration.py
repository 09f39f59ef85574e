"""Revision 0002_ingest downgrades cleanly to 0001 and upgrades again (that the upgrade equals
the current SQL: tests/test_migrations.py)."""

from __future__ import annotations

import psycopg

from orchestrator import catalog, dbversions


def test_downgrade_to_foundation_and_back(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        at_head = catalog.fingerprint(conn)
    dbversions.downgrade(db_url, "0001_foundation")
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('cachemon._ingested_batches')").fetchone() == (
            None,
        )
        assert conn.execute("SELECT to_regproc('cachemon.ingest_events')").fetchone() == (None,)
    dbversions.upgrade(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert catalog.differences(catalog.fingerprint(conn), at_head) == []

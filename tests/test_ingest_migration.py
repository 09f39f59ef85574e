"""Revision 0002_ingest: head equals the current SQL, and it downgrades cleanly to 0001."""

from __future__ import annotations

import psycopg

from orchestrator import catalog, dbversions


def test_head_equals_current_sql_and_downgrade_round_trip(db_url: str, empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        dbversions.build_from_current_sql(conn)
        from_sql = catalog.fingerprint(conn)
    with psycopg.connect(db_url, autocommit=True) as conn:
        at_head = catalog.fingerprint(conn)
    assert catalog.differences(at_head, from_sql) == []
    dbversions.downgrade(db_url, "0001_foundation")
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('cachemon._ingested_batches')").fetchone() == (
            None,
        )
        assert conn.execute("SELECT to_regproc('cachemon.ingest_events')").fetchone() == (None,)
    dbversions.upgrade(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert catalog.differences(catalog.fingerprint(conn), from_sql) == []

"""The rollup schema downgrades cleanly, and migrated databases come with partitions (that the
upgrade equals the current SQL: tests/test_migrations.py)."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from orchestrator import catalog, dbversions


def test_downgrade_to_foundation_and_back(empty_db_url: str, pg_server: object) -> None:
    dbversions.upgrade(empty_db_url, "0001_foundation")
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        foundation = catalog.fingerprint(conn)
    dbversions.upgrade(empty_db_url, "head")
    dbversions.downgrade(empty_db_url, "0001_foundation")
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        assert catalog.differences(foundation, catalog.fingerprint(conn)) == []
    dbversions.upgrade(empty_db_url, "head")
    dbversions.downgrade(empty_db_url, "base")
    dbversions.upgrade(empty_db_url, "head")


def test_migrated_database_has_daily_partitions(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as conn:
        row = conn.execute(
            """
            SELECT count(*) AS n, bool_and(c.relrowsecurity) AS rls,
                   min(c.relname) AS first, max(c.relname) AS last,
                   'cache_metrics_p' || to_char((now() - interval '7 days') AT TIME ZONE 'UTC',
                                                'YYYYMMDD') AS expected_first,
                   -- premade when the template was migrated, just after the cluster
                   -- started: from that day, not today's (the suite may cross midnight UTC)
                   'cache_metrics_p' || to_char((pg_postmaster_start_time() + interval '4 days')
                                                AT TIME ZONE 'UTC', 'YYYYMMDD') AS expected_last
              FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'cachemon.cache_metrics'::regclass
               AND c.relname ~ '^cache_metrics_p[0-9]{8}$'
            """
        ).fetchone()
    assert row is not None and row["rls"]
    assert row["first"] <= row["expected_first"]
    assert row["last"] >= row["expected_last"]

"""run_maintenance: daily partitions, the default partition, retention by dropping days."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from orchestrator import rollup
from tests.rollup_helpers import (
    Conn,
    day_mismatches,
    db_now,
    hour_mismatches,
    insert_events,
    tick_until_idle,
)


def _partitions(conn: Conn) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'cachemon.cache_metrics'::regclass"
        " AND c.relname ~ '^cache_metrics_p[0-9]{8}$' ORDER BY 1"
    ).fetchall()
    return [r["relname"] for r in rows]


def _name(ts: datetime) -> str:
    return "cache_metrics_p" + ts.astimezone(UTC).strftime("%Y%m%d")


def test_premake_and_drop_by_partition(conn: Conn) -> None:
    now = db_now(conn)
    rng = random.Random(1)
    insert_events(
        conn,
        [
            (now - timedelta(days=6, seconds=rng.uniform(0, 3600)), "new", "hit", 2.0, 1)
            for _ in range(30)
        ],
    )
    tick_until_idle(conn)
    minutes_before = conn.execute(
        "SELECT sum(total_events) AS n FROM cachemon.cache_metrics_1min"
    ).fetchone()
    # An unprocessed mark of the day that will be dropped.
    insert_events(conn, [(now - timedelta(days=6, hours=2), "new", "miss", 1.0, 1)])

    # Time passes by shortening raw retention (p_now may not run ahead of the clock), and
    # the last premade day is missing, so maintenance makes it again.
    conn.execute("UPDATE cachemon._settings SET value = '3 days' WHERE name = 'retention.raw'")
    conn.execute(f"DROP TABLE IF EXISTS cachemon.{_name(now + timedelta(days=4))}")
    later = now
    result = rollup.run_maintenance(conn, later)
    assert result.status == "done"
    parts = _partitions(conn)
    assert parts[0] == _name(later - timedelta(days=3))
    assert parts[-1] >= _name(later + timedelta(days=4))
    assert _name(now - timedelta(days=6)) in result.partitions_dropped
    assert all(p not in parts for p in result.partitions_dropped)
    assert _name(later + timedelta(days=4)) in result.partitions_created
    # Raw rows of dropped days are gone, their queued marks too, their rollups stay.
    raw = conn.execute("SELECT count(*) AS n FROM cachemon.cache_metrics").fetchone()
    assert raw is not None and raw["n"] == 0
    marks = conn.execute("SELECT count(*) AS n FROM cachemon._dirty_buckets").fetchone()
    assert marks is not None and marks["n"] == 0
    minutes_after = conn.execute(
        "SELECT sum(total_events) AS n FROM cachemon.cache_metrics_1min"
    ).fetchone()
    assert minutes_after == minutes_before
    new_parts = conn.execute(
        "SELECT bool_and(relrowsecurity) AS rls FROM pg_class WHERE relname = ANY(%s)",
        (result.partitions_created,),
    ).fetchone()
    assert new_parts is not None and new_parts["rls"]
    # Running again does nothing new.
    again = rollup.run_maintenance(conn, later)
    assert again.partitions_created == [] and again.partitions_dropped == []


def test_rows_in_the_default_partition_are_moved(conn: Conn) -> None:
    now = db_now(conn)
    soon = now + timedelta(hours=20)
    # the days premade when the template was migrated end four days after THAT day: bring
    # them up to today's first (the suite may cross midnight UTC)
    rollup.run_maintenance(conn, now)
    conn.execute(f"DROP TABLE cachemon.{_name(soon)}")
    insert_events(conn, [(soon, "legacy", "set", None, 5)] * 4)
    in_default = conn.execute("SELECT count(*) AS n FROM cachemon.cache_metrics_default").fetchone()
    assert in_default is not None and in_default["n"] == 4
    result = rollup.run_maintenance(conn, now)
    assert result.rows_moved == 4 and result.default_rows_left == 0
    assert result.partitions_created == [_name(soon)]
    row = conn.execute(f"SELECT count(*) AS n FROM cachemon.{_name(soon)}").fetchone()
    assert row is not None and row["n"] == 4
    tick_until_idle(conn)
    assert hour_mismatches(conn) == [] and day_mismatches(conn) == []


def test_rollup_retention_and_batch_ids(conn: Conn) -> None:
    now = db_now(conn)
    conn.execute(
        "INSERT INTO cachemon.cache_metrics_1min (bucket, implementation_type)"
        " VALUES (date_trunc('minute', %(now)s - interval '31 days'), 'x'),"
        "        (date_trunc('minute', %(now)s - interval '29 days'), 'x')",
        {"now": now},
    )
    conn.execute(
        "INSERT INTO cachemon.cache_metrics_1hour (bucket, implementation_type)"
        " VALUES (date_trunc('hour', %(now)s - interval '366 days'), 'x'),"
        "        (date_trunc('hour', %(now)s - interval '364 days'), 'x')",
        {"now": now},
    )
    # Batch ids are kept for raw retention (7 days) plus a day.
    conn.execute(
        "INSERT INTO cachemon._ingested_batches (batch_id, event_count, received_at) VALUES"
        " (gen_random_uuid(), 1, %(now)s - interval '9 days'),"
        " (gen_random_uuid(), 1, %(now)s - interval '7 days')",
        {"now": now},
    )
    result = rollup.run_maintenance(conn, now)
    assert (result.minute_rows_deleted, result.hour_rows_deleted) == (1, 1)
    assert result.batch_ids_deleted == 1
    assert result.cron_runs_deleted == 0  # no pg_cron in this database


def test_busy_when_another_maintenance_runs(db_url: str) -> None:
    with (
        psycopg.connect(db_url, row_factory=dict_row) as first,
        psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as second,
    ):
        assert rollup.run_maintenance(first).status == "done"
        assert rollup.run_maintenance(second).status == "busy"
        first.commit()


def test_retention_trims_day_rows_with_the_hours(conn: Conn) -> None:
    """Day rows of days past retention.1hour go; the day the cutoff cuts is rebuilt from its
    remaining hours, so every day row stays the merge of its hourly rows."""
    now = db_now(conn)
    # Hourly rows every hour from 30 h before to 30 h after the cutoff, each one hit; the
    # day level built by the same helper tick uses.
    conn.execute(
        """
        WITH c AS (SELECT %(now)s - cachemon._setting('retention.1hour')::interval AS cutoff)
        INSERT INTO cachemon.cache_metrics_1hour (bucket, implementation_type, hits, total_events)
        SELECT h, 'x', 1, 1
          FROM c, generate_series(date_trunc('hour', c.cutoff, 'UTC') - interval '30 hours',
                                  date_trunc('hour', c.cutoff, 'UTC') + interval '30 hours',
                                  interval '1 hour') AS h
        """,
        {"now": now},
    )
    conn.execute(
        "SELECT cachemon._rollup_days(array_agg(bucket), array_agg(implementation_type))"
        " FROM cachemon.cache_metrics_1hour"
    )
    assert day_mismatches(conn) == []
    before = conn.execute(
        "SELECT min(bucket) AS first, sum(total_events) AS n FROM cachemon._cache_metrics_1day"
    ).fetchone()
    assert before is not None and before["n"] == 61
    result = rollup.run_maintenance(conn, now)
    assert result.hour_rows_deleted >= 30
    after = conn.execute(
        "SELECT min(bucket) AS first, sum(total_events) AS n,"
        " (SELECT count(*) FROM cachemon.cache_metrics_1hour) AS hours"
        " FROM cachemon._cache_metrics_1day"
    ).fetchone()
    assert after is not None
    assert after["first"] > before["first"]  # the whole day before the cutoff is gone
    assert after["n"] == after["hours"] == 61 - result.hour_rows_deleted  # the cut day rebuilt
    assert day_mismatches(conn) == []

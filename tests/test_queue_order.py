"""The order in which tick claims queued buckets: a backfill never delays the current minute.

200,000 events for old minutes (about 5 seconds of ingest) used to hold the current minute,
and with it the auditor, back for 40 ticks: tick claimed the oldest tick.max_buckets buckets
first. Now it claims the minutes of the hour up to p_now first, newest first, then the others
oldest first; the rollup invariant does not depend on the order.
"""

from __future__ import annotations

import random
from datetime import timedelta

from orchestrator import rollup
from tests.rollup_helpers import (
    Conn,
    day_mismatches,
    db_now,
    hour_mismatches,
    insert_events,
    minute_floor,
    minute_mismatches,
    tick_until_idle,
)


def _queued(conn: Conn, where: str = "true") -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM (SELECT DISTINCT bucket, implementation_type"
        f" FROM cachemon._dirty_buckets WHERE {where}) AS q"
    ).fetchone()
    assert row is not None
    return int(row["n"])


def test_a_backfill_of_old_minutes_does_not_delay_the_current_minute(conn: Conn) -> None:
    """The writer backfills 200,000 events of 25 implementations over 8,000 old minutes (one
    event per bucket: 200,000 queued buckets, 40 ticks of tick.max_buckets = 5000); the
    application's current minute arrives after it. One tick rolls the current minute up, and
    leaves no minute of the last hour queued for the auditor to wait on."""
    conn.execute("SET statement_timeout = '120s'")
    conn.execute("SET ROLE cachemon_writer")
    conn.execute(
        "INSERT INTO cachemon.cache_metrics (recorded_at, implementation_type, event_type,"
        " response_time_ms)"
        " SELECT date_trunc('minute', now()) - (120 + m) * interval '1 minute'"
        "        + interval '10 seconds', 'backfill_' || i, 'hit', 1.0"
        "   FROM generate_series(0, 7999) AS m, generate_series(1, 25) AS i"
    )
    now = db_now(conn)
    insert_events(
        conn,
        [
            (now - timedelta(seconds=s), impl, "hit", 2.0, 10)
            for s in (0, 1)
            for impl in ("new", "legacy")
        ],
    )
    conn.execute("RESET ROLE")
    recent = _queued(conn, "bucket >= now() - interval '1 hour'")
    assert _queued(conn) == 200_000 + recent
    row = conn.execute("SELECT min(bucket) AS b FROM cachemon._dirty_buckets").fetchone()
    assert row is not None
    oldest = row["b"]
    result = rollup.tick(conn, now)
    assert result.status == "done" and result.auditor == "ran"
    assert result.minutes_done == 5000
    current = conn.execute(
        "SELECT implementation_type, total_events FROM cachemon.cache_metrics_1min"
        " WHERE bucket = %s ORDER BY 1",
        (minute_floor(now),),
    ).fetchall()
    assert [r["implementation_type"] for r in current] == ["legacy", "new"]
    # What the auditor leaves out as still queued: nothing of the last hour.
    left = conn.execute(
        "SELECT count(*) AS n FROM cachemon._queued_buckets(%s, %s)",
        (now - timedelta(hours=1), now + timedelta(minutes=1)),
    ).fetchone()
    assert left == {"n": 0}
    # The backfill goes on, oldest first, and is not lost.
    assert result.buckets_left == 200_000 + recent - 5000
    assert result.oldest_pending is not None and result.oldest_pending > oldest
    assert _queued(conn, "implementation_type LIKE 'backfill%'") == 200_000 - (5000 - recent)


def test_the_claim_order_keeps_the_rollups_exact(conn: Conn) -> None:
    """Rounds of late and current events with a small cap (7 buckets a tick): after each
    tick, the buckets of the last hour that were queued before it are the first to go (as
    many as the cap allows, newest first), and at the end every minute, hour and day equals
    the recomputation from raw rows (the invariant of docs/rollups.md)."""
    conn.execute("UPDATE cachemon._settings SET value = '7' WHERE name = 'tick.max_buckets'")
    rng = random.Random(19)
    now = db_now(conn)
    for _ in range(12):
        events = []
        for _ in range(rng.randint(1, 30)):
            back = rng.choice([rng.uniform(0, 3600), rng.uniform(3600, 5 * 86400)])
            events.append(
                (now - timedelta(seconds=back), rng.choice(["legacy", "new", "x"]), "hit", 1.0, 1)
            )
        insert_events(conn, events)
        recent_before = conn.execute(
            "SELECT DISTINCT bucket, implementation_type FROM cachemon._dirty_buckets"
            " WHERE bucket >= %s - interval '1 hour' AND bucket <= %s"
            " ORDER BY bucket DESC, implementation_type DESC",
            (now, now),
        ).fetchall()
        rollup.tick(conn, now)
        left = conn.execute(
            "SELECT DISTINCT bucket, implementation_type FROM cachemon._dirty_buckets"
        ).fetchall()
        assert [b for b in recent_before[:7] if b in left] == []
        if len(recent_before) < 7:
            # The rest of the cap went to the oldest others.
            assert all(b not in left for b in recent_before)
    tick_until_idle(conn)
    assert minute_mismatches(conn) == []
    assert hour_mismatches(conn) == [] and day_mismatches(conn) == []

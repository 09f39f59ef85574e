"""Raw events for the auditor and verdict tests, generated in SQL and rolled up by tick().

Unlike ``orchestrator.synthetic`` (which writes 1-minute rows directly), these go through
cache_metrics and tick(p_now), so minute rows carry real latency sketches.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

Conn = psycopg.Connection[dict[str, Any]]

EVENTS_SQL = """
WITH r AS MATERIALIZED (
    SELECT g.i, j.j, random() AS e, random() AS h, random() AS a, random() AS b, random() AS s,
           random() AS t
      FROM generate_series(0, %(minutes)s - 1) AS g (i)
     CROSS JOIN LATERAL generate_series(1, %(rpm)s + 0 * g.i) AS j (j)
)
INSERT INTO cachemon.cache_metrics
    (recorded_at, implementation_type, event_type, cache_key, response_time_ms, cache_size,
     error_type, error_message)
SELECT %(start)s::timestamptz + r.i * interval '1 minute' + r.s * interval '59 seconds',
       %(impl)s,
       CASE WHEN r.e < %(error_rate)s THEN 'error'
            WHEN r.h < %(hit_rate)s THEN 'hit' ELSE 'miss' END,
       'k' || r.j,
       CASE WHEN r.e < %(error_rate)s THEN NULL
            ELSE least(exp(ln(CASE WHEN r.h < %(hit_rate)s THEN %(hit_ms)s ELSE %(miss_ms)s END)
                           + %(sigma)s * sqrt(-2 * ln(1 - r.a)) * cos(2 * pi() * r.b))
                       -- the heavy tail: this share of requests is 10-40x slower
                       * CASE WHEN r.t > 1 - %(slow_share)s
                              THEN 10 + 30 * (1 - r.t) / %(slow_share)s ELSE 1 END
                       -- a stall: this share of requests waits stall_ms x 1..2 more
                       + CASE WHEN r.t < %(stall_share)s
                              THEN %(stall_ms)s * (1 + r.t / %(stall_share)s) ELSE 0 END,
                       86400000) END,
       CASE WHEN r.e < %(error_rate)s THEN NULL ELSE 5000 END,
       CASE WHEN r.e < %(error_rate)s THEN 'TimeoutError' END,
       CASE WHEN r.e < %(error_rate)s THEN 'timeout' END
  FROM r
"""


@dataclass(frozen=True)
class Traffic:
    """How an implementation behaves: lookups a minute, hit rate, errors, latency."""

    impl: str
    rpm: int = 150
    hit_rate: float = 0.80
    error_rate: float = 0.002
    hit_ms: float = 4.0
    miss_ms: float = 30.0
    sigma: float = 0.5
    stall_share: float = 0.0  # share of requests that stall ...
    stall_ms: float = 0.0  # ... for stall_ms to twice that more
    slow_share: float = 0.0  # share of requests 10-40x slower (a heavy tail)

    def but(self, **changes: Any) -> Traffic:
        return replace(self, **changes)


def recent_start(minutes: int) -> datetime:
    """A whole minute ``minutes`` + 2 minutes before now (functions may refuse far-off times)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=minutes + 2)


def emit(conn: Conn, traffic: Traffic, start: datetime, minutes: int, seed: float) -> None:
    """``minutes`` minutes of raw events of ``traffic`` from ``start`` (not rolled up)."""
    conn.execute("SELECT setseed(%s)", (seed,))
    conn.execute(
        EVENTS_SQL,
        {
            "minutes": minutes,
            "rpm": traffic.rpm,
            "start": start,
            "impl": traffic.impl,
            "error_rate": traffic.error_rate,
            "hit_rate": traffic.hit_rate,
            "hit_ms": traffic.hit_ms,
            "miss_ms": traffic.miss_ms,
            "sigma": traffic.sigma,
            "stall_share": max(traffic.stall_share, 1e-12),
            "slow_share": max(traffic.slow_share, 1e-12),
            "stall_ms": traffic.stall_ms,
        },
    )


def roll_up(conn: Conn, now: datetime) -> None:
    """tick(now) until no bucket is left."""
    conn.execute("UPDATE cachemon._settings SET value = '100000' WHERE name = 'tick.max_buckets'")
    for _ in range(100):
        row = conn.execute("SELECT buckets_left FROM cachemon.tick(%s)", (now,)).fetchone()
        if row is None or not row["buckets_left"]:
            return
    raise AssertionError("tick did not finish the rollups")

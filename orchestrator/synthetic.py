"""Synthetic 1-minute rows from the traffic model (``orchestrator.traffic.Profile``), for
auditor tests and benchmarks.

The auditor reads ``cachemon.cache_metrics_1min`` only, so its rules can be exercised by
writing realistic minutes there directly, set-based in one ``INSERT ... SELECT`` per segment
(thousands of minutes in milliseconds) instead of replaying millions of raw events. Counts get
binomial/Poisson-like noise (normal approximations), latencies and sizes relative noise, and
traffic follows ``traffic.daily_factor`` (lowest at 00:00 UTC, highest at 12:00 UTC).
``cachemon demo`` draws individual events from the same profiles (``traffic.minute_events``)
and sends them through the real collector and rollups instead. ``Profile`` is re-exported
here for the tests and benchmarks that import it from this module.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from orchestrator.traffic import Profile, daily_factor

__all__ = ["Profile", "daily_factor", "insert_minutes"]


_INSERT = """
INSERT INTO cachemon.cache_metrics_1min (
    bucket, implementation_type, hits, misses, sets, evictions, errors, total_events,
    hit_rate, error_rate, avg_response_time_ms, p50_response_time_ms, p95_response_time_ms,
    p99_response_time_ms, max_response_time_ms, avg_cache_size, max_cache_size,
    latency_count, latency_sum, cache_size_count, cache_size_sum)
SELECT c.bucket, %(impl)s, c.hits, c.misses, c.sets, c.evictions, c.errors,
       c.hits + c.misses + c.sets + c.evictions + c.errors,
       round(100.0 * c.hits / NULLIF(c.hits + c.misses, 0), 4),
       round(100.0 * c.errors / NULLIF(c.hits + c.misses + c.sets + c.errors, 0), 4),
       c.avg_ms, c.avg_ms * 0.8, c.p95_ms, c.p95_ms * 1.6, c.p95_ms * 2.4,
       c.size, (c.size * 1.05)::bigint,
       c.hits + c.misses + c.sets + c.errors,
       c.avg_ms * (c.hits + c.misses + c.sets + c.errors),
       c.hits + c.sets, (c.size * (c.hits + c.sets))::numeric
  FROM (
    SELECT l.bucket, l.ops, l.errors, l.lookups - l.hits AS misses, l.hits,
           round(0.9 * (l.lookups - l.hits))::bigint AS sets,
           greatest(round(l.lookups * %(ev)s / 100.0
                          + sqrt(l.lookups * %(ev)s / 100.0) * l.z5), 0)::bigint AS evictions,
           greatest(%(ms)s * (1 + %(load_latency)s * (l.f - 1)) * (1 + %(lat_noise)s * l.z3), 0.01)
               AS avg_ms,
           greatest(%(ms)s * %(p95f)s * (1 + %(load_latency)s * (l.f - 1))
                    * (1 + %(lat_noise)s * l.z4), 0.01) AS p95_ms,
           greatest(%(size)s * (1 + 0.01 * l.z6), 0) AS size
      FROM (
        SELECT e.*, least(greatest(round(e.lookups * %(hr)s / 100.0
                   + sqrt(e.lookups * %(hr)s / 100.0 * (1 - %(hr)s / 100.0)) * e.z2), 0),
                   e.lookups)::bigint AS hits
          FROM (
            SELECT o.*,
                   greatest(round((o.ops - o.errors) / (1 + 0.9 * (1 - %(hr)s / 100.0))),
                            0)::bigint AS lookups
              FROM (
                SELECT n.*, least(greatest(round(n.ops * %(er)s / 100.0
                           + sqrt(n.ops * %(er)s / 100.0) * n.z1), 0), n.ops)::bigint AS errors
                  FROM (
                    SELECT g.bucket, g.f, g.z0, g.z1, g.z2, g.z3, g.z4, g.z5, g.z6,
                           greatest(round(%(rpm)s * g.f + sqrt(%(rpm)s * g.f) * g.z0),
                                    0)::bigint AS ops
                      FROM (
                        SELECT b AS bucket,
                               1 + %(amp)s * sin(2 * pi() * (extract(epoch FROM b)::bigint %% 86400
                                                              / 86400.0 - 0.25)) AS f,
                               sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z0,
                               sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z1,
                               sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z2,
                               sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z3,
                               sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z4,
                               sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z5,
                               sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z6
                          FROM generate_series(
                                   %(start)s::timestamptz,
                                   %(start)s::timestamptz + (%(minutes)s - 1) * interval '1 minute',
                                   interval '1 minute') AS b
                      ) AS g
                  ) AS n
              ) AS o
          ) AS e
      ) AS l
     WHERE l.ops > 0
  ) AS c
ON CONFLICT (bucket, implementation_type) DO NOTHING
"""


def insert_minutes(
    conn: psycopg.Connection[Any],
    profile: Profile,
    start: datetime,
    minutes: int,
    *,
    seed: float | None = None,
) -> int:
    """Insert ``minutes`` rows for ``profile`` from ``start`` (a whole minute); return the count.

    Minutes that draw no operations (``requests_per_minute=0`` for an outage) get no row,
    as the rollup would write none. ``seed`` (-1..1) makes the noise reproducible.
    """
    if start.tzinfo is None or start.second or start.microsecond:
        raise ValueError(f"start must be a timezone-aware whole minute, got {start!r}")
    if minutes < 1:
        raise ValueError(f"minutes must be >= 1, got {minutes!r}")
    if seed is not None:
        if not -1 <= seed <= 1:
            raise ValueError(f"seed must be within -1..1, got {seed!r}")
        conn.execute("SELECT setseed(%s)", (seed,))
    params = {
        "impl": profile.implementation_type,
        "rpm": profile.requests_per_minute,
        "hr": profile.hit_rate,
        "ms": profile.avg_response_time_ms,
        "p95f": profile.p95_factor,
        "er": profile.error_rate,
        "ev": profile.eviction_rate,
        "size": profile.cache_size,
        "amp": profile.daily_amplitude,
        "lat_noise": profile.latency_noise,
        "load_latency": profile.load_latency,
        "start": start,
        "minutes": minutes,
    }
    cur = conn.execute(_INSERT, params)
    return cur.rowcount

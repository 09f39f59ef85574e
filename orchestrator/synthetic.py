"""Synthetic 1-minute rows with a daily rhythm and noise, for auditor tests and benchmarks.

The auditor reads ``cachemon.cache_metrics_1min`` only, so its rules can be exercised by
writing realistic minutes there directly, set-based in one ``INSERT ... SELECT`` per segment
(thousands of minutes in milliseconds) instead of replaying millions of raw events. Counts get
binomial/Poisson-like noise (normal approximations), latencies and sizes relative noise, and
traffic follows a daily sine (lowest at 00:00 UTC, highest at 12:00 UTC). This is test data,
not a model of any real cache: ``cachemon demo`` uses the real collector and rollups instead.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg


@dataclass(frozen=True)
class Profile:
    """How one implementation behaves in a stretch of time (means; noise is added per minute)."""

    implementation_type: str
    requests_per_minute: float = 400.0  # operations (hits + misses + sets + errors), daily mean
    hit_rate: float = 80.0  # percent of lookups
    avg_response_time_ms: float = 12.0
    p95_factor: float = 2.5  # p95 = average x this
    error_rate: float = 0.1  # percent of operations
    eviction_rate: float = 2.0  # evictions per 100 lookups
    cache_size: float = 50_000.0
    daily_amplitude: float = 0.5  # traffic at noon = mean x (1 + amplitude)
    latency_noise: float = 0.05  # relative standard deviation of a minute's latencies
    load_latency: float = 0.15  # latency rises by this x the traffic's relative excess

    def __post_init__(self) -> None:
        if not 1 <= len(self.implementation_type) <= 64:
            raise ValueError(
                f"implementation_type must be 1..64 characters, got {self.implementation_type!r}"
            )
        if self.requests_per_minute < 0:
            raise ValueError(f"requests_per_minute must be >= 0, got {self.requests_per_minute!r}")
        if not 0 <= self.hit_rate <= 100:
            raise ValueError(f"hit_rate must be within 0..100, got {self.hit_rate!r}")
        if not 0 <= self.error_rate <= 100:
            raise ValueError(f"error_rate must be within 0..100, got {self.error_rate!r}")
        if not 0 <= self.daily_amplitude < 1:
            raise ValueError(f"daily_amplitude must be within 0..1, got {self.daily_amplitude!r}")

    def but(self, **changes: Any) -> Profile:
        """A copy with some fields changed (an incident, a recovery)."""
        return dataclasses.replace(self, **changes)


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

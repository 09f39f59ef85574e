"""The one traffic model: how an implementation behaves, with a daily rhythm and noise.

A ``Profile`` describes one implementation's behaviour in a stretch of time, in the units of
the database (percent for rates, milliseconds, operations per minute). Two generators draw from
the same profile and the same daily curve (``daily_factor``):

- ``minute_events`` yields the individual events of one minute (the demo records them through
  the real collector, so they go through ingest and tick);
- ``orchestrator.synthetic.insert_minutes`` writes whole 1-minute rows straight into
  ``cache_metrics_1min`` in one set-based INSERT (auditor tests and benchmarks, where replaying
  millions of raw events would take minutes).

Both are test and demo data, not a model of any real cache. Everything is seeded.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_Z95 = 1.6448536269514722  # the standard normal's 95th percentile


@dataclass(frozen=True)
class Profile:
    """How one implementation behaves (daily means; noise is added per minute or per event)."""

    implementation_type: str
    requests_per_minute: float = 400.0  # operations (hits + misses + sets + errors), daily mean
    hit_rate: float = 80.0  # percent of lookups
    avg_response_time_ms: float = 12.0  # mean over every event with a latency
    p95_factor: float = 2.5  # p95 = average x this (1 < p95_factor < 3.8: a log-normal shape)
    miss_latency_factor: float = 4.0  # a miss (lookup + backend) takes this x a hit's time
    error_rate: float = 0.1  # percent of operations
    eviction_rate: float = 2.0  # evictions per 100 lookups
    cache_size: float = 50_000.0  # entries
    daily_amplitude: float = 0.5  # traffic at noon UTC = mean x (1 + amplitude)
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
        if self.avg_response_time_ms <= 0 or self.miss_latency_factor <= 0:
            raise ValueError("avg_response_time_ms and miss_latency_factor must be > 0")

    def but(self, **changes: Any) -> Profile:
        """A copy with some fields changed (an incident, a recovery)."""
        return dataclasses.replace(self, **changes)

    def latency_sigma(self) -> float:
        """The log-normal spread whose p95 is ``p95_factor`` x its mean (capped at the largest
        ratio a log-normal reaches, about 3.87)."""
        target = math.log(max(self.p95_factor, 1.0001))
        # p95 / mean = exp(z sigma - sigma^2 / 2): the smaller root of sigma^2/2 - z sigma + t.
        disc = _Z95 * _Z95 - 2 * target
        return _Z95 - math.sqrt(disc) if disc > 0 else _Z95


def daily_factor(at: datetime, amplitude: float) -> float:
    """Traffic relative to the daily mean: lowest at 00:00 UTC, highest at 12:00 UTC (the same
    curve ``synthetic.insert_minutes`` computes in SQL)."""
    seconds = int(at.timestamp()) % 86400
    return 1.0 + amplitude * math.sin(2 * math.pi * (seconds / 86400.0 - 0.25))


@dataclass(frozen=True)
class Event:
    kind: str  # hit, miss, set, evict, error
    key: str
    response_time_ms: float | None
    cache_size: int | None
    second: float  # offset within the minute


def minute_events(profile: Profile, minute: datetime, rng: random.Random) -> Iterator[Event]:
    """The events of one minute: lookups (hit or miss), a set after 9 misses in 10 (as
    ``insert_minutes``), evictions, errors; latencies log-normal with the profile's mean and
    p95, misses ``miss_latency_factor`` x slower than hits."""
    f = daily_factor(minute, profile.daily_amplitude)
    ops = profile.requests_per_minute * f
    hr = profile.hit_rate / 100.0
    errors_share = profile.error_rate / 100.0
    # Operations = lookups x (1 + 0.9 x miss share) (the sets after misses) + errors, and
    # errors are error_rate percent of operations.
    per_lookup = 1 + 0.9 * (1 - hr)
    lookups_mean = ops * (1 - errors_share) / per_lookup
    errors_mean = errors_share * ops
    attempts_mean = lookups_mean + errors_mean
    error_chance = errors_mean / attempts_mean if attempts_mean else 0.0
    attempts = max(0, int(rng.gauss(attempts_mean, math.sqrt(max(attempts_mean, 1.0)))))
    sigma = profile.latency_sigma()
    # Hits and sets take h, misses h x miss_latency_factor; choose h so that the mean over all
    # latency-bearing events is avg_response_time_ms (at this minute's load).
    mean = profile.avg_response_time_ms * (1 + profile.load_latency * (f - 1))
    weight = hr + (1 - hr) * profile.miss_latency_factor + 0.9 * (1 - hr)
    events_per_lookup = hr + (1 - hr) + 0.9 * (1 - hr)
    hit_mean = mean * events_per_lookup / weight
    mu_hit = math.log(hit_mean) - sigma * sigma / 2
    mu_miss = mu_hit + math.log(profile.miss_latency_factor)
    size = int(profile.cache_size)
    evict_per_lookup = profile.eviction_rate / 100.0
    for _ in range(attempts):
        key = f"q:{rng.randrange(50_000)}"
        second = rng.random() * 60
        if rng.random() < error_chance:
            yield Event("error", key, None, None, second)
            continue
        if rng.random() < hr:
            yield Event("hit", key, rng.lognormvariate(mu_hit, sigma), size, second)
        else:
            latency = rng.lognormvariate(mu_miss, sigma)
            yield Event("miss", key, latency, size, second)
            if rng.random() < 0.9:
                size += 1
                set_latency = rng.lognormvariate(mu_hit, sigma)
                yield Event("set", key, set_latency, size, min(59.999, second + latency / 1000))
        if rng.random() < evict_per_lookup:
            size -= 1
            yield Event("evict", f"q:{rng.randrange(50_000)}", None, size, second)

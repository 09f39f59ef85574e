"""Synthetic cache traffic with a daily rhythm, noise and scripted incidents (for the demo).

A ``Profile`` describes how an implementation behaves; ``minute_events`` draws the events of
one minute from it. Everything is seeded, so a run is reproducible.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True)
class Profile:
    """How one implementation behaves in a given minute."""

    requests_per_minute: float = 120.0  # lookups per minute at the daily mean
    hit_rate: float = 0.80  # fraction of lookups that hit
    hit_latency_ms: float = 4.0  # median latency of a hit
    miss_latency_ms: float = 30.0  # median latency of a miss (lookup + backend)
    latency_sigma: float = 0.35  # log-normal spread
    error_rate: float = 0.002  # fraction of operations that fail
    eviction_rate: float = 0.02  # evictions per set
    cache_size: int = 5000  # entries

    def degraded(
        self,
        *,
        hit_rate: float | None = None,
        latency_factor: float = 1.0,
        error_rate: float | None = None,
    ) -> Profile:
        return replace(
            self,
            hit_rate=self.hit_rate if hit_rate is None else hit_rate,
            hit_latency_ms=self.hit_latency_ms * latency_factor,
            miss_latency_ms=self.miss_latency_ms * latency_factor,
            error_rate=self.error_rate if error_rate is None else error_rate,
        )


@dataclass(frozen=True)
class Event:
    kind: str  # hit, miss, set, evict, error
    key: str
    response_time_ms: float | None
    cache_size: int | None
    second: float  # offset within the minute


def daily_factor(at: datetime) -> float:
    """Traffic relative to the daily mean: low at night (UTC), a peak in the afternoon."""
    hour = at.hour + at.minute / 60
    return 1.0 + 0.6 * math.sin((hour - 9.0) / 24.0 * 2 * math.pi)


def minute_events(profile: Profile, minute: datetime, rng: random.Random) -> Iterator[Event]:
    """The events of one minute: lookups (hit or miss), sets after misses, evictions, errors."""
    expected = profile.requests_per_minute * daily_factor(minute)
    lookups = max(0, int(rng.gauss(expected, math.sqrt(max(expected, 1.0)))))
    size = profile.cache_size
    for _ in range(lookups):
        key = f"q:{rng.randrange(50_000)}"
        second = rng.random() * 60
        if rng.random() < profile.error_rate:
            yield Event("error", key, None, None, second)
            continue
        if rng.random() < profile.hit_rate:
            latency = rng.lognormvariate(math.log(profile.hit_latency_ms), profile.latency_sigma)
            yield Event("hit", key, latency, size, second)
            continue
        latency = rng.lognormvariate(math.log(profile.miss_latency_ms), profile.latency_sigma)
        yield Event("miss", key, latency, size, second)
        size += 1
        set_latency = rng.lognormvariate(math.log(profile.hit_latency_ms), profile.latency_sigma)
        yield Event("set", key, set_latency, size, min(59.999, second + latency / 1000))
        if rng.random() < profile.eviction_rate:
            size -= 1
            yield Event("evict", f"q:{rng.randrange(50_000)}", None, size, second)

"""How much an incident of the auditor bench tells, whatever test looks at it.

An incident can only be found as fast as its evidence arrives. The Kullback-Leibler
divergence of a minute under the incident from a minute under the baseline, in nats, is the
evidence a minute carries for the best possible test (one that knows the change in advance).
Lorden's bound then says that any test with at most one false alarm per ARL minutes on that
metric needs about ln(ARL) / KL minutes on average to raise an alarm.

The bench uses ARL = one day (1,440 minutes, ln = 7.27): generous, since the auditor watches
about fifteen such statistics and must stay under one false finding a day over all of them.
An incident whose minutes together carry less than ln(1440) nats is beyond the information:
no test with that false-alarm rate finds it reliably, and the bench reports it apart.

Per scenario the evidence comes from the one thing it changes, as the rollups show it:
- error rate: binomial KL of the error share among requests;
- hit rate: binomial KL of the hit share among lookups (the latency of hits and misses is
  unchanged, so the joint KL of hit/miss and latency is this one);
- latency: KL of the minute's latency distribution (all timed requests in one sketch, hits
  and misses mixed, as cache_metrics_1min keeps them), estimated from 400,000 draws of the
  model's own latency draw (bench_auditor.request_latency) on 40 logarithmic bins a decade.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

ARL_MINUTES = 1440.0
NEEDED = math.log(ARL_MINUTES)  # nats an incident must carry
_DRAWS = 400_000
_BINS_PER_DECADE = 40
_LOW, _HIGH = 0.01, 1e6


def binomial_kl(p1: float, p0: float) -> float:
    """KL(Bernoulli(p1) || Bernoulli(p0)) in nats."""
    p1 = min(max(p1, 1e-12), 1 - 1e-12)
    p0 = min(max(p0, 1e-12), 1 - 1e-12)
    return p1 * math.log(p1 / p0) + (1 - p1) * math.log((1 - p1) / (1 - p0))


Draw = Callable[[random.Random], float]


def latency_histogram(draw: Draw) -> tuple[float, ...]:
    """Shares of 400,000 latencies from ``draw`` (one fixed seed) in logarithmic bins."""
    rng = random.Random(20261130)
    width = math.log(10) / _BINS_PER_DECADE
    nbins = int(math.log(_HIGH / _LOW) / width) + 2
    counts = [0.5] * nbins  # add-half smoothing: no empty bin
    for _ in range(_DRAWS):
        ms = draw(rng)
        i = int(math.log(min(max(ms, _LOW), _HIGH) / _LOW) / width)
        counts[min(i, nbins - 1)] += 1
    total = sum(counts)
    return tuple(c / total for c in counts)


def kl(changed: tuple[float, ...], base: tuple[float, ...]) -> float:
    """KL(changed || base) in nats of two histograms on the same bins."""
    return sum(a * math.log(a / b) for a, b in zip(changed, base, strict=True))


def oracle_minutes(nats_per_minute: float) -> float:
    """Lorden's bound: minutes the best test with one false alarm a day needs on average."""
    return NEEDED / nats_per_minute if nats_per_minute > 0 else math.inf

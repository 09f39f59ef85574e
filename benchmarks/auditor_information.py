"""How much an incident of the auditor bench tells, whatever test looks at it.

An incident can only be found as fast as its evidence arrives. The Kullback-Leibler
divergence of a minute under the incident from a minute under the baseline, in nats, is the
evidence a minute carries for the best possible test (one that knows the change in advance).
Lorden's bound then says that any test with at most one false alarm per ARL minutes on that
metric needs about ln(ARL) / KL minutes on average to raise an alarm.

The bench uses ARL = one day (1,440 minutes, ln = 7.27): generous, since the auditor watches
33 sequential statistics (STATISTICS) and must stay under one false finding a day over all
of them, which takes one false alarm in 1,440 x 33 minutes of each (ln = 10.77, NEEDED_ALL):
the level any monitor of that many statistics needs, whatever its design. An incident whose
minutes together carry less than ln(1440) nats is beyond the information: no test with that
false-alarm rate finds it reliably, and the bench reports it apart; it also reports the
incidents under NEEDED_ALL.

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
# The auditor's sequential statistics: per implementation errors and hit rate (warning and
# critical designs), p50 and p95 (warning, critical), p99 (warning, critical, stall): 11,
# on the bench's three implementations
STATISTICS = 11 * 3
NEEDED_ALL = math.log(ARL_MINUTES * STATISTICS)  # the same for one false alarm a day over all
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


def first_passage(nats_by_minute: list[float], needed: float = NEEDED) -> float:
    """Minutes until an incident's minutes have carried ``needed`` nats, in expectation.

    Lorden's bound for an incident whose evidence per minute changes as it goes (the daily
    cycle, a ramp): the first time the KL divergences of its minutes add up to ``needed``,
    interpolated within the minute. A step at constant volume gives needed / KL (the
    textbook form); a ramp's first minutes carry little (an error ramp from 0.17% to 5%
    over 20 minutes at 38 operations a minute needs about 11 minutes for ln(1440) nats,
    where the mean over its 20 minutes would say 4). Past the incident's last minute the
    mean rate of its minutes continues (what a longer incident of the same kind would
    give)."""
    total = 0.0
    for k, nats in enumerate(nats_by_minute):
        if nats > 0 and total + nats >= needed:
            return k + (needed - total) / nats
        total += nats
    mean = total / len(nats_by_minute) if nats_by_minute else 0.0
    return len(nats_by_minute) + (needed - total) / mean if mean > 0 else math.inf

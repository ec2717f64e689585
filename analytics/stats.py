"""The few statistics the cockpit needs, in plain Python.

Percentiles use the nearest-rank definition: the p-th percentile of n sorted values is the
value at rank ceil(p/100 · n). It is always one of the observed values, which a reader can
check by hand in the drill-down list.

The forecast uses a Kaplan–Meier estimate per stage (open visits count as censored), turned
into a probability mass over half working days and convolved over the remaining stages.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

BIN = 0.5  # working days per bin of the forecast distributions
Pmf = list[float]  # mass at bin i = i · BIN working days


def percentile(values: Iterable[float], p: float) -> float | None:
    data = sorted(values)
    if not data:
        return None
    rank = max(1, math.ceil(p / 100 * len(data)))
    return data[rank - 1]


def percentile_of_histogram(hist: Mapping[int, int], p: float) -> int | None:
    """The nearest-rank percentile of a multiset given as {value: count}."""
    n = sum(hist.values())
    if not n:
        return None
    rank = max(1, math.ceil(p / 100 * n))
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= rank:
            return value
    return None  # pragma: no cover


def kaplan_meier(observations: Iterable[tuple[float, bool]]) -> list[tuple[float, float]]:
    """Survival steps [(t, S(t))] from (duration, ended) pairs; ended=False is censored.

    At a time where events and censorings tie, the events come first (the usual convention).
    """
    obs = sorted(observations, key=lambda o: (o[0], not o[1]))
    at_risk = len(obs)
    s = 1.0
    steps: list[tuple[float, float]] = []
    i = 0
    while i < len(obs):
        t = obs[i][0]
        events = censored = 0
        while i < len(obs) and obs[i][0] == t:
            if obs[i][1]:
                events += 1
            else:
                censored += 1
            i += 1
        if events:
            s *= 1 - events / at_risk
            steps.append((t, s))
        at_risk -= events + censored
    return steps


def km_pmf(observations: Iterable[tuple[float, bool]]) -> Pmf:
    """The Kaplan–Meier distribution as masses per half working day.

    Mass the estimate leaves beyond the last event (all later cases censored) is put at the
    longest time observed: a forecast then says "at least this long" rather than nothing.
    """
    obs = list(observations)
    if not obs:
        return [1.0]
    longest = max(t for t, _ in obs)
    pmf = [0.0] * (_bin(longest) + 1)
    prev = 1.0
    for t, s in kaplan_meier(obs):
        pmf[_bin(t)] += prev - s
        prev = s
    if prev > 1e-12:
        pmf[_bin(longest)] += prev
    return pmf


def _bin(days: float) -> int:
    return max(0, round(days / BIN))


def conditional(pmf: Pmf, elapsed: float) -> Pmf:
    """Remaining time given `elapsed` already spent: mass beyond elapsed, shifted and renormalised."""
    start = _bin(elapsed)
    tail = pmf[start + 1 :] if start + 1 < len(pmf) else []
    total = sum(tail)
    if total <= 1e-12:
        return [1.0]  # longer than anyone before: nothing left to expect beyond now
    return [0.0] + [m / total for m in tail]


def convolve(a: Pmf, b: Pmf) -> Pmf:
    out = [0.0] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        if x:
            for j, y in enumerate(b):
                out[i + j] += x * y
    return out


def quantile(pmf: Pmf, p: float) -> float:
    """The smallest time (working days) with cumulative mass ≥ p/100."""
    want = p / 100 - 1e-9
    acc = 0.0
    for i, m in enumerate(pmf):
        acc += m
        if acc >= want:
            return i * BIN
    return (len(pmf) - 1) * BIN

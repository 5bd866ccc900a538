"""Did a campaign pay? Recipients against the holdout: conversion and revenue uplift.

Pure arithmetic (no database), so ``/campaigns`` and its tests share one definition.

- Conversion (share of customers who bought at least once in the report window): the
  difference of two proportions with **Newcombe's hybrid score interval** (Newcombe 1998,
  method 10: Wilson score intervals of each proportion combined), which stays inside
  [-1, 1] and behaves with small groups and zero counts, unlike the plain Wald interval.
- Revenue per customer (zeros included): the difference of two means with a **Welch
  normal-approximation interval** (each group's own sample variance).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z_95 = 1.959963984540054  # the two-sided 95 % normal quantile


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def wilson(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a proportion; (0, 1) for an empty group."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError("successes must lie between 0 and n")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion_difference(x1: int, n1: int, x2: int, n2: int, z: float = Z_95) -> Interval | None:
    """p1 - p2 with Newcombe's hybrid score interval; None when a group is empty."""
    if n1 <= 0 or n2 <= 0:
        return None
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Interval(d, low, high)


def _mean_var(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return mean, var


def mean_difference(
    first: Sequence[float], second: Sequence[float], z: float = Z_95
) -> Interval | None:
    """mean(first) - mean(second) with a Welch normal interval; None when a group has fewer
    than two values (no variance to estimate)."""
    if len(first) < 2 or len(second) < 2:
        return None
    m1, v1 = _mean_var(first)
    m2, v2 = _mean_var(second)
    d = m1 - m2
    half = z * math.sqrt(v1 / len(first) + v2 / len(second))
    return Interval(d, d - half, d + half)

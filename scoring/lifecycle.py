"""Lifecycle stage on the customer evolution ladder (seed 002, "Эволюция потребителя").

Ladder: potential -> first_time -> repeat -> client -> reliable_friend -> partner,
with the side branch "passive or former customers" (lapsed). The seed draws the
ladder but gives no numbers; the thresholds below are the product's defaults and
live in ``LifecycleThresholds`` so each business can set its own.

Rules:
- purchases are counted as purchase days (``scoring.repeat``: several receipts on one
  day are one occasion), so "repeat" here is the repeat buyer of every other number;
- 0 purchases -> potential (a contact who has not bought yet);
- otherwise the highest rung whose minimum number of purchase days (and, for the top
  two rungs, minimum tenure = days since the first purchase) is met; the repeat rung
  starts at ``scoring.repeat.REPEAT_FROM_DAYS`` (2), not configurable;
- lapsed overrides the rung when days since the last purchase exceed
  max(lapse_factor * own mean interval, min_lapse_days). A one-time buyer has no
  own interval: the caller may pass the population's typical interval, otherwise
  min_lapse_days alone applies. Potential customers never lapse.
The rung reached before lapsing is kept (``ladder``), so a lapsed partner and a
lapsed first-timer can be treated differently.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scoring.repeat import REPEAT_FROM_DAYS


class Stage(IntEnum):
    """Ladder rungs in order; LAPSED is the side branch."""

    POTENTIAL = 0
    FIRST_TIME = 1
    REPEAT = 2
    CLIENT = 3
    RELIABLE_FRIEND = 4
    PARTNER = 5
    LAPSED = 6


STAGE_NAMES: tuple[str, ...] = tuple(s.name.lower() for s in Stage)


@dataclass(frozen=True)
class LifecycleThresholds:
    """Where each rung starts; defaults are the product's, not the seed's."""

    client_from_purchases: int = 4
    reliable_friend_from_purchases: int = 8
    reliable_friend_min_tenure_days: float = 180.0
    partner_from_purchases: int = 15
    partner_min_tenure_days: float = 365.0
    lapse_factor: float = 3.0
    min_lapse_days: float = 90.0

    def __post_init__(self) -> None:
        counts = (
            1,
            REPEAT_FROM_DAYS,
            self.client_from_purchases,
            self.reliable_friend_from_purchases,
            self.partner_from_purchases,
        )
        if any(b <= a for a, b in itertools.pairwise(counts)):
            raise ValueError(f"purchase thresholds must increase from 1: {counts}")
        if not 0 <= self.reliable_friend_min_tenure_days <= self.partner_min_tenure_days:
            raise ValueError("tenure thresholds must be >= 0 and non-decreasing")
        if self.lapse_factor <= 0 or self.min_lapse_days < 0:
            raise ValueError("lapse_factor must be > 0 and min_lapse_days >= 0")

    def rungs(self) -> tuple[tuple[Stage, int, float], ...]:
        """(stage, minimum purchases, minimum tenure days) for each bought rung."""
        return (
            (Stage.FIRST_TIME, 1, 0.0),
            (Stage.REPEAT, REPEAT_FROM_DAYS, 0.0),
            (Stage.CLIENT, self.client_from_purchases, 0.0),
            (
                Stage.RELIABLE_FRIEND,
                self.reliable_friend_from_purchases,
                self.reliable_friend_min_tenure_days,
            ),
            (Stage.PARTNER, self.partner_from_purchases, self.partner_min_tenure_days),
        )


@dataclass(frozen=True, eq=False)
class LifecycleResult:
    """Stage per customer (LAPSED where lapsed), the rung reached, the lapse flag."""

    stage: NDArray[np.int8]
    ladder: NDArray[np.int8]
    lapsed: NDArray[np.bool_]

    def stage_labels(self) -> list[str]:
        return [STAGE_NAMES[s] for s in self.stage.tolist()]


def lifecycle_stages(
    n_purchases: ArrayLike,
    days_since_first: ArrayLike,
    days_since_last: ArrayLike,
    mean_interval_days: ArrayLike,
    thresholds: LifecycleThresholds | None = None,
    *,
    population_interval_days: float | None = None,
) -> LifecycleResult:
    """Place each customer on the evolution ladder (vectorised).

    ``n_purchases``: the customer's purchase days (see the module docstring).

    ``mean_interval_days``: the customer's own mean days between purchases; NaN for
    customers with fewer than two purchases. Day inputs of non-buyers are ignored.
    """
    th = thresholds or LifecycleThresholds()
    count = np.asarray(n_purchases, dtype=np.float64)
    tenure = np.asarray(days_since_first, dtype=np.float64)
    since_last = np.asarray(days_since_last, dtype=np.float64)
    interval = np.asarray(mean_interval_days, dtype=np.float64)
    if not (count.shape == tenure.shape == since_last.shape == interval.shape) or count.ndim != 1:
        raise ValueError("inputs must be 1-D arrays of equal length")
    if not np.all(np.isfinite(count)) or np.any(count < 0):
        raise ValueError("n_purchases must be finite and >= 0")
    bought = count > 0
    if not (np.all(np.isfinite(tenure[bought])) and np.all(np.isfinite(since_last[bought]))):
        raise ValueError("days_since_first and days_since_last must be finite for buyers")

    ladder = np.full(count.size, Stage.POTENTIAL, dtype=np.int8)
    for stage, min_count, min_tenure in th.rungs():  # a handful of rungs, not customers
        reached = bought & (count >= min_count) & (tenure >= min_tenure)
        ladder[reached] = stage

    own = np.where(np.isfinite(interval) & (interval > 0), interval, np.nan)
    if population_interval_days is not None:
        own = np.where(np.isnan(own), float(population_interval_days), own)
    allowed_gap = np.fmax(th.lapse_factor * own, th.min_lapse_days)  # fmax skips NaN
    lapsed = bought & (since_last > allowed_gap)
    stage = np.where(lapsed, np.int8(Stage.LAPSED), ladder).astype(np.int8)
    return LifecycleResult(stage=stage, ladder=ladder, lapsed=lapsed)

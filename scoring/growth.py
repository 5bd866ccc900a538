"""Average monthly sales growth per customer, the input of the rating scale (seed 002).

Seed 002 scores "Среднемесячный темп прироста продаж" (average monthly growth of
sales) but does not say how to compute it. We use the standard statistical
definition of an average rate of increase (the geometric mean of month-on-month
growth, which only needs the first and last levels):

    growth % = ((y_last / y_first) ** (1 / (months_between)) - 1) * 100

- ``y_first`` is the customer's first month with a positive total inside the window
  (a customer who started mid-window is measured from their start);
- ``y_last`` is the window's last month (a customer who stopped buying shows -100%);
- with fewer than two months between them the growth is undefined: we return 0.0
  and ``defined = False`` (0 growth scores 0 points, the neutral reading).

Totals are money as floats (statistics only). Lumpy buyers (one order every few
months) make month-level growth noisy; callers may pass quarterly totals, in which
case the result is per quarter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True, eq=False)
class GrowthResult:
    """Growth in percent per customer and whether it could be measured."""

    growth_pct: NDArray[np.float64]
    defined: NDArray[np.bool_]


def average_monthly_growth_pct(monthly_totals: ArrayLike) -> GrowthResult:
    """Geometric average growth per row of a (customers x months) array of totals."""
    y = np.asarray(monthly_totals, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError("monthly_totals must be 2-D: customers x months, oldest first")
    if not np.all(np.isfinite(y)) or np.any(y < 0):
        raise ValueError("monthly totals must be finite and non-negative")
    n, months = y.shape
    growth = np.zeros(n, dtype=np.float64)
    if months == 0:
        return GrowthResult(growth, np.zeros(n, dtype=bool))
    positive = y > 0
    first = np.where(positive.any(axis=1), positive.argmax(axis=1), months - 1)
    steps = (months - 1) - first
    defined = steps >= 1
    rows = np.flatnonzero(defined)
    ratio = y[rows, months - 1] / y[rows, first[rows]]
    growth[rows] = (np.power(ratio, 1.0 / steps[rows]) - 1.0) * 100.0
    return GrowthResult(growth, defined)

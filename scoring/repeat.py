"""A repeat buyer, defined once for every number that counts them.

A purchase occasion is a local calendar day with at least one live purchase: two
receipts at one visit are one occasion. BG/NBD's frequency counts the same thing (days
with purchases - 1, Fader, Hardie & Lee 2005), so the /rescore summary, the lifecycle
stage "repeat buyer" (seed 002's ladder: «повторный покупатель») and the KPI
repeat-purchase rate all use these two functions on purchase days.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

REPEAT_FROM_DAYS = 2


def repeat_purchases(purchase_days: ArrayLike) -> NDArray[np.int64]:
    """Repeat purchases: purchase days after the first (BG/NBD's x)."""
    return np.maximum(np.asarray(purchase_days, dtype=np.int64) - 1, 0)


def is_repeat_buyer(purchase_days: ArrayLike) -> NDArray[np.bool_]:
    """Bought on at least two different days."""
    return np.asarray(purchase_days, dtype=np.int64) >= REPEAT_FROM_DAYS

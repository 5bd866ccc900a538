"""Split values into equal groups by rank, with ties kept together.

Shared by RFM quintiles and value terciles. The seeds say "sort the customers and
split them into N equal groups" (002); when equal values straddle a group border
that literal recipe would give equal customers different scores, so we use the
*midpoint rank* rule instead:

    the n customers occupy the unit interval in sorted order, each a slot of width 1/n;
    a block of k tied values occupies k adjacent slots [below/n, (below + k)/n];
    its midpoint m = (2*below + k) / (2n) lies strictly inside (0, 1);
    group = floor(N * m), i.e. 0 (lowest) .. N-1 (highest).

Properties: equal values always share a group; the rule is monotone; with distinct
values and n divisible by N the groups are exactly equal (the seed's recipe); with
fewer than N customers the groups spread symmetrically (n=1 -> middle group,
n=3 of 5 -> 0, 2, 4); all-equal values land in the middle group ("no information").
Integer arithmetic makes the border cases exact.

Whole-number values in a range not much wider than their count (days since the last
purchase, numbers of purchases) are counted instead of sorted: a bincount gives every
tie block at once in O(n); the result is the same as the sorting path's.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

COUNTING_SPAN = 4  # count, not sort, when max - min <= 4 n + 1,000,000 ...
COUNTING_MIN = 1_000_000  # ... of whole numbers (the bincount stays small)


def _counted_groups(offsets: NDArray[np.int64], n_groups: int) -> NDArray[np.int64]:
    """The midpoint-rank groups of non-negative integers, by counting."""
    n = offsets.size
    counts = np.bincount(offsets)
    ends = np.cumsum(counts)  # per distinct value: 'below + k'
    starts = ends - counts  # 'below'
    group_per_value = (n_groups * (starts + ends)) // (2 * n)
    return group_per_value[offsets].astype(np.int64, copy=False)


def equal_groups(values: ArrayLike, n_groups: int) -> NDArray[np.int64]:
    """Group index 0..n_groups-1 per value (higher value -> higher group).

    Values must be finite; callers remove customers that are not ranked.
    Runs in O(n log n) with one argsort and no Python loop over values.
    """
    if n_groups < 1:
        raise ValueError(f"n_groups must be >= 1, got {n_groups}")
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError("values must be one-dimensional")
    n = v.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.all(np.isfinite(v)):
        raise ValueError("values must be finite")
    low, high = float(v.min()), float(v.max())
    if high - low <= COUNTING_SPAN * n + COUNTING_MIN and np.array_equal(v, np.floor(v)):
        return _counted_groups((v - low).astype(np.int64), n_groups)
    order = np.argsort(v, kind="stable")
    sv = v[order]
    new_block = np.empty(n, dtype=bool)
    new_block[0] = True
    np.not_equal(sv[1:], sv[:-1], out=new_block[1:])
    starts = np.flatnonzero(new_block)  # 'below' for each block
    ends = np.append(starts[1:], n)  # 'below + k' for each block
    block_of_sorted = np.cumsum(new_block) - 1
    group_per_block = (n_groups * (starts + ends)) // (2 * n)
    groups = np.empty(n, dtype=np.int64)
    groups[order] = group_per_block[block_of_sorted]
    return groups

"""Lifetime value that never falls with more purchases: a floor over the model's values.

The owner's rule: of two customers with the same recency (days since the last purchase)
and the same average check, the one with more purchases never gets a lower lifetime
value. The purchase model does not promise it: a customer who bought often and then went
silent is, to the model, more likely gone than one who bought once as long ago (the
"frequency paradox" of BG/NBD-type models), and a one-time buyer is valued at the
population's mean check. So the model's value is raised, never lowered, to

1. what a one-time buyer with the same recency and check gets (``one_time``: the
   caller computes it with the same model), for every repeat buyer; and
2. the highest value among the customers being scored who have the same recency and
   the same check and fewer purchases.

The expected purchases and the chance still active stay the model's; only the money
value is floored, and ``floored`` says for whom.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def monotone_floor(
    clv: NDArray[np.float64],
    x: NDArray[np.float64],
    recency: NDArray[np.float64],
    check: NDArray[np.float64],
    one_time: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """(floored values, which were raised) for the rule in the module doc."""
    out = np.where(x > 0, np.maximum(clv, one_time), clv)
    n = out.size
    if n > 1:
        out = np.maximum(out, _best_with_fewer(out, x, recency, check))
    return out, out > clv


def _best_with_fewer(
    values: NDArray[np.float64],
    x: NDArray[np.float64],
    recency: NDArray[np.float64],
    check: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Per customer, the highest value in their (recency, check) group among those with
    fewer purchases (-inf when none): a segmented running maximum, exact in floats."""
    n = values.size
    order = np.lexsort((x, check, recency))
    rec, chk, xs = recency[order], check[order], x[order]
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = (rec[1:] != rec[:-1]) | (chk[1:] != chk[:-1])
    new_block = new_group.copy()  # a block: one group, one number of purchases
    new_block[1:] |= xs[1:] != xs[:-1]
    group = np.cumsum(new_group) - 1
    # the running maximum over ranks, reset per group by an integer offset (exact)
    ranks = np.empty(n, dtype=np.int64)
    ranks[np.argsort(values[order], kind="stable")] = np.arange(n)
    running = np.maximum.accumulate(ranks + group * n) - group * n
    sorted_values = np.sort(values[order], kind="stable")
    block_start = np.maximum.accumulate(np.where(new_block, np.arange(n), 0))
    before = block_start - 1  # the last customer of the previous block
    has_fewer = (block_start > 0) & ~new_group[block_start]
    best_sorted = np.full(n, -np.inf)
    best_sorted[has_fewer] = sorted_values[running[before[has_fewer]]]
    best = np.empty(n)
    best[order] = best_sorted
    return best

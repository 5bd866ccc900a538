"""A customer's profit after the programme's own costs (seed 003).

Seed 003 (Heskett, Sasser, Schlesinger): "Для вычисления текущего вклада в прибыльность
компании для каждого покупателя прямые затраты производства услуг, включая затраты на
отношения с покупателем, вычитаются из дохода, полученного от него." The loyalty
programme is such a relationship cost. Per customer it gave:

- points, at their money value (``point_value`` per point), counted when given and net
  of what was taken back or expired: earned, bonus (welcome, referral, birthday and
  holiday gifts, points offers), owner adjustments and opening balances, minus expiry and
  reversals of those; a redemption spends points already counted, so it is not counted
  again;
- money taken off purchases by percent and fixed offers (``discount``).

A purchase is booked at what was paid, so with ``margin`` the share of revenue left after
the direct costs of the goods, the list price is ``paid + discount`` and

    profit = margin * (paid + discount) - discount - points value
           = margin * paid - programme_cost,
    programme_cost = (1 - margin) * discount + points value.

``programme_cost`` is what the programme cost beyond the margin on what was paid; CLV
subtracts it per expected purchase at the customer's own rate so far
(``cost_per_purchase``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def programme_cost(
    points: ArrayLike, discount: ArrayLike, point_value: float, margin: float
) -> NDArray[np.float64]:
    """Money the programme cost per customer beyond the margin on what they paid."""
    pts = np.asarray(points, dtype=np.float64)
    off = np.asarray(discount, dtype=np.float64)
    return pts * point_value + (1.0 - margin) * off


def net_margin(
    paid: ArrayLike, points: ArrayLike, discount: ArrayLike, point_value: float, margin: float
) -> NDArray[np.float64]:
    """Profit from the customer after the programme's own costs (module doc)."""
    spent = np.asarray(paid, dtype=np.float64)
    return margin * spent - programme_cost(points, discount, point_value, margin)


def cost_per_purchase(cost: ArrayLike, purchase_days: ArrayLike) -> NDArray[np.float64]:
    """The programme's cost per purchase occasion so far (0 without purchases)."""
    total = np.asarray(cost, dtype=np.float64)
    days = np.asarray(purchase_days, dtype=np.float64)
    return np.divide(total, days, out=np.zeros_like(total), where=days > 0)

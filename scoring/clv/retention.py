"""What +5 points of retention would be worth to this business, from its own model.

Seed 002 (the lecture notes) tabulates «Влияние увеличения коэффициента удержания
потребителей на 5 процентов на общую пожизненную прибыль, получаемую от типичного
потребителя» by industry (car service and repair: +81 %). This computes the same for the
business from its purchase model (``scoring.clv.mbgnbd``):

- retention is the model's chance that a customer stays after a purchase (the first one
  included), on average 1 - E[p] = b / (a + b); "+5 points" raises that mean by
  ``step`` (capped at ``MAX_RETENTION``), keeping a + b, i.e. how much customers differ
  from each other, and the purchase rates (r, alpha) as fitted;
- a typical customer's lifetime profit is the net income of their first purchase plus
  the discounted net income of the purchases a new customer is expected to make over the
  horizon: net * (1 + sum_k dE_k / (1 + d)^k), net = margin * value - cost per purchase,
  with the business's mean value per purchase and the programme's mean cost per
  purchase;
- the customer base's is the same sum over today's customers from their own histories
  (their first purchases are past, so not counted).

Horizon, discount rate and margin are the lifetime value's (``CLVSettings``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from scoring.clv.lifetime_value import CLVSettings, discount_factors, purchases_per_period
from scoring.clv.mbgnbd import MBGNBDParams, expected_purchases

RETENTION_STEP = 0.05  # the sources' "+5 %", read as percentage points
MAX_RETENTION = 0.999  # the model needs some dropout


@dataclass(frozen=True)
class RetentionWhatIf:
    """Lifetime profit at today's retention and at retention + ``step``."""

    retention: float  # today's mean chance of staying after a purchase
    raised_retention: float
    typical_today: float  # a typical new customer's lifetime profit (module doc)
    typical_raised: float
    base_today: float  # today's customers, their future purchases only
    base_raised: float
    customers: int

    @property
    def typical_uplift_pct(self) -> float | None:
        if self.typical_today <= 0:
            return None
        return 100.0 * (self.typical_raised / self.typical_today - 1.0)

    @property
    def base_uplift_pct(self) -> float | None:
        if self.base_today <= 0:
            return None
        return 100.0 * (self.base_raised / self.base_today - 1.0)


def raise_retention(params: MBGNBDParams, step: float = RETENTION_STEP) -> MBGNBDParams:
    """The same model with the mean retention b / (a + b) raised by ``step`` (capped),
    a + b kept."""
    total = params.a + params.b
    retention = min(params.retention + step, MAX_RETENTION)
    return replace(params, a=total * (1.0 - retention), b=total * retention)


def typical_lifetime_profit(
    params: MBGNBDParams, net_per_purchase: float, settings: CLVSettings
) -> float:
    """A new customer's first purchase plus their discounted expected purchases."""
    ends = settings.period_length * np.arange(1, settings.horizon_periods + 1)
    per_period = np.diff(expected_purchases(params, ends), prepend=0.0)
    return net_per_purchase * (1.0 + float(per_period @ discount_factors(settings)))


def retention_whatif(
    params: MBGNBDParams,
    history: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]],
    net_per_purchase: NDArray[np.float64],
    typical_net: float,
    settings: CLVSettings,
    *,
    discounted_today: NDArray[np.float64] | None = None,
    step: float = RETENTION_STEP,
) -> RetentionWhatIf:
    """Lifetime profit today and at +``step`` retention (module doc).

    ``history``: (x, t_x, T) of today's customers; ``net_per_purchase``: each one's
    expected net income per purchase; ``typical_net``: the business's mean;
    ``discounted_today``: their discounted expected purchases under ``params`` if already
    computed (``CLVResult.discounted_purchases``).
    """
    raised = raise_retention(params, step)
    factors = discount_factors(settings)
    if discounted_today is None:
        discounted_today = purchases_per_period(params, *history, settings) @ factors
    discounted_raised = purchases_per_period(raised, *history, settings) @ factors
    return RetentionWhatIf(
        retention=params.retention,
        raised_retention=raised.retention,
        typical_today=typical_lifetime_profit(params, typical_net, settings),
        typical_raised=typical_lifetime_profit(raised, typical_net, settings),
        base_today=float(net_per_purchase @ discounted_today),
        base_raised=float(net_per_purchase @ discounted_raised),
        customers=int(np.asarray(history[0]).size),
    )

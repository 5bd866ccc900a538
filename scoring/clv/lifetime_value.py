"""Customer lifetime value as Heskett's net present value of expected net income.

Seed 003 (Heskett, Sasser, Schlesinger): "Жизненная ценность покупателя может быть
определена как чистая приведенная стоимость чистого ожидаемого дохода в
долгосрочном периоде" — lifetime value is the net present value of the expected
net income over the long run; current contribution = revenue minus direct costs.

Here, over ``horizon_periods`` periods of ``period_length`` time units each:

    CLV = sum_k  (margin * E[value] - cost_per_purchase) * dE_k / (1 + discount_rate) ** k

where dE_k are the purchases expected in period k (cash discounted at the end of
the period). ``margin`` is the share of revenue left after direct costs and
``discount_rate`` the rate per period (e.g. monthly); both are the business's.

``estimate_clv`` fits BG/NBD (how many purchases, alive or not) and Gamma-Gamma (how
much per purchase) on the business's own history. When a fit is refused or
unusable it falls back, per model, to a simpler estimate and says so:

- purchases "own_interval": the customer's own purchase rate x / t_x (their mean
  interval between purchases); an "alive" heuristic exp(-rate * (T - t_x)) (the chance
  of a silence this long at their own pace) scales it; no further dropout is assumed
  inside the horizon, so this is optimistic and labelled so;
- purchases "population_rate", for customers without an interval of their own (one
  purchase day): the population's purchase rate, every purchase (first ones included)
  over all the time observed since first purchases, (sum(x) + n) / sum(T), in the same
  heuristic: a one-time buyer silent for 400 days where people buy every 100 days on
  average is exp(-4) = 2 % likely still active, not 100 % (the pooled repeat rate
  sum(x) / sum(T) would be 0 before anyone repeats, and with it CLV);
- chance still active "bg_nbd+population": BG/NBD lets customers drop out only after
  a repeat purchase, so its P(alive) is 1 for every one-time buyer however long ago;
  for them the population estimate above is used instead (their expected purchases
  stay the model's), and labelled so;
- value "own_average": the customer's own average check, or the population's mean
  check when they have none.
Numbers are never NaN; thin data is labelled through ``DataSupport`` and statuses.
Money is float here (statistics); convert at the boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scoring.calendar import DAYS_PER_MONTH
from scoring.clv._mle import as_history, compress_rows
from scoring.clv.bgnbd import (
    BGNBDFit,
    BGNBDParams,
    conditional_expected_purchases,
    fit_bgnbd,
    probability_alive,
)
from scoring.clv.gamma_gamma import GammaGammaFit, expected_average_value, fit_gamma_gamma
from scoring.clv.status import DataSupport


@dataclass(frozen=True)
class CLVSettings:
    """The business's economics and the horizon; margin and discount are required."""

    margin: float
    discount_rate: float
    horizon_periods: int = 12
    period_length: float = DAYS_PER_MONTH
    cost_per_purchase: float = 0.0
    min_repeat_buyers: int = 10

    def __post_init__(self) -> None:
        if not 0.0 <= self.margin <= 1.0:
            raise ValueError(f"margin must be a share of revenue in [0, 1], got {self.margin}")
        if not 0.0 <= self.discount_rate < 1.0:
            raise ValueError(
                f"discount_rate per period must be in [0, 1), got {self.discount_rate}"
            )
        if self.horizon_periods < 1 or self.period_length <= 0:
            raise ValueError("horizon_periods must be >= 1 and period_length > 0")
        if self.cost_per_purchase < 0:
            raise ValueError("cost_per_purchase must be >= 0")


def discount_factors(settings: CLVSettings) -> NDArray[np.float64]:
    """1 / (1 + d) ** k for k = 1..horizon."""
    k = np.arange(1, settings.horizon_periods + 1, dtype=np.float64)
    return 1.0 / (1.0 + settings.discount_rate) ** k


def npv_of_purchases(
    purchases_per_period: NDArray[np.float64],
    value_per_purchase: NDArray[np.float64],
    settings: CLVSettings,
) -> NDArray[np.float64]:
    """Discounted net income from (customers x periods) expected purchases."""
    net = settings.margin * value_per_purchase - settings.cost_per_purchase
    return net * (purchases_per_period @ discount_factors(settings))


def bgnbd_purchases_per_period(
    params: BGNBDParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, settings: CLVSettings
) -> NDArray[np.float64]:
    """Expected purchases in each future period (customers x periods) from BG/NBD.

    Computed once per distinct (x, t_x, T) history and spread back to customers.
    """
    xa, ta, Ta = as_history(x, t_x, T)
    (xu, tu, Tu), _, inverse = compress_rows(xa, ta, Ta)
    ends = settings.period_length * np.arange(1, settings.horizon_periods + 1)
    cumulative = np.zeros((xu.size, ends.size))
    for k, end in enumerate(ends):  # a dozen horizons, not customers
        cumulative[:, k] = conditional_expected_purchases(params, end, xu, tu, Tu)
    return np.diff(cumulative, axis=1, prepend=0.0)[inverse]


def population_rate(x: NDArray[np.float64], T: NDArray[np.float64]) -> float:
    """Purchases per time unit across all customers, first purchases included (module doc).

    0 when no time has been observed yet (everyone bought in the current period).
    """
    total_time = float(T.sum())
    return (float(x.sum()) + x.size) / total_time if total_time > 0 else 0.0


def own_interval_rates(
    x: NDArray[np.float64], t_x: NDArray[np.float64], T: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Fallback purchase rate per time unit and the 'alive' heuristic (see module doc):
    the customer's own rate where they have an interval, the population's otherwise."""
    has_interval = (x > 0) & (t_x > 0)
    rate = np.full(x.shape, population_rate(x, T))
    rate[has_interval] = x[has_interval] / t_x[has_interval]
    alive = np.exp(-rate * (T - t_x))
    return rate, alive


# Per-customer labels of how purchases and the chance still active were estimated.
MODEL_METHODS = ("bg_nbd", "bg_nbd+population")
FALLBACK_METHODS = ("own_interval", "population_rate")


def customer_methods(
    x: NDArray[np.float64], t_x: NDArray[np.float64], fitted: bool
) -> NDArray[np.str_]:
    """Which estimate each customer got (labels above; the module doc says what they are)."""
    if fitted:
        return np.where(x > 0, MODEL_METHODS[0], MODEL_METHODS[1])
    return np.where((x > 0) & (t_x > 0), FALLBACK_METHODS[0], FALLBACK_METHODS[1])


@dataclass(frozen=True, eq=False)
class CLVResult:
    """Per-customer CLV and its parts, with how they were obtained."""

    clv: NDArray[np.float64]
    expected_purchases: NDArray[np.float64]  # over the whole horizon, undiscounted
    discounted_purchases: NDArray[np.float64]  # the same, each discounted to today
    p_alive: NDArray[np.float64]
    expected_value: NDArray[np.float64]
    purchases_method: str  # "bg_nbd" or "own_interval"
    methods: NDArray[np.str_]  # per customer: one of MODEL_METHODS or FALLBACK_METHODS
    value_method: str  # "gamma_gamma" or "own_average"
    purchases_fit: BGNBDFit
    value_fit: GammaGammaFit
    support: DataSupport

    @property
    def model_based(self) -> bool:
        """True when both models were fitted (CLV 'can be fitted' in the house rule)."""
        return self.purchases_method == "bg_nbd" and self.value_method == "gamma_gamma"


def estimate_clv(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    mean_value: ArrayLike,
    settings: CLVSettings,
    *,
    average_check: ArrayLike | None = None,
) -> CLVResult:
    """Fit both models on this history and return CLV per customer (never NaN).

    ``x``: repeat purchases; ``t_x``: time of the last purchase after the first;
    ``T``: time since the first purchase; ``mean_value``: the mean value of the repeat
    purchases at the granularity of ``x`` (Fader, Hardie & Lee 2005: the first purchase
    excluded; with x = 0 Gamma-Gamma ignores it). ``average_check``: the customer's
    average over all purchases, which the "own_average" fallback uses (default:
    ``mean_value``). Time unit of t_x, T and ``settings.period_length`` must agree.
    """
    xa, ta, Ta = as_history(x, t_x, T)
    ma = _per_customer(mean_value, xa, "mean_value")
    check = ma if average_check is None else _per_customer(average_check, xa, "average_check")
    support = DataSupport(n_customers=int(xa.size), n_repeat_buyers=int((xa > 0).sum()))
    purchases_fit = fit_bgnbd(xa, ta, Ta, min_repeat_buyers=settings.min_repeat_buyers)
    per_period, p_alive, purchases_method = _expected_purchases(purchases_fit, xa, ta, Ta, settings)
    value_fit = fit_gamma_gamma(xa, ma, min_repeat_buyers=settings.min_repeat_buyers)
    value, value_method = _expected_value(value_fit, xa, ma, check)
    clv = npv_of_purchases(per_period, value, settings)
    return CLVResult(
        clv=clv,
        expected_purchases=per_period.sum(axis=1),
        discounted_purchases=per_period @ discount_factors(settings),
        p_alive=p_alive,
        expected_value=value,
        purchases_method=purchases_method,
        methods=customer_methods(xa, ta, purchases_method == "bg_nbd"),
        value_method=value_method,
        purchases_fit=purchases_fit,
        value_fit=value_fit,
        support=support,
    )


def _per_customer(values: ArrayLike, xa: NDArray[np.float64], name: str) -> NDArray[np.float64]:
    """``values`` as floats, one finite value per customer of ``xa``."""
    array = np.asarray(values, dtype=np.float64)
    if array.shape != xa.shape or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, one per customer")
    return array


def _expected_purchases(
    fit: BGNBDFit,
    xa: NDArray[np.float64],
    ta: NDArray[np.float64],
    Ta: NDArray[np.float64],
    settings: CLVSettings,
) -> tuple[NDArray[np.float64], NDArray[np.float64], str]:
    """Expected purchases per period of the horizon and P(alive), per customer, and the
    method: BG/NBD when it fitted and predicts finite numbers, else each customer's own
    interval."""
    if fit.fitted and fit.params is not None:
        per_period = bgnbd_purchases_per_period(fit.params, xa, ta, Ta, settings)
        p_alive = probability_alive(fit.params, xa, ta, Ta)
        one_time = xa == 0  # the model's P(alive) is 1 for them: use the population's
        p_alive[one_time] = np.exp(-population_rate(xa, Ta) * Ta[one_time])
        # A degenerate fit (e.g. repeat purchases with no time between them) can converge
        # to parameters whose predictions overflow: then the labelled fallback is used.
        if np.all(np.isfinite(per_period)) and np.all(np.isfinite(p_alive)):
            return per_period, p_alive, "bg_nbd"
    rate, p_alive = own_interval_rates(xa, ta, Ta)
    per_period = np.outer(
        rate * p_alive * settings.period_length, np.ones(settings.horizon_periods)
    )
    return per_period, p_alive, "own_interval"


def _expected_value(
    fit: GammaGammaFit, xa: NDArray[np.float64], ma: NDArray[np.float64], check: NDArray[np.float64]
) -> tuple[NDArray[np.float64], str]:
    """Expected value per purchase, per customer, and the method: Gamma-Gamma when it
    fitted, else the customer's own average check (the population's when they have none)."""
    if fit.fitted and fit.params is not None:
        return expected_average_value(fit.params, xa, ma), "gamma_gamma"
    positive = check > 0
    population = float(check[positive].mean()) if positive.any() else 0.0
    return np.where(positive, check, population), "own_average"

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

``estimate_clv`` fits the modified BG/NBD (how many purchases, alive or not;
``scoring.clv.mbgnbd``) and Gamma-Gamma (how much per purchase) on the business's own
history. When a fit is refused or unusable it falls back, per model, and says so:

- purchases "mbg_nbd_prior": the same model with the reference fit's shape and a time
  scale from the business's own pooled repeat rate (``mbgnbd.prior_params``); each
  customer's own history still moves their prediction, and one-time buyers can be
  gone, as in the fitted model;
- value "own_average": the customer's own average check, or the population's mean
  check when they have none.
Then ``scoring.clv.monotone`` floors the values so that more purchases at the same
recency and check never give less. Numbers are never NaN; thin data is labelled
through ``DataSupport`` and statuses. Time is in days (the fallback's prior rate is per
day). Money is float here (statistics); convert at the boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scoring.calendar import DAYS_PER_MONTH
from scoring.clv._mle import as_history, compress_rows
from scoring.clv.gamma_gamma import GammaGammaFit, expected_average_value, fit_gamma_gamma
from scoring.clv.mbgnbd import (
    MBGNBDFit,
    MBGNBDParams,
    conditional_expected_purchases,
    fit_mbgnbd,
    prior_params,
    probability_alive,
)
from scoring.clv.monotone import monotone_floor
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


def purchases_per_period(
    params: MBGNBDParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, settings: CLVSettings
) -> NDArray[np.float64]:
    """Expected purchases in each future period (customers x periods) from the model.

    Computed once per distinct (x, t_x, T) history and spread back to customers.
    """
    xa, ta, Ta = as_history(x, t_x, T)
    (xu, tu, Tu), _, inverse = compress_rows(xa, ta, Ta)
    ends = settings.period_length * np.arange(1, settings.horizon_periods + 1)
    cumulative = np.zeros((xu.size, ends.size))
    for k, end in enumerate(ends):  # a dozen horizons, not customers
        cumulative[:, k] = conditional_expected_purchases(params, end, xu, tu, Tu)
    return np.diff(cumulative, axis=1, prepend=0.0)[inverse]


# How purchases and the chance still active were estimated: the business's own fit, or
# the fallback (module doc). Per customer the label is the run's.
MODEL_METHODS = ("mbg_nbd",)
FALLBACK_METHODS = ("mbg_nbd_prior",)


@dataclass(frozen=True, eq=False)
class CLVResult:
    """Per-customer CLV and its parts, with how they were obtained."""

    clv: NDArray[np.float64]  # floored (scoring.clv.monotone)
    expected_purchases: NDArray[np.float64]  # over the whole horizon, undiscounted
    discounted_purchases: NDArray[np.float64]  # the same, each discounted to today
    p_alive: NDArray[np.float64]
    expected_value: NDArray[np.float64]
    purchases_method: str  # one of MODEL_METHODS or FALLBACK_METHODS
    methods: NDArray[np.str_]  # per customer: the same label
    value_method: str  # "gamma_gamma" or "own_average"
    purchases_fit: MBGNBDFit
    value_fit: GammaGammaFit
    support: DataSupport
    purchases_params: MBGNBDParams  # what the predictions used: the fit's or the prior
    floored: NDArray[np.bool_]  # CLV raised by the floor (scoring.clv.monotone)

    @property
    def model_based(self) -> bool:
        """True when both models were fitted (CLV 'can be fitted' in the house rule)."""
        return self.purchases_method in MODEL_METHODS and self.value_method == "gamma_gamma"


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
    average over all purchases, which the "own_average" fallback and the floor use
    (default: ``mean_value``). Time unit of t_x, T and ``settings.period_length``: days.
    """
    xa, ta, Ta = as_history(x, t_x, T)
    ma = _per_customer(mean_value, xa, "mean_value")
    check = ma if average_check is None else _per_customer(average_check, xa, "average_check")
    support = DataSupport(n_customers=int(xa.size), n_repeat_buyers=int((xa > 0).sum()))
    purchases_fit = fit_mbgnbd(xa, ta, Ta, min_repeat_buyers=settings.min_repeat_buyers)
    params, per_period, method = _expected_purchases(purchases_fit, xa, ta, Ta, settings)
    value_fit = fit_gamma_gamma(xa, ma, min_repeat_buyers=settings.min_repeat_buyers)
    value, value_method = _expected_value(value_fit, xa, ma, check)
    model_clv = npv_of_purchases(per_period, value, settings)
    clv, floored = _floored(model_clv, params, value_fit, xa, ta, Ta, ma, check, settings)
    return CLVResult(
        clv=clv,
        expected_purchases=per_period.sum(axis=1),
        discounted_purchases=per_period @ discount_factors(settings),
        p_alive=probability_alive(params, xa, ta, Ta),
        expected_value=value,
        purchases_method=method,
        methods=np.full(xa.shape, method),
        value_method=value_method,
        purchases_fit=purchases_fit,
        value_fit=value_fit,
        support=support,
        purchases_params=params,
        floored=floored,
    )


def _per_customer(values: ArrayLike, xa: NDArray[np.float64], name: str) -> NDArray[np.float64]:
    """``values`` as floats, one finite value per customer of ``xa``."""
    array = np.asarray(values, dtype=np.float64)
    if array.shape != xa.shape or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, one per customer")
    return array


def _expected_purchases(
    fit: MBGNBDFit,
    xa: NDArray[np.float64],
    ta: NDArray[np.float64],
    Ta: NDArray[np.float64],
    settings: CLVSettings,
) -> tuple[MBGNBDParams, NDArray[np.float64], str]:
    """The parameters used, expected purchases per period of the horizon per customer,
    and the method: the business's own fit when it fitted and predicts finite numbers,
    else the prior (``mbgnbd.prior_params``)."""
    if fit.fitted and fit.params is not None:
        per_period = purchases_per_period(fit.params, xa, ta, Ta, settings)
        # A degenerate fit (e.g. repeat purchases with no time between them) can converge
        # to parameters whose predictions overflow: then the labelled fallback is used.
        if np.all(np.isfinite(per_period)):
            return fit.params, per_period, MODEL_METHODS[0]
    params = prior_params(xa, Ta)
    return params, purchases_per_period(params, xa, ta, Ta, settings), FALLBACK_METHODS[0]


def _floored(
    clv: NDArray[np.float64],
    params: MBGNBDParams,
    value_fit: GammaGammaFit,
    xa: NDArray[np.float64],
    ta: NDArray[np.float64],
    Ta: NDArray[np.float64],
    ma: NDArray[np.float64],
    check: NDArray[np.float64],
    settings: CLVSettings,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """``monotone_floor`` with each customer's one-time twin: a customer who bought once,
    as long ago as their last purchase, with the same check, valued by the same models."""
    recency = Ta - ta
    zeros = np.zeros_like(xa)
    twin_value, _ = _expected_value(value_fit, zeros, ma, check)
    twin_purchases = purchases_per_period(params, zeros, zeros, recency, settings)
    twin = npv_of_purchases(twin_purchases, twin_value, settings)
    return monotone_floor(clv, xa, recency, check, twin)


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

"""Every score of every customer from their purchase history: the scoring job's arithmetic.

``score`` runs all the sources' methods (RFM, lifecycle, CLV, value and strategy, the
rating scale) over a ``PurchaseHistory`` — one array entry per customer, as the
database aggregates it — and returns ``Scores``. Pure: the storage side (the GROUP BY
that fills the history, the upsert of the results, the run bookkeeping) is
``bot.services.insight.scoring_job``; the settings arrive as a ``ScoreSettings`` value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from scoring.calendar import DAYS_PER_MONTH, calendar_months
from scoring.clv import CLVResult, CLVSettings, estimate_clv
from scoring.clv.retention import RetentionWhatIf, retention_whatif
from scoring.growth import average_monthly_growth_pct
from scoring.lifecycle import LifecycleResult, LifecycleThresholds, lifecycle_stages
from scoring.profit import cost_per_purchase, programme_cost
from scoring.rating_scale import RatingScalePreset, RatingScaleResult, score_rating_scale
from scoring.repeat import repeat_purchases
from scoring.rfm import RFMResult, rfm_scores
from scoring.value import (
    StrategyResult,
    ValueResult,
    relationship_strategies,
    value_basis,
    value_tiers,
)

# What the job can feed a rating-scale preset (SPEC: rating-scale inputs).
RATING_SCALE_INPUTS = frozenset(
    {"turnover_share_pct", "cooperation_months", "payment", "monthly_growth_pct"}
)


@dataclass
class PurchaseHistory:
    """One entry per customer. Days are local day numbers; money in integer minor units,
    ``minor_per_unit`` of them to the currency unit."""

    customer_id: NDArray[np.int64]
    purchases: NDArray[np.int64]
    purchase_days: NDArray[np.int64]
    spend_minor: NDArray[np.int64]
    first_day_minor: NDArray[np.int64]  # net spend on the first purchase day
    trailing_year_minor: NDArray[np.int64]  # net spend in the trailing 12 calendar months
    first_day: NDArray[np.float64]  # NaN without purchases
    last_day: NDArray[np.float64]
    created_day: NDArray[np.float64]  # fractional: sign-up time in local days
    payment_terms: NDArray[np.str_]
    minor_per_unit: int
    monthly_minor: NDArray[np.int64] | None = None  # customers x 12, oldest month first
    # What the programme gave (scoring.profit): points net of expiry and take-backs, and
    # money taken off by offers, all time and in the trailing 12 months; None: nothing.
    programme_points: NDArray[np.int64] | None = None
    trailing_points: NDArray[np.int64] | None = None
    discount_minor: NDArray[np.int64] | None = None
    trailing_discount_minor: NDArray[np.int64] | None = None
    point_value: float = 0.0  # money per point

    def programme_cost(self, margin: float, *, trailing: bool) -> NDArray[np.float64]:
        """The programme's cost per customer in money (``scoring.profit``)."""
        points = self.trailing_points if trailing else self.programme_points
        discount = self.trailing_discount_minor if trailing else self.discount_minor
        zeros = np.zeros(self.customer_id.shape, dtype=np.int64)
        return programme_cost(
            zeros if points is None else points,
            (zeros if discount is None else discount) / self.minor_per_unit,
            self.point_value,
            margin,
        )

    @property
    def monthly(self) -> NDArray[np.float64] | None:
        """Trailing monthly net spend in money units (the rating scale's input)."""
        return None if self.monthly_minor is None else self.monthly_minor / self.minor_per_unit


@dataclass(frozen=True)
class ScoreSettings:
    """What ``score`` takes from the configuration (the bot builds it from its settings)."""

    lifecycle: LifecycleThresholds
    clv_margin: float
    clv_discount_rate: float
    clv_horizon_months: int
    min_repeat_buyers: int
    strategy: Mapping[str, str] | None = None  # quadrant -> strategy; None: the default
    # The owner's expected future profit (CLV) for "profitable in future"; None: the margin
    # on one average purchase of the business (``future_profit_min``).
    future_profit_min: float | None = None
    rating: RatingScalePreset | None = None  # None: no rating scale


@dataclass
class Scores:
    rfm: RFMResult
    lifecycle: LifecycleResult
    clv: CLVResult | None
    clv_values: NDArray[np.float64]
    value: ValueResult
    strategy: StrategyResult
    rating: RatingScaleResult | None
    days_since_first: NDArray[np.float64]
    days_since_last: NDArray[np.float64]
    average: NDArray[np.float64]
    repeat_value: NDArray[np.float64]  # mean spend per repeat purchase day (Gamma-Gamma)
    margin_now: NDArray[np.float64]  # trailing 12 months, after the programme's costs
    programme_cost: NDArray[np.float64]  # all time, money (scoring.profit)
    future_min: float  # the expectation "profitable in future" was held to
    whatif: RetentionWhatIf | None = None  # +5 points of retention (scoring.clv.retention)


def score(history: PurchaseHistory, now_day: float, cfg: ScoreSettings) -> Scores:
    """All the sources' methods on the history, vectorised.

    ``now_day`` is today's local day number, like the history's days; the rating scale
    is scored when ``cfg.rating`` is set and the history carries the trailing monthly totals.
    """
    agg = history
    unit = agg.minor_per_unit
    bought = agg.purchases > 0
    spend = agg.spend_minor / unit
    average = np.divide(spend, agg.purchases, out=np.zeros_like(spend), where=bought)
    since_first = np.where(bought, now_day - agg.first_day, np.nan)
    since_last = np.where(bought, now_day - agg.last_day, np.nan)
    rfm = rfm_scores(np.nan_to_num(since_last, nan=0.0), agg.purchases, average)
    span = np.where(bought, agg.last_day - agg.first_day, 0.0)
    repeat = repeat_purchases(agg.purchase_days)
    repeat_value = _repeat_value(agg, repeat)
    interval = np.divide(span, repeat, out=np.full_like(span, np.nan), where=repeat > 0)
    lifecycle = lifecycle_stages(
        agg.purchase_days,  # the ladder counts purchase days (scoring.repeat)
        np.nan_to_num(since_first, nan=0.0),
        np.nan_to_num(since_last, nan=0.0),
        interval,
        cfg.lifecycle,
    )
    clv_result, clv_values = _clv(bought, repeat, span, since_first, repeat_value, average, cfg)
    cost = agg.programme_cost(cfg.clv_margin, trailing=False)
    if clv_result is not None:  # net of the programme's costs at the customer's own rate
        per_purchase = cost_per_purchase(cost[bought], agg.purchase_days[bought])
        clv_values[bought] -= per_purchase * clv_result.discounted_purchases
    tenure_months = np.maximum(np.nan_to_num(since_first, nan=0.0) / DAYS_PER_MONTH, 1.0)
    fitted = clv_result is not None and value_basis(clv_result.purchases_method) == "clv"
    value = value_tiers(clv_values if fitted else None, spend / tenure_months, rated=bought)
    margin_now, future_min, strategy = _strategies(agg, cfg, value, clv_values)
    value = ValueResult(tier=strategy.value_tier, basis=value.basis)
    rating = _rating(agg, now_day, cfg.rating)
    whatif = _whatif(agg, cfg, clv_result, cost, (repeat, span, since_first))
    return Scores(
        rfm, lifecycle, clv_result, clv_values, value, strategy, rating,
        since_first, since_last, average, repeat_value, margin_now, cost, future_min, whatif,
    )  # fmt: skip


def _clv(
    bought: NDArray[np.bool_],
    repeat: NDArray[np.int64],
    span: NDArray[np.float64],
    since_first: NDArray[np.float64],
    repeat_value: NDArray[np.float64],
    average: NDArray[np.float64],
    cfg: ScoreSettings,
) -> tuple[CLVResult | None, NDArray[np.float64]]:
    """CLV of the customers who bought (NaN for the rest), and the fit it came from."""
    clv_values = np.full(span.shape, np.nan)
    if not bought.any():
        return None, clv_values
    clv_result = estimate_clv(
        *_model_history(bought, repeat, span, since_first),
        repeat_value[bought],
        clv_settings(cfg),
        average_check=average[bought],
    )
    clv_values[bought] = clv_result.clv
    return clv_result, clv_values


def clv_settings(cfg: ScoreSettings) -> CLVSettings:
    return CLVSettings(
        margin=cfg.clv_margin,
        discount_rate=cfg.clv_discount_rate,
        horizon_periods=cfg.clv_horizon_months,
        period_length=DAYS_PER_MONTH,
        min_repeat_buyers=cfg.min_repeat_buyers,
    )


def _model_history(
    bought: NDArray[np.bool_],
    repeat: NDArray[np.int64],
    span: NDArray[np.float64],
    since_first: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(x, t_x, T) of the customers who bought, in days, as the purchase model takes them."""
    x = repeat[bought].astype(np.float64)
    return x, span[bought], np.maximum(since_first[bought], span[bought])


def _whatif(
    agg: PurchaseHistory,
    cfg: ScoreSettings,
    clv: CLVResult | None,
    cost: NDArray[np.float64],
    days: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]],
) -> RetentionWhatIf | None:
    """+5 points of retention on the model the lifetime values came from
    (``scoring.clv.retention``): net of the programme's cost per purchase day."""
    if clv is None:
        return None
    bought = agg.purchases > 0
    purchase_days = agg.purchase_days[bought]
    cost_each = cost_per_purchase(cost[bought], purchase_days)
    total_days = float(purchase_days.sum())
    if clv.value_fit.fitted and clv.value_fit.params is not None:
        typical_value = clv.value_fit.params.population_mean
    else:
        typical_value = float(agg.spend_minor[bought].sum()) / agg.minor_per_unit / total_days
    typical_net = cfg.clv_margin * typical_value - float(cost[bought].sum()) / total_days
    return retention_whatif(
        clv.purchases_params,
        _model_history(bought, *days),
        cfg.clv_margin * clv.expected_value - cost_each,
        typical_net,
        clv_settings(cfg),
        discounted_today=clv.discounted_purchases,
    )


def _strategies(
    agg: PurchaseHistory, cfg: ScoreSettings, value: ValueResult, clv: NDArray[np.float64]
) -> tuple[NDArray[np.float64], float, StrategyResult]:
    """Seed 001's axes (``scoring.value``): the trailing-year margin after the programme's
    costs, the owner's expectation of future profit, and the strategies they give."""
    unit = agg.minor_per_unit
    margin_now = cfg.clv_margin * agg.trailing_year_minor / unit - agg.programme_cost(
        cfg.clv_margin, trailing=True
    )
    bought = agg.purchases > 0
    future_min = future_profit_min(
        cfg, float(agg.spend_minor[bought].sum()) / unit, int(agg.purchases[bought].sum())
    )
    strategy = relationship_strategies(
        value.tier, margin_now, clv, cfg.strategy, future_min=future_min
    )
    return margin_now, future_min, strategy


def future_profit_min(cfg: ScoreSettings, spend: float, purchases: int) -> float:
    """The owner's expectation for "profitable in future": ``cfg.future_profit_min``, or
    by default the margin on one average purchase of the business (0 with no purchases)."""
    if cfg.future_profit_min is not None:
        return cfg.future_profit_min
    return cfg.clv_margin * spend / purchases if purchases > 0 else 0.0


def _repeat_value(agg: PurchaseHistory, repeat: NDArray[np.int64]) -> NDArray[np.float64]:
    """Gamma-Gamma's input: the mean of the per-day totals of the repeat purchase days.

    Fader, Hardie & Lee (2005) and lifetimes' ``summary_data_from_transaction_data``
    count frequency in periods with purchases (days here) minus one, and take the value
    of the same repeat periods, the first one excluded: (total - first day's spend) /
    (purchase days - 1). Zero for customers without a repeat day (the model ignores them).
    """
    repeat_spend = (agg.spend_minor - agg.first_day_minor) / agg.minor_per_unit
    return np.divide(
        repeat_spend, repeat, out=np.zeros(repeat.shape, dtype=np.float64), where=repeat > 0
    )


def _rating(
    agg: PurchaseHistory, now_day: float, preset: RatingScalePreset | None
) -> RatingScaleResult | None:
    """Seed 002's rating scale over the trailing 12 months (SPEC: rating-scale inputs)."""
    monthly = agg.monthly
    if preset is None or monthly is None:
        return None
    trailing = monthly.sum(axis=1)
    total = trailing.sum()
    share = trailing / total * 100.0 if total > 0 else np.zeros_like(trailing)
    start = np.floor(np.where(np.isnan(agg.first_day), agg.created_day, agg.first_day))
    months = calendar_months(start, np.full(start.shape, now_day))  # SPEC: calendar months
    inputs: dict[str, Any] = {
        "turnover_share_pct": share,
        "cooperation_months": months,
        "payment": agg.payment_terms,
        "monthly_growth_pct": average_monthly_growth_pct(monthly).growth_pct,
    }
    assert set(inputs) == RATING_SCALE_INPUTS, "RATING_SCALE_INPUTS is the contract"
    return score_rating_scale(preset, {c.key: inputs[c.key] for c in preset.criteria})

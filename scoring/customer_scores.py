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
from scoring.growth import average_monthly_growth_pct
from scoring.lifecycle import LifecycleResult, LifecycleThresholds, lifecycle_stages
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
    tenure_months = np.maximum(np.nan_to_num(since_first, nan=0.0) / DAYS_PER_MONTH, 1.0)
    fitted = clv_result is not None and value_basis(clv_result.purchases_method) == "clv"
    value = value_tiers(clv_values if fitted else None, spend / tenure_months, rated=bought)
    strategy = relationship_strategies(
        value.tier,
        cfg.clv_margin * agg.trailing_year_minor / unit,  # margin, trailing year
        clv_values,
        cfg.strategy,
    )
    rating = _rating(agg, now_day, cfg.rating)
    return Scores(
        rfm, lifecycle, clv_result, clv_values, value, strategy, rating,
        since_first, since_last, average, repeat_value,
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
        repeat[bought],
        span[bought],
        np.maximum(since_first[bought], span[bought]),
        repeat_value[bought],
        CLVSettings(
            margin=cfg.clv_margin,
            discount_rate=cfg.clv_discount_rate,
            horizon_periods=cfg.clv_horizon_months,
            period_length=DAYS_PER_MONTH,
            min_repeat_buyers=cfg.min_repeat_buyers,
        ),
        average_check=average[bought],
    )
    clv_values[bought] = clv_result.clv
    return clv_result, clv_values


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

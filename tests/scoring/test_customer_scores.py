"""``scoring.score``: the nightly job's arithmetic on a hand-built history, no database."""

from __future__ import annotations

from datetime import date

import numpy as np

import scoring
from scoring import B2B_PRESET, LifecycleThresholds, PurchaseHistory, ScoreSettings

EPOCH = date(1970, 1, 1)


def day(d: date) -> float:
    return float((d - EPOCH).days)


TODAY = day(date(2026, 11, 26))


def history(minor_per_unit: int = 100) -> PurchaseHistory:
    """A: 100 a month for 12 months since 2023-07-01, prepays. B: 300 a month since
    2026-04-20, pays on time. C: signed up yesterday, never bought, pays late."""
    monthly_units = np.array([[100] * 12, [300] * 12, [0] * 12], dtype=np.int64)
    return PurchaseHistory(
        customer_id=np.array([1, 2, 3], dtype=np.int64),
        purchases=np.array([40, 8, 0], dtype=np.int64),
        purchase_days=np.array([40, 8, 0], dtype=np.int64),
        spend_minor=np.array([4000, 2400, 0], dtype=np.int64) * minor_per_unit,
        first_day_minor=np.array([100, 300, 0], dtype=np.int64) * minor_per_unit,
        trailing_year_minor=monthly_units.sum(axis=1) * minor_per_unit,
        first_day=np.array([day(date(2023, 7, 1)), day(date(2026, 4, 20)), np.nan]),
        last_day=np.array([TODAY - 3, TODAY - 10, np.nan]),
        created_day=np.array([day(date(2023, 6, 1)), day(date(2026, 4, 1)), TODAY - 1]),
        payment_terms=np.array(["prepayment", "on_time", "late"], dtype=np.str_),
        minor_per_unit=minor_per_unit,
        monthly_minor=monthly_units * minor_per_unit,
    )


def settings(rating: scoring.RatingScalePreset | None = B2B_PRESET) -> ScoreSettings:
    return ScoreSettings(
        lifecycle=LifecycleThresholds(),
        clv_margin=0.3,
        clv_discount_rate=0.01,
        clv_horizon_months=12,
        min_repeat_buyers=10,
        rating=rating,
    )


def test_rating_scale_from_the_history() -> None:
    """Seed 002_5ddba62783fdb83f.txt, "Шкала установления рейтинга клиента": A has 25% of
    the turnover ("от 20% и выше" 4), more than 3 years ("Более 3-х лет" 4), prepays
    ("Предоплата" 2), flat sales ("От 0% до 10%" 0): 10 points, "Постоянный клиент – от 9
    до 12 баллов". B: 75% (4), 7 months ("От полугода до 1 года" 1), on time (1), flat
    (0): 6, "Стандартный клиент – от 5 до 8 баллов". C: nothing scores (late payment has no
    row: 0): 0 points, no
    category."""
    scores = scoring.score(history(), TODAY, settings())
    assert scores.rating is not None
    assert scores.rating.total.tolist() == [10, 6, 0]
    assert scores.rating.category_labels() == ["regular", "standard", None]


def test_money_is_read_in_units_whatever_the_minor_unit() -> None:
    """The same history in cents and in whole units scores the same: the average check is
    in currency units (4000 / 40 = 100, 2400 / 8 = 300), and only buyers get days."""
    for unit in (1, 100):
        scores = scoring.score(history(unit), TODAY, settings())
        assert scores.average.tolist() == [100.0, 300.0, 0.0]
        assert scores.days_since_last[:2].tolist() == [3.0, 10.0]
        assert np.isnan(scores.days_since_last[2])
        assert scores.value.tier[2] == -1  # no purchases: unrated


def test_no_preset_no_rating() -> None:
    assert scoring.score(history(), TODAY, settings(rating=None)).rating is None

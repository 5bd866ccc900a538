"""Seed 001's two axes on absolute profit, net of the programme's own costs (issue 21).

Properties on the pure scoring arrays (no database): ``relationship_strategies`` and the
whole ``scoring.score`` on generated histories.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scoring
from scoring import LifecycleThresholds, PurchaseHistory, ScoreSettings
from scoring.profit import net_margin, programme_cost
from scoring.value import STRATEGIES, relationship_strategies

EPOCH = date(1970, 1, 1)
TODAY = float((date(2026, 11, 26) - EPOCH).days)
HIGH = 2
RELEASE = STRATEGIES.index("release")
COLLECT = STRATEGIES.index("collect")

money = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
positive = st.floats(min_value=0.01, max_value=1e6, allow_nan=False)


@st.composite
def customers(draw: st.DrawFn, margins: st.SearchStrategy[float] = money) -> tuple:
    n = draw(st.integers(min_value=1, max_value=30))
    tier = draw(st.lists(st.integers(min_value=-1, max_value=2), min_size=n, max_size=n))
    margin = draw(st.lists(margins, min_size=n, max_size=n))
    clv = draw(st.lists(money, min_size=n, max_size=n))
    expectation = draw(st.floats(min_value=0, max_value=1e5, allow_nan=False))
    return tier, margin, clv, expectation


@given(customers(margins=positive))
def test_all_profitable_now_nobody_collected_or_released(data: tuple) -> None:
    """Seed 001, table 1: «"Взыскивать" Применяется в том случае, если предприятие
    определило, что некоторые клиенты не приносят сейчас прибыли»; «"Освобождать" Отказ
    от клиентов … сотрудничество с которыми не приносит ожидаемой прибыли». When every
    customer's trailing margin is above zero, nobody is collected or released."""
    tier, margin, clv, expectation = data
    result = relationship_strategies(tier, margin, clv, future_min=expectation)
    assert not np.isin(result.strategy, [COLLECT, RELEASE]).any()
    rated = np.asarray(tier) >= 0
    assert result.profitable_now.tolist() == rated.tolist()


@given(customers())
def test_high_value_never_released(data: tuple) -> None:
    """Seed 000: «Ценность клиента (низкая, средняя, высокая)» is judged from
    «Прибыльность клиента. Перспективность клиента.»; seed 001 releases «"худшие"
    клиенты». A released customer is low value, so high value never comes with release,
    and the service follows the value ("Минимизировать затраты на обслуживание")."""
    tier, margin, clv, expectation = data
    result = relationship_strategies(tier, margin, clv, future_min=expectation)
    released = result.strategy == RELEASE
    assert not (released & (result.value_tier == HIGH)).any()
    assert (result.value_tier[released] == 0).all()
    assert (result.service[released] == 0).all()


def test_future_axis_is_the_owners_expectation() -> None:
    """«Вознаграждать и вкладывать — Для тех потребителей, которые по всем признакам могут
    оказаться прибыльными в будущем»: CLV at or above the expectation (500) counts, below
    it does not, whatever the other customers' CLVs."""
    result = relationship_strategies(
        [1, 1, 1], [10.0, 10.0, -1.0], [499.99, 500.0, 800.0], future_min=500
    )
    assert result.profitable_future.tolist() == [False, True, True]
    assert result.strategy_labels() == ["manage", "reward_and_invest", "collect"]


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_expectation_must_be_an_amount(bad: float) -> None:
    with pytest.raises(ValueError, match="future_min"):
        relationship_strategies([0], [1.0], [1.0], future_min=bad)


def test_programme_cost_hand_computed() -> None:
    """Seed 003: «прямые затраты производства услуг, включая затраты на отношения с
    покупателем, вычитаются из дохода». Paid 1,000 after a 100 discount, 50 points at 1
    each, margin 0.3: list price 1,100, profit 0.3 * 1,100 - 100 - 50 = 180
    = 0.3 * 1,000 - (0.7 * 100 + 50)."""
    assert programme_cost([50], [100.0], 1.0, 0.3)[0] == pytest.approx(120.0)
    assert net_margin([1000.0], [50], [100.0], 1.0, 0.3)[0] == pytest.approx(180.0)


def _history(
    n: int,
    purchases: list[int],
    spans: list[int],
    recency: list[int],
    checks: list[int],
    points: list[int] | None = None,
) -> PurchaseHistory:
    p = np.array(purchases, dtype=np.int64)
    spend = p * np.array(checks, dtype=np.int64) * 100
    last = TODAY - np.array(recency, dtype=np.float64)
    first = last - np.array(spans, dtype=np.float64)
    trailing = np.where(last > TODAY - 365, spend, 0)
    pts = None if points is None else np.array(points, dtype=np.int64)
    return PurchaseHistory(
        customer_id=np.arange(1, n + 1, dtype=np.int64),
        purchases=p,
        purchase_days=p,
        spend_minor=spend,
        first_day_minor=np.array(checks, dtype=np.int64) * 100,
        trailing_year_minor=trailing,
        first_day=first,
        last_day=last,
        created_day=first - 1,
        payment_terms=np.array(["on_time"] * n, dtype=np.str_),
        minor_per_unit=100,
        programme_points=pts,
        trailing_points=pts,
        point_value=1.0,
    )


def _settings(**kwargs: object) -> ScoreSettings:
    return ScoreSettings(
        lifecycle=LifecycleThresholds(),
        clv_margin=0.3,
        clv_discount_rate=0.01,
        clv_horizon_months=12,
        min_repeat_buyers=10,
        **kwargs,  # type: ignore[arg-type]
    )


@st.composite
def recent_buyers(draw: st.DrawFn) -> PurchaseHistory:
    """Customers who all bought within the last year (so a positive trailing margin)."""
    n = draw(st.integers(min_value=1, max_value=25))
    ints = st.integers
    purchases = draw(st.lists(ints(1, 20), min_size=n, max_size=n))
    spans = [draw(ints(0 if k == 1 else 1, 700)) if k > 1 else 0 for k in purchases]
    recency = draw(st.lists(ints(0, 360), min_size=n, max_size=n))
    checks = draw(st.lists(ints(1, 5000), min_size=n, max_size=n))
    return _history(n, purchases, spans, recency, checks)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recent_buyers())
def test_whole_score_all_recent_buyers_nobody_collected_or_released(
    history: PurchaseHistory,
) -> None:
    """The same property through ``scoring.score``: 8 customers all with a positive
    trailing-year margin got two «Освобождать» and two «Взыскивать» before issue 21;
    now nobody does, and high value never comes with «Освобождать»."""
    result = scoring.score(history, TODAY, _settings())
    labels = result.strategy.strategy_labels()
    assert "collect" not in labels and "release" not in labels
    assert (result.margin_now > 0).all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recent_buyers(), st.integers(0, 10_000))
def test_whole_score_high_value_never_released(history: PurchaseHistory, gift: int) -> None:
    """With programme costs that can push customers below zero, value "high" never comes
    with release (seed 000 value from «Прибыльность … Перспективность»)."""
    history.programme_points = np.full(history.customer_id.shape, gift, dtype=np.int64)
    history.trailing_points = history.programme_points
    result = scoring.score(history, TODAY, _settings())
    value = result.value.tier_labels()
    strategy = result.strategy.strategy_labels()
    assert not any(v == "high" and s == "release" for v, s in zip(value, strategy, strict=True))


@pytest.mark.parametrize("repeat_buyers", [3, 14])  # own-rhythm fallback and the fitted model
def test_bonuses_lower_profitability_and_clv(repeat_buyers: int) -> None:
    """Seed 003: «прямые затраты производства услуг, включая затраты на отношения с
    покупателем, вычитаются из дохода, полученного от него». Two customers with identical
    purchases; the second was given 2,000 points (1 money each): lower trailing profit by
    exactly 2,000 and a lower lifetime value."""
    rng = np.random.default_rng(21)
    n = repeat_buyers + 4
    purchases = [4, 4, *rng.integers(1, 8, size=n - 2).tolist()]
    purchases[-2:] = [1, 1]
    spans = [120, 120] + [int(s) for s in rng.integers(30, 300, size=n - 2)]
    spans = [0 if k == 1 else s for k, s in zip(purchases, spans, strict=True)]
    recency = [20, 20, *rng.integers(1, 200, size=n - 2).tolist()]
    checks = [1500, 1500, *rng.integers(300, 3000, size=n - 2).tolist()]
    points = [0, 2000] + [0] * (n - 2)
    result = scoring.score(
        _history(n, purchases, spans, recency, checks, points), TODAY, _settings()
    )
    assert result.margin_now[0] - result.margin_now[1] == pytest.approx(2000.0)
    assert result.programme_cost[1] - result.programme_cost[0] == pytest.approx(2000.0)
    assert result.clv_values[1] < result.clv_values[0]

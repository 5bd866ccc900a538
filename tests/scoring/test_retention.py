"""The "+5 points of retention" what-if (scoring.clv.retention) by hand computation."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.clv import CLVSettings, MBGNBDParams
from scoring.clv.retention import (
    MAX_RETENTION,
    raise_retention,
    retention_whatif,
    typical_lifetime_profit,
)

# Nearly no spread between customers: everyone buys once a month (lambda = 1, r = alpha
# large) and leaves after a purchase with chance 0.2 (p = 0.2, a + b large), so the
# model's expectations are the single customer's: E[X(t)] = (1 - p) / p (1 - e^{-p t}).
SAME = MBGNBDParams(r=1e4, alpha=1e4, a=2e4, b=8e4)
ONE_MONTH = CLVSettings(margin=0.5, discount_rate=0.0, horizon_periods=1, period_length=1.0)


def test_plus_5_points_of_retention_by_hand() -> None:
    """Seed 002: «Влияние увеличения коэффициента удержания потребителей на 5 процентов
    на общую пожизненную прибыль, получаемую от типичного потребителя».

    Retention 1 - p = 80 % -> 85 %. Value per purchase 40 at a 50 % margin, minus 2 of
    the programme's cost: net 18. Over one month, undiscounted, a typical customer brings
    the first purchase plus E[X(1)]:
    today  18 * (1 + 0.8 / 0.2 * (1 - e^{-0.2}))  = 18 * (1 + 4 * 0.181269)   = 31.0513;
    raised 18 * (1 + 0.85 / 0.15 * (1 - e^{-0.15})) = 18 * (1 + 5.6667 * 0.139292) = 32.2078;
    +3.72 %."""
    x, t_x, T = np.zeros(1), np.zeros(1), np.zeros(1)  # one customer who just bought
    got = retention_whatif(SAME, (x, t_x, T), np.array([18.0]), 18.0, ONE_MONTH)
    assert got.retention == pytest.approx(0.80)
    assert got.raised_retention == pytest.approx(0.85)
    today = 18 * (1 + 4 * (1 - np.exp(-0.2)))
    raised = 18 * (1 + 0.85 / 0.15 * (1 - np.exp(-0.15)))
    assert (today, raised) == pytest.approx((31.0513, 32.2078), abs=1e-4)
    assert got.typical_today == pytest.approx(today, rel=1e-5)
    assert got.typical_raised == pytest.approx(raised, rel=1e-5)
    assert got.typical_uplift_pct == pytest.approx(100 * (raised / today - 1), rel=1e-4)
    # today's customer base: the same customer, without the first purchase (it is past)
    assert got.base_today == pytest.approx(today - 18, rel=1e-5)
    assert got.base_raised == pytest.approx(raised - 18, rel=1e-5)
    assert got.customers == 1


def test_discounting_by_hand() -> None:
    """Two months at 10 % a month: the purchases of month k are worth 1 / 1.1^k."""
    s = CLVSettings(margin=0.5, discount_rate=0.1, horizon_periods=2, period_length=1.0)
    e1 = 4 * (1 - np.exp(-0.2))
    e2 = 4 * (1 - np.exp(-0.4))
    expected = 10 * (1 + e1 / 1.1 + (e2 - e1) / 1.21)
    assert typical_lifetime_profit(SAME, 10.0, s) == pytest.approx(expected, rel=1e-5)


def test_raising_keeps_the_spread_and_the_rates_and_is_capped() -> None:
    p = MBGNBDParams(r=0.5, alpha=40.0, a=0.9, b=1.6)
    raised = raise_retention(p)
    assert raised.a + raised.b == pytest.approx(p.a + p.b)
    assert raised.retention == pytest.approx(p.retention + 0.05)
    assert (raised.r, raised.alpha) == (p.r, p.alpha)
    loyal = MBGNBDParams(r=0.5, alpha=40.0, a=0.01, b=9.99)
    assert raise_retention(loyal).retention == pytest.approx(MAX_RETENTION)


def test_more_retention_never_less_profit() -> None:
    """On a fitted-looking model and mixed customers, +5 points never lowers a figure."""
    p = MBGNBDParams(r=0.525, alpha=43.3, a=0.891, b=1.614)
    x = np.array([0, 1, 4, 10.0])
    t_x = np.array([0, 30, 200, 300.0])
    T = np.array([5, 90, 250, 310.0])
    s = CLVSettings(margin=0.3, discount_rate=0.01)
    got = retention_whatif(p, (x, t_x, T), np.full(4, 30.0), 30.0, s)
    assert got.typical_raised > got.typical_today > 30.0
    assert got.base_raised > got.base_today > 0

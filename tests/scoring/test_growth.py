"""Average monthly sales growth, the rating scale's growth input (seed 002)."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.growth import average_monthly_growth_pct


def test_geometric_average_growth_hand_computed() -> None:
    """Seed 002 scores "Среднемесячный темп прироста продаж". 100 -> 110 -> 121 is
    +10% a month: (121 / 100) ** (1 / 2) - 1 = 0.10. 100 -> 400 over two steps
    doubles each month: +100%."""
    result = average_monthly_growth_pct([[100, 110, 121], [100, 50, 400]])
    assert result.growth_pct == pytest.approx([10.0, 100.0])
    assert result.defined.tolist() == [True, True]


def test_late_starter_is_measured_from_their_first_month() -> None:
    """Zero months before the first purchase are skipped: [0, 0, 50, 90, 200] -> two
    steps from 50 to 200 = 4x -> sqrt(4) - 1 = +100% a month."""
    result = average_monthly_growth_pct([[0, 0, 50, 90, 200]])
    assert result.growth_pct == pytest.approx([100.0])


def test_stopped_buyer_falls_by_100_percent() -> None:
    result = average_monthly_growth_pct([[100, 80, 0]])
    assert result.growth_pct == pytest.approx([-100.0])


def test_undefined_growth_is_zero_and_flagged() -> None:
    """One month of history, or none at all: growth 0.0, defined False."""
    result = average_monthly_growth_pct([[0, 0, 70], [0, 0, 0]])
    assert result.growth_pct.tolist() == [0.0, 0.0]
    assert result.defined.tolist() == [False, False]
    empty = average_monthly_growth_pct(np.zeros((0, 12)))
    assert empty.growth_pct.size == 0


def test_bad_input_raises() -> None:
    with pytest.raises(ValueError, match="2-D"):
        average_monthly_growth_pct([1.0, 2.0])
    with pytest.raises(ValueError, match="non-negative"):
        average_monthly_growth_pct([[1.0, -2.0]])

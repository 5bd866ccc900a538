"""Period KPIs: CRR by the formula of seed 004, and the other metrics it lists."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from scoring.kpi import csat_of, period_kpis

START, END = "2025-01-01", "2026-01-01"


def crr_case() -> tuple[list[int], list[str], list[float]]:
    """Five customers around the 2025 period (active window 365 days):

    1: bought 2024-03-01 and 2025-05-01 -> active at start and end (retained)
    2: bought 2024-06-01 only           -> active at start, not at end (churned)
    3: bought 2024-12-31 and 2025-12-31 -> active at start and end (retained)
    4: first bought 2025-02-10, twice   -> new, active at end
    5: bought 2022-01-01 and 2025-07-01 -> not active at start, came back (active at end)
    S = {1, 2, 3} = 3; E = {1, 3, 4, 5} = 4; N = {4} = 1.
    """
    customers = [1, 1, 2, 3, 3, 4, 4, 5, 5]
    dates = [
        "2024-03-01",
        "2025-05-01",
        "2024-06-01",
        "2024-12-31",
        "2025-12-31",
        "2025-02-10",
        "2025-03-10",
        "2022-01-01",
        "2025-07-01",
    ]
    amounts = [100.0, 200.0, 50.0, 70.0, 300.0, 40.0, 60.0, 10.0, 400.0]
    return customers, dates, amounts


def test_crr_seed_formula_hand_computed() -> None:
    """Seed 004_235a4ca77e3bcda9.txt: "CRR=(E-N)*100%/S; где E = количество покупателей на
    конец периода; N = количество новых покупателей за период; S = количество
    покупателей на начало периода". Here (4 - 1) * 100% / 3 = 100%."""
    kpi = period_kpis(*crr_case(), start=START, end=END)
    assert (kpi.customers_at_start, kpi.customers_at_end, kpi.new_customers) == (3, 4, 1)
    assert kpi.crr_pct == pytest.approx(100.0)
    assert kpi.churn_pct == pytest.approx(100.0 / 3)  # customer 2 of S = 3


def test_other_metrics_hand_computed() -> None:
    """Seed 004: "Ключевые метрики включают уровень удовлетворенности клиентов,
    коэффициент удержания клиентов, средний чек, частоту покупок, а также количество
    рекомендаций от существующих клиентов".

    Purchases in 2025: c1 200; c3 300 (12-31); c4 40, 60; c5 400 -> 5 purchases,
    4 buyers, revenue 1000. Average check 1000 / 5 = 200; frequency 5 / 4 = 1.25.
    Buyers with >= 2 purchases up to the end: c1 (2), c3 (2), c4 (2), c5 (2) -> 100%.
    """
    referrals = ["2024-12-01", "2025-03-01", "2025-04-01", "2026-02-01"]
    kpi = period_kpis(
        *crr_case(),
        start=START,
        end=END,
        referral_dates=referrals,
        csat_scores=[5, 4, 2, 5],
        csat_dates=["2025-02-01", "2025-03-01", "2024-01-01", "2025-11-30"],
    )
    assert kpi.purchases == 5 and kpi.buyers == 4
    assert kpi.revenue == pytest.approx(1000.0)
    assert kpi.average_check == pytest.approx(200.0)
    assert kpi.purchase_frequency == pytest.approx(1.25)
    assert kpi.repeat_purchase_pct == pytest.approx(100.0)
    assert kpi.referrals == 2
    # the 2024 answer (2) is outside; 5, 4, 5 are all satisfied answers
    assert kpi.csat == pytest.approx(100.0)
    assert kpi.csat_mean == pytest.approx((5 + 4 + 5) / 3)
    assert kpi.csat_responses == 3


def test_csat_is_the_share_of_four_and_five_answers() -> None:
    """By hand: 5, 4, 3, 1, 2, 5, 4, 4 -> satisfied 5 of 8 = 62.5 %; mean 28 / 8 = 3.5."""
    csat = csat_of([5, 4, 3, 1, 2, 5, 4, 4])
    assert (csat.responses, csat.satisfied) == (8, 5)
    assert csat.pct == pytest.approx(62.5) and csat.mean == pytest.approx(3.5)
    assert csat_of([]).pct is None and csat_of([]).mean is None
    with pytest.raises(ValueError, match="1 to 5"):
        csat_of([0, 5])


def test_repeat_rate_counts_only_buyers_with_two_purchases() -> None:
    """Two buyers in the period: one first-timer (1 purchase), one returning -> 50%."""
    kpi = period_kpis(
        [1, 2, 2], ["2025-02-01", "2024-05-01", "2025-03-01"], [1.0, 1.0, 1.0], start=START, end=END
    )
    assert kpi.repeat_purchase_pct == pytest.approx(50.0)


def test_no_customers_at_start_means_crr_undefined_not_a_crash() -> None:
    """S = 0 (a new business): CRR and churn are None, with a note saying why."""
    kpi = period_kpis([1, 2], ["2025-03-01", "2025-04-01"], [10.0, 20.0], start=START, end=END)
    assert kpi.customers_at_start == 0
    assert kpi.crr_pct is None and kpi.churn_pct is None
    assert any("S = 0" in note for note in kpi.notes)
    assert kpi.csat is None


def test_empty_purchases() -> None:
    kpi = period_kpis([], np.array([], dtype="datetime64[D]"), [], start=START, end=END)
    assert kpi.purchases == 0 and kpi.average_check is None and kpi.purchase_frequency is None
    assert kpi.crr_pct is None and kpi.repeat_purchase_pct is None
    assert period_kpis([], [], [], start=START, end=END).purchases == 0


def test_active_window_is_a_parameter() -> None:
    """With a 30-day window customer 1 (last bought 2024-03-01) is not active at start."""
    kpi = period_kpis(
        [1, 2],
        ["2024-03-01", "2024-12-15"],
        [1.0, 1.0],
        start=START,
        end=END,
        active_window_days=30,
    )
    assert kpi.customers_at_start == 1


def test_dates_accept_date_objects_and_reject_bad_periods() -> None:
    kpi = period_kpis(
        [1], [dt.date(2025, 5, 5)], [9.5], start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31)
    )
    assert kpi.average_check == pytest.approx(9.5)
    with pytest.raises(ValueError, match="after start"):
        period_kpis([1], ["2025-01-01"], [1.0], start=END, end=START)
    with pytest.raises(ValueError, match="finite"):
        period_kpis([1], ["2025-01-01"], [float("nan")], start=START, end=END)

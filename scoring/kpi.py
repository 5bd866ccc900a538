"""Relationship KPIs for a period (seed 004), from purchase-level arrays.

Seed 004: "CRR=(E-N)*100%/S; где E = количество покупателей на конец периода;
N = количество новых покупателей за период; S = количество покупателей на начало
периода", and the key metrics "уровень удовлетворенности клиентов, коэффициент
удержания клиентов, средний чек, частоту покупок, а также количество рекомендаций".

Definitions (period = [start, end), dates as days):
- active at a moment m: bought in [m - active_window_days, m) (house rule: 365 days);
- S = customers active at ``start``; E = customers active at ``end``;
  N = customers whose first-ever purchase falls in the period;
  CRR = (E - N) / S * 100; S = 0 -> CRR is None with a reason, never a crash.
  (E - N also counts lapsed customers who came back in the period — as the seed's
  formula does — so CRR can differ from 100 - churn.)
- churn rate = share of S not active at ``end`` * 100 (None if S = 0);
- repeat-purchase rate = share of customers who bought in the period who are repeat
  buyers by ``end`` (``scoring.repeat``: purchases on at least two different days) * 100;
- purchase frequency = purchases in the period / customers who bought in it;
- average check = revenue in the period / purchases in it (money as float:
  statistics; convert from Decimal at the boundary);
- referrals = referral events dated in the period;
- CSAT (``csat_of``) = share of the 1-5 survey answers that are 4 or 5, in percent
  (in the period, when dates are given), the mean score beside it; None without answers.
  The seeds name the metric, not a formula: 004 lists "уровень удовлетворенности
  клиентов" first among the key metrics and "опросы" as the way to collect it, 003 asks
  for "оценке степени удовлетворенности клиента в режиме онлайн". The share of 4-5
  answers ("top two boxes") is the usual CSAT and reads as "how many were satisfied";
  the mean alone hides a few very unhappy customers behind many happy ones.
Purchases must include history before ``start`` (to know first purchases and who
was active at the start).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scoring.repeat import is_repeat_buyer
from scoring.scales import SURVEY_HIGHEST, SURVEY_LOWEST

DateLike = dt.date | np.datetime64 | str


def _days(values: ArrayLike) -> NDArray[np.int64]:
    """Dates (datetime64, date objects or ISO strings) as integer day numbers."""
    arr = np.asarray(values)
    if arr.size == 0 or arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    return arr.astype("datetime64[D]").astype(np.int64)


def _day(value: DateLike) -> int:
    return int(np.datetime64(value, "D").astype(np.int64))


def _pct(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else 100.0 * numerator / denominator


@dataclass(frozen=True)
class PeriodKPI:
    """KPIs of one period; a metric is None when undefined (reason in ``notes``)."""

    customers_at_start: int  # S
    customers_at_end: int  # E
    new_customers: int  # N
    crr_pct: float | None
    churn_pct: float | None
    repeat_purchase_pct: float | None
    purchase_frequency: float | None
    average_check: float | None
    purchases: int
    buyers: int
    revenue: float
    referrals: int
    csat: float | None  # percent of answers that are 4 or 5 (``csat_of``)
    csat_responses: int
    csat_mean: float | None
    notes: tuple[str, ...]


# The post-visit survey's 1-5 scale itself lives in scoring.scales.
SATISFIED_FROM = 4  # on the 1-5 scale, answers of 4 and 5 count as satisfied


@dataclass(frozen=True)
class Csat:
    """CSAT of a set of survey answers (module docstring)."""

    responses: int
    satisfied: int  # answers of SATISFIED_FROM or more
    pct: float | None  # satisfied / responses * 100
    mean: float | None


def csat_of(scores: ArrayLike) -> Csat:
    """CSAT of 1-5 scores; NaN entries (no answer) are left out."""
    values = np.asarray(scores, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if np.any((values < SURVEY_LOWEST) | (values > SURVEY_HIGHEST)):
        raise ValueError(f"survey scores are {SURVEY_LOWEST} to {SURVEY_HIGHEST}")
    responses = int(values.size)
    satisfied = int((values >= SATISFIED_FROM).sum())
    return Csat(
        responses=responses,
        satisfied=satisfied,
        pct=_pct(satisfied, responses),
        mean=float(values.mean()) if responses else None,
    )


@dataclass(frozen=True, eq=False)
class CustomerPeriodSummary:
    """Per customer (one entry each, any order): what the KPIs need from their purchases.

    A database computes this with one GROUP BY (see ``bot.services.insight.kpis``); here it is
    also derived from purchase-level arrays, so both roads meet in ``kpis_from_summary``.
    """

    first_day: NDArray[np.int64]  # day of the first purchase ever
    active_at_start: NDArray[np.bool_]  # bought in [start - window, start)
    active_at_end: NDArray[np.bool_]  # bought in [end - window, end)
    purchases_in_period: NDArray[np.int64]
    revenue_in_period: NDArray[np.float64]
    purchase_days_to_end: NDArray[np.int64]  # days with purchases before ``end``


def period_bounds(start: DateLike, end: DateLike) -> tuple[int, int]:
    """The period as day numbers [d0, d1), checked to be non-empty."""
    d0, d1 = _day(start), _day(end)
    if d1 <= d0:
        raise ValueError(f"period end {end} must be after start {start}")
    return d0, d1


def summarise_purchases(
    purchase_customer: ArrayLike,
    purchase_date: ArrayLike,
    purchase_amount: ArrayLike,
    *,
    start: DateLike,
    end: DateLike,
    active_window_days: int = 365,
) -> CustomerPeriodSummary:
    """The per-customer summary from one row per purchase (vectorised)."""
    customer = np.asarray(purchase_customer)
    day = _days(purchase_date)
    amount = np.asarray(purchase_amount, dtype=np.float64)
    if not (customer.ndim == day.ndim == amount.ndim == 1):
        raise ValueError("purchase arrays must be one-dimensional")
    if not (customer.shape == day.shape == amount.shape):
        raise ValueError("purchase arrays must have equal length")
    if not np.all(np.isfinite(amount)):
        raise ValueError("purchase amounts must be finite")
    if active_window_days <= 0:
        raise ValueError("active_window_days must be positive")
    d0, d1 = period_bounds(start, end)

    ids, idx = np.unique(customer, return_inverse=True)
    n_customers = ids.size

    def count_where(mask: NDArray[np.bool_]) -> NDArray[np.int64]:
        return np.bincount(idx[mask], minlength=n_customers).astype(np.int64)

    first_day = np.full(n_customers, np.iinfo(np.int64).max)
    np.minimum.at(first_day, idx, day)
    in_period = (day >= d0) & (day < d1)
    return CustomerPeriodSummary(
        first_day=first_day,
        active_at_start=count_where((day >= d0 - active_window_days) & (day < d0)) > 0,
        active_at_end=count_where((day >= d1 - active_window_days) & (day < d1)) > 0,
        purchases_in_period=count_where(in_period),
        revenue_in_period=np.bincount(
            idx[in_period], weights=amount[in_period], minlength=n_customers
        ),
        purchase_days_to_end=_distinct_days(idx, day, day < d1, n_customers),
    )


def _distinct_days(
    idx: NDArray[np.intp], day: NDArray[np.int64], mask: NDArray[np.bool_], n: int
) -> NDArray[np.int64]:
    """Per customer, the number of distinct days among the masked purchases."""
    pairs = np.unique(np.stack([idx[mask].astype(np.int64), day[mask]]), axis=1)
    return np.bincount(pairs[0], minlength=n).astype(np.int64)


def period_kpis(
    purchase_customer: ArrayLike,
    purchase_date: ArrayLike,
    purchase_amount: ArrayLike,
    *,
    start: DateLike,
    end: DateLike,
    active_window_days: int = 365,
    referral_dates: ArrayLike | None = None,
    csat_scores: ArrayLike | None = None,
    csat_dates: ArrayLike | None = None,
) -> PeriodKPI:
    """Compute the period's KPIs from one row per purchase (vectorised)."""
    summary = summarise_purchases(
        purchase_customer,
        purchase_date,
        purchase_amount,
        start=start,
        end=end,
        active_window_days=active_window_days,
    )
    return kpis_from_summary(
        summary,
        start=start,
        end=end,
        referral_dates=referral_dates,
        csat_scores=csat_scores,
        csat_dates=csat_dates,
    )


def kpis_from_summary(
    summary: CustomerPeriodSummary,
    *,
    start: DateLike,
    end: DateLike,
    referral_dates: ArrayLike | None = None,
    csat_scores: ArrayLike | None = None,
    csat_dates: ArrayLike | None = None,
) -> PeriodKPI:
    """The period's KPIs (module docstring) from the per-customer summary."""
    d0, d1 = period_bounds(start, end)
    active_start, active_end = summary.active_at_start, summary.active_at_end
    new = (summary.first_day >= d0) & (summary.first_day < d1)
    buyers = summary.purchases_in_period > 0
    repeat_by_end = is_repeat_buyer(summary.purchase_days_to_end)
    s, e, n = int(active_start.sum()), int(active_end.sum()), int(new.sum())
    n_buyers, n_purchases = int(buyers.sum()), int(summary.purchases_in_period.sum())
    revenue = float(summary.revenue_in_period.sum())

    notes: list[str] = []
    crr = None if s == 0 else 100.0 * (e - n) / s
    if s == 0:
        notes.append("crr, churn: no customers active at the start of the period (S = 0)")
    if n_buyers == 0:
        notes.append("repeat rate, frequency, average check: no purchases in the period")

    referrals = 0
    if referral_dates is not None:
        rd = _days(referral_dates)
        referrals = int(((rd >= d0) & (rd < d1)).sum())

    scores = np.asarray([] if csat_scores is None else csat_scores, dtype=np.float64)
    if csat_dates is not None:
        cd = _days(csat_dates)
        if cd.shape != scores.shape:
            raise ValueError("csat_dates must match csat_scores")
        scores = scores[(cd >= d0) & (cd < d1)]
    satisfaction = csat_of(scores)
    if satisfaction.pct is None:
        notes.append("csat: no survey scores")

    return PeriodKPI(
        customers_at_start=s,
        customers_at_end=e,
        new_customers=n,
        crr_pct=crr,
        churn_pct=_pct(int((active_start & ~active_end).sum()), s),
        repeat_purchase_pct=_pct(int((buyers & repeat_by_end).sum()), n_buyers),
        purchase_frequency=None if n_buyers == 0 else n_purchases / n_buyers,
        average_check=None if n_purchases == 0 else revenue / n_purchases,
        purchases=n_purchases,
        buyers=n_buyers,
        revenue=revenue,
        referrals=referrals,
        csat=satisfaction.pct,
        csat_responses=satisfaction.responses,
        csat_mean=satisfaction.mean,
        notes=tuple(notes),
    )

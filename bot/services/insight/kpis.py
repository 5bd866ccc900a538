"""Retention KPIs for the owner (seed 004): CRR, churn, repeat rate, frequency, check.

The per-customer facts the KPIs rest on (first purchase, active at the start and at the
end, purchases and revenue in the period, purchases up to the end) come from one GROUP
BY over the live purchases on the scoring index; only one row per customer reaches
Python, never every purchase.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select

import scoring
from bot.db.models import Customer, Purchase
from bot.money import MINOR_PER_UNIT
from bot.services.context import Business
from bot.services.insight.satisfaction import answered_scores
from bot.services.insight.scoring_aggregates import fetch_int64, unix_seconds_sql
from bot.services.local_days import LocalDays
from bot.services.money.live_purchases import IS_LIVE, NET_MINOR
from bot.services.outbox.contact import unreachable_count

if TYPE_CHECKING:  # numpy loads on first use, not with the bot's start
    import numpy as np
    from numpy.typing import NDArray

MAX_PERIOD_DAYS = 3650


@dataclass(frozen=True)
class Period:
    """Local days [start, end): the last ``days`` days up to today in the business's zone."""

    start: date
    end: date
    days: int

    @classmethod
    def last_days(cls, biz: Business, days: int) -> Period:
        end = biz.clock.now().astimezone(biz.settings.business.zone).date() + timedelta(days=1)
        return cls(start=end - timedelta(days=days), end=end, days=days)

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) as moments: the local midnights that start the two days."""
        return datetime.combine(self.start, time(), zone), datetime.combine(self.end, time(), zone)


async def survey_scores(conn: AsyncConnection, start: datetime, end: datetime) -> NDArray[np.int64]:
    """CSAT hook of the report (and so of /stats): one score per post-visit survey answer
    given in [start, end) (``satisfaction.answered_scores``; ``scoring.csat_of`` counts)."""
    return await answered_scores(conn, start, end)


def summary_statement(start: date, end: date, window_days: int, days: LocalDays) -> Select[Any]:
    """customer, first local day, then counts/sums per ``scoring.CustomerPeriodSummary``
    (the last: distinct local days with purchases before ``end``, for ``scoring.repeat``)."""
    ts = Purchase.created_ts

    def total(lo: date | None, hi: date, value: Any = 1) -> Any:
        """Sum of ``value`` over purchases from local midnight ``lo`` (or ever) to ``hi``."""
        within = ts < days.midnight_ts(hi)
        if lo is not None:
            within = (ts >= days.midnight_ts(lo)) & within
        return cast(func.sum(case((within, value), else_=0)), BigInteger)

    window = timedelta(days=window_days)
    return (
        select(
            Purchase.customer_id,
            func.min(days.day_sql(ts)),
            total(start - window, start),
            total(end - window, end),
            total(start, end),
            total(start, end, NET_MINOR),
            func.count(func.distinct(case((ts < days.midnight_ts(end), days.day_sql(ts))))),
        )
        .where(IS_LIVE)
        .group_by(Purchase.customer_id)
    )


def period_bounds(biz: Business, days: int) -> tuple[datetime, datetime]:
    """The last ``days`` local days (``Period.last_days``) as [start, end) moments."""
    return Period.last_days(biz, days).bounds(biz.settings.business.zone)


async def period_report(biz: Business, days: int) -> scoring.PeriodKPI:
    """The last ``days`` days up to today in the business's time zone, from every purchase
    not fully refunded (history before the period tells who was new and who was active)."""
    import numpy as np

    zone = biz.settings.business.zone
    period = Period.last_days(biz, days)
    start, end = period.start, period.end
    days_of = LocalDays.around(zone, biz.clock.now())
    window = biz.settings.scoring.active_window_days
    async with biz.db.engine.connect() as conn:
        rows = await fetch_int64(conn, summary_statement(start, end, window, days_of))
        # A referral is dated by the day the referred customer joined.
        referred = await fetch_int64(
            conn,
            select(days_of.day_sql(unix_seconds_sql(conn, Customer.created_at))).where(
                Customer.referred_by.is_not(None)
            ),
        )
        csat = await survey_scores(conn, *period.bounds(zone))
    summary = scoring.CustomerPeriodSummary(
        first_day=rows[:, 1],
        active_at_start=rows[:, 2] > 0,
        active_at_end=rows[:, 3] > 0,
        purchases_in_period=rows[:, 4],
        revenue_in_period=rows[:, 5] / MINOR_PER_UNIT,
        purchase_days_to_end=rows[:, 6],
    )
    return scoring.kpis_from_summary(
        summary,
        start=np.datetime64(start, "D"),
        end=np.datetime64(end, "D"),
        referral_dates=referred[:, 0],
        csat_scores=csat,
    )


async def unreachable_customers(biz: Business) -> int:
    """Customers who blocked the bot and have not written since (a 403 marked them)."""
    async with biz.db.read() as session:
        return await unreachable_count(session)

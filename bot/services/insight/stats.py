"""The owner's /stats: seed 004's retention KPIs (``bot.services.insight.kpis``) for a period, with
members, the points the programme owes, and weekly series for a chart.

Definitions (period = the last ``days`` local days up to today, as /kpi counts them):
- members: customers who finished sign-up and have not used /forget, joined before the
  period's end; new members: those who joined within the period;
- points, read from the append-only ledger by kind and sign:
  issued = earn + bonus + positive adjustments − points a refund took back (negative
  reversals); redeemed = redeem − points a refund gave back (positive reversals);
  expired = expire; removed = negative adjustments;
- outstanding (the liability): every entry summed for customers who have not used
  /forget (issued − redeemed − expired − removed; it equals their cached balances),
  valued at ``loyalty.point_value``; a forgotten customer's points can never be spent;
- redemption rate: points redeemed in the period per 100 points issued in it (None
  when none were issued; it can pass 100 when older points are spent);
- weekly series: live purchases (count, net revenue) and new members per week, weeks
  counted back from the period's end (the first week may be shorter).
CSAT comes from ``kpis.survey_scores`` (the post-visit surveys,
``bot.services.insight.satisfaction``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, and_, case, cast, func, select

import scoring
from bot.db.models import Customer, LedgerEntry, LedgerKind, Purchase
from bot.money import from_minor, points_value
from bot.services.context import Business
from bot.services.insight import kpis
from bot.services.insight.feedback_stats import FeedbackFigures, feedback_figures
from bot.services.insight.kpis import Period
from bot.services.insight.scoring_aggregates import unix_seconds_sql
from bot.services.local_days import LocalDays, sql_int
from bot.services.money.live_purchases import IS_LIVE, NET_MINOR
from bot.services.people import conversations

WEEK_DAYS = 7


@dataclass(frozen=True)
class PointsFlow:
    """Ledger points in the period, and outstanding now (module docstring)."""

    issued: int
    redeemed: int
    expired: int
    removed: int
    outstanding: int
    liability: Decimal  # outstanding points in money

    @property
    def redemption_pct(self) -> float | None:
        return None if self.issued <= 0 else 100.0 * self.redeemed / self.issued


@dataclass(frozen=True)
class WeeklySeries:
    """One entry per week of the period, oldest first; ``starts`` are local midnights."""

    starts: list[datetime]
    purchases: list[int]
    revenue: list[Decimal]
    new_members: list[int]


@dataclass(frozen=True)
class StatsReport:
    days: int
    kpi: scoring.PeriodKPI
    members: int
    new_members: int
    points: PointsFlow
    weekly: WeeklySeries
    unreachable: int  # customers who blocked the bot (now, not in the period)
    unanswered: int = 0  # customers' questions nobody answered yet (now)
    feedback: FeedbackFigures | None = None  # complaints, NPS, churn reasons (feedback_stats)


MEMBER = Customer.signup_step.is_(None) & Customer.erased_at.is_(None)


def _midnight(biz: Business, day: date) -> datetime:
    return datetime.combine(day, time(), biz.settings.business.zone)


def weeks_in(period: Period) -> int:
    return -(-period.days // WEEK_DAYS)


async def points_flow(biz: Business, period: Period) -> PointsFlow:
    """Issued, redeemed, expired and removed in the period; outstanding now (docstring)."""
    ts = LedgerEntry.created_at
    within = (ts >= _midnight(biz, period.start)) & (ts < _midnight(biz, period.end))
    positive = LedgerEntry.points > 0
    in_period = func.coalesce(func.sum(case((within, LedgerEntry.points), else_=0)), 0)
    async with biz.db.read() as session:
        rows = (
            await session.execute(
                select(LedgerEntry.kind, positive, in_period).group_by(LedgerEntry.kind, positive)
            )
        ).all()
        outstanding = await session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.points), 0))
            .join(Customer, Customer.id == LedgerEntry.customer_id)
            .where(Customer.erased_at.is_(None))
        )
    moved = {(str(kind), bool(up)): int(total) for kind, up, total in rows}

    def got(kind: LedgerKind, up: bool) -> int:
        return moved.get((kind.value, up), 0)

    issued = (
        got(LedgerKind.EARN, True)
        + got(LedgerKind.BONUS, True)
        + got(LedgerKind.ADJUSTMENT, True)
        + got(LedgerKind.REVERSAL, False)
    )
    redeemed = -got(LedgerKind.REDEEM, False) - got(LedgerKind.REVERSAL, True)
    owed = int(outstanding or 0)
    return PointsFlow(
        issued=issued,
        redeemed=redeemed,
        expired=-got(LedgerKind.EXPIRE, False),
        removed=-got(LedgerKind.ADJUSTMENT, False),
        outstanding=owed,
        liability=points_value(owed, biz.settings.loyalty.point_value),
    )


async def weekly_series(biz: Business, period: Period) -> WeeklySeries:
    """Live purchases, net revenue and new members per week (weeks end with the period)."""
    zone = biz.settings.business.zone
    days = LocalDays.around(zone, biz.clock.now())
    n_weeks = weeks_in(period)
    last_day = (period.end - date(1970, 1, 1)).days - 1
    lo, hi = days.midnight_ts(period.start), days.midnight_ts(period.end)

    def week_of(ts: Any) -> Any:  # 0 = the week ending with the period's last day
        return (sql_int(last_day) - days.day_sql(ts)) // sql_int(WEEK_DAYS)

    purchase_week = week_of(Purchase.created_ts)
    async with biz.db.engine.connect() as conn:
        bought = (
            await conn.execute(
                select(purchase_week, func.count(), cast(func.sum(NET_MINOR), BigInteger))
                .where(IS_LIVE, Purchase.created_ts >= lo, Purchase.created_ts < hi)
                .group_by(purchase_week)
            )
        ).all()
        joined_ts = unix_seconds_sql(conn, Customer.created_at)
        member_week = week_of(joined_ts)
        joined = (
            await conn.execute(
                select(member_week, func.count())
                .where(MEMBER, and_(joined_ts >= lo, joined_ts < hi))
                .group_by(member_week)
            )
        ).all()
    purchases, revenue, members = [0] * n_weeks, [0] * n_weeks, [0] * n_weeks
    for week, count, minor in bought:
        purchases[n_weeks - 1 - int(week)] = int(count)
        revenue[n_weeks - 1 - int(week)] = int(minor or 0)
    for week, count in joined:
        members[n_weeks - 1 - int(week)] = int(count)
    starts = [
        _midnight(biz, max(period.start, period.end - timedelta(days=WEEK_DAYS * (n_weeks - k))))
        for k in range(n_weeks)
    ]
    return WeeklySeries(
        starts=starts,
        purchases=purchases,
        revenue=[from_minor(v) for v in revenue],
        new_members=members,
    )


async def member_counts(biz: Business, period: Period) -> tuple[int, int]:
    """(members at the period's end, of whom joined within the period)."""
    start, end = _midnight(biz, period.start), _midnight(biz, period.end)
    joined = Customer.created_at
    async with biz.db.read() as session:
        total, new = (
            await session.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(case((joined >= start, 1), else_=0)), 0),
                ).where(MEMBER, joined < end)
            )
        ).one()
    return int(total), int(new)


async def stats_report(biz: Business, days: int) -> StatsReport:
    """Everything /stats shows for the last ``days`` days (1..``kpis.MAX_PERIOD_DAYS``)."""
    if not 1 <= days <= kpis.MAX_PERIOD_DAYS:
        raise ValueError(f"days must be 1..{kpis.MAX_PERIOD_DAYS}")
    period = Period.last_days(biz, days)
    members, new_members = await member_counts(biz, period)
    return StatsReport(
        days=days,
        kpi=await kpis.period_report(biz, days),
        members=members,
        new_members=new_members,
        points=await points_flow(biz, period),
        weekly=await weekly_series(biz, period),
        unreachable=await kpis.unreachable_customers(biz),
        unanswered=await _unanswered(biz),
        feedback=await feedback_figures(biz, days),
    )


async def _unanswered(biz: Business) -> int:
    async with biz.db.read() as session:
        return await conversations.unanswered(session)

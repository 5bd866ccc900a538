"""What a rules file would have done: the last 12 months of purchases replayed under the
rules in force and under the file, side by side (``loyalty-bot rules simulate``, the
owner's ``/promo`` preview). Reads only.

Each live purchase is replayed at its own moment, tag and outlet, at the tier its
customer holds now, on its net amount (refunds taken off) less the points paid on it; a
punch card counts the replayed purchases in order. Expected redemptions are the points
issued times the share of given points redeemed over the same year; the liability is
what those points are worth; the cost share is that money over the year's revenue.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Customer, LedgerEntry, LedgerKind, Purchase
from bot.services.context import Business
from bot.services.money.live_purchases import IS_LIVE, NET_AMOUNT
from bot.services.money.programme_costs import given_points_sum
from bot.services.rules.earn import EarnTerms, terms_for
from bot.services.rules.model import RuleSet
from bot.services.rules.versions import in_force, local_moment, versions

YEAR_DAYS = 365


@dataclass
class Figures:
    """One set of rules over the year."""

    issued: int = 0  # points
    expected_redeemed: int = 0  # points
    liability: Decimal = Decimal("0")  # money
    cost_share: Decimal = Decimal("0")  # of revenue, 0..1
    by_customer: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Simulation:
    purchases: int
    revenue: Decimal
    redemption_rate: Decimal  # 0..1, observed over the year
    today: Figures
    proposed: Figures
    tier_changes: list[tuple[str, str, str]]  # (card code, tier now, tier then)


@dataclass(frozen=True)
class _Row:
    customer_id: int
    tier: str | None
    net: Decimal
    points_redeemed: int
    tag: str | None
    outlet: str
    at: datetime


async def simulate(biz: Business, proposed: RuleSet) -> Simulation:
    """The year replayed under the version in force now and under ``proposed``."""
    now = biz.clock.now()
    since = now - timedelta(days=YEAR_DAYS)
    async with biz.db.read() as session:
        rows = await _purchases(session, since)
        rate = await _redemption_rate(session, since)
    current = in_force(await versions(biz), now)
    today = _replay(biz, rows, current.id if current else 0, current.rules if current else None)
    then = _replay(biz, rows, -1, proposed)
    revenue = sum((r.net for r in rows), Decimal("0"))
    for figures in (today, then):
        _price(biz, figures, rate, revenue)
    return Simulation(len(rows), revenue, rate, today, then, tier_changes=[])


async def _purchases(session: AsyncSession, since: datetime) -> list[_Row]:
    found = await session.execute(
        select(
            Purchase.customer_id, Customer.tier, NET_AMOUNT, Purchase.amount,
            Purchase.points_redeemed, Purchase.service_tag, Purchase.outlet_code,
            Purchase.created_at,
        )
        .join(Customer, Customer.id == Purchase.customer_id)
        .where(IS_LIVE, Purchase.created_at >= since)
        .order_by(Purchase.created_at, Purchase.id)
    )
    return [
        _Row(cid, tier, net, _share(redeemed, net, amount), tag, outlet, at)
        for cid, tier, net, amount, redeemed, tag, outlet, at in found.all()
    ]


def _share(points: int, part: Decimal, whole: Decimal) -> int:
    return int(Decimal(points) * part / whole) if whole else 0


async def _redemption_rate(session: AsyncSession, since: datetime) -> Decimal:
    """Points redeemed over points given, over the year (0 when none were given)."""
    in_year = LedgerEntry.created_at >= since
    given = await session.scalar(select(given_points_sum(in_year)))
    redeemed = await session.scalar(
        select(func.coalesce(func.sum(-LedgerEntry.points), 0)).where(
            in_year, LedgerEntry.kind == LedgerKind.REDEEM.value
        )
    )
    if not given:
        return Decimal("0")
    return min(Decimal(int(redeemed or 0)) / Decimal(int(given)), Decimal(1))


def _replay(biz: Business, rows: list[_Row], version: int, rules: RuleSet | None) -> Figures:
    settings = biz.settings
    figures = Figures()
    punched: dict[tuple[int, str], int] = defaultdict(int)
    by_customer: dict[int, int] = defaultdict(int)
    for row in rows:
        local = local_moment(biz, row.at.astimezone(UTC))
        terms = terms_for(version, rules, row.tag, row.outlet, local)
        points = terms.rate_points(settings, row.tier, row.net, row.points_redeemed)
        points += _rewards(biz, terms, row, local, punched)
        figures.issued += points
        by_customer[row.customer_id] += points
    figures.by_customer = dict(by_customer)
    return figures


def _rewards(
    biz: Business, terms: EarnTerms, row: _Row, local: datetime, punched: dict[Any, int]
) -> int:
    card = terms.punch
    count = None
    if card is not None:
        count = punched[(row.customer_id, card.name)]
        punched[(row.customer_id, card.name)] = count + 1
    paid = max(row.net - biz.settings.loyalty.point_value * row.points_redeemed, Decimal(0))
    return sum(r.points for r in terms.rewards(biz.settings, paid, count))


def _price(biz: Business, figures: Figures, rate: Decimal, revenue: Decimal) -> None:
    expected = (Decimal(figures.issued) * rate).to_integral_value(rounding=ROUND_HALF_UP)
    figures.expected_redeemed = int(expected)
    figures.liability = (expected * biz.settings.loyalty.point_value).quantize(Decimal("0.01"))
    figures.cost_share = figures.liability / revenue if revenue else Decimal("0")

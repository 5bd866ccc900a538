"""``/campaigns``: what each broadcast and each scheduled job delivered and whether it paid.

Per campaign: its outbox rows by outcome (delivered, blocked, failed, stopped), offers
made and used, and for recipients versus the holdout group the share who bought and the
revenue per customer within ``campaigns.report_days`` of enrolment (live purchases at
their net amount, ``bot.services.money.live_purchases``), with the uplift and a 95 % interval
(``scoring.uplift``: Newcombe's hybrid score interval for the conversion difference, a
Welch normal interval for the revenue difference). A member counts once per enrolment
(a job's member per occurrence).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    NEVER_SENT,
    Campaign,
    CampaignMember,
    Offer,
    OutboxMessage,
    OutboxState,
    Purchase,
)
from bot.money import from_minor
from bot.services.campaigns.enrolment import source_of
from bot.services.context import Business
from bot.services.money.live_purchases import IS_LIVE, NET_MINOR
from bot.services.outbox import delivery_queue
from scoring.uplift import Interval, mean_difference, proportion_difference

MAX_CAMPAIGNS = 10


@dataclass(frozen=True)
class Group:
    customers: int
    buyers: int
    purchases: int
    revenue: Decimal

    @property
    def conversion_pct(self) -> float | None:
        return 100 * self.buyers / self.customers if self.customers else None

    @property
    def revenue_per_customer(self) -> Decimal | None:
        return (self.revenue / self.customers).quantize(Decimal("0.01")) if self.customers else None


@dataclass(frozen=True)
class CampaignReport:
    campaign_id: int
    kind: str
    name: str
    state: str
    created_at: object
    delivered: int
    blocked: int
    failed: int
    stopped: int
    pending: int
    offers_made: int
    offers_used: int
    recipients: Group
    holdout: Group
    conversion_uplift: Interval | None  # percentage points
    revenue_uplift: Interval | None  # money per customer
    window_open: bool  # the last enrolment's report window has not ended yet
    report_days: int


async def _outbox_counts(session: AsyncSession, source: str) -> dict[str, int]:
    blocked = case((delivery_queue.blocked(), "blocked"), else_=OutboxMessage.state)
    rows = await session.execute(
        select(blocked, func.count(OutboxMessage.id))
        .where(OutboxMessage.source == source)
        .group_by(blocked)
    )
    return {str(state): int(n) for state, n in rows.all()}


async def _member_outcomes(
    session: AsyncSession, campaign_id: int, days: int
) -> list[tuple[bool, int, int]]:
    """(held_out, purchases, net minor units) of every member within its window (the
    window's end is checked here, in Python: date arithmetic differs between dialects)."""
    joined = and_(
        Purchase.customer_id == CampaignMember.customer_id,
        Purchase.created_at >= CampaignMember.enrolled_at,
        IS_LIVE,
    )
    rows = await session.execute(
        select(
            CampaignMember.id,
            CampaignMember.held_out,
            CampaignMember.enrolled_at,
            Purchase.created_at,
            NET_MINOR,
        )
        .outerjoin(Purchase, joined)
        .where(CampaignMember.campaign_id == campaign_id)
    )
    per_member: dict[int, list[int]] = {}
    held: dict[int, bool] = {}
    limit = timedelta(days=days)
    for member_id, held_out, enrolled_at, bought_at, net in rows.all():
        held[member_id] = bool(held_out)
        tally = per_member.setdefault(member_id, [0, 0])
        if bought_at is not None and bought_at < enrolled_at + limit:
            tally[0] += 1
            tally[1] += int(net)
    return [(held[m], t[0], t[1]) for m, t in per_member.items()]


def _group(outcomes: list[tuple[int, int]]) -> Group:
    return Group(
        customers=len(outcomes),
        buyers=sum(1 for n, _ in outcomes if n > 0),
        purchases=sum(n for n, _ in outcomes),
        revenue=from_minor(sum(m for _, m in outcomes)),
    )


def compare(
    recipients: list[tuple[int, int]], holdout: list[tuple[int, int]]
) -> tuple[Group, Group, Interval | None, Interval | None]:
    """Groups of (purchases, net minor units) per member: both groups' figures and the
    uplifts (conversion in percentage points, revenue per customer in money)."""
    treated, control = _group(recipients), _group(holdout)
    conversion = proportion_difference(
        treated.buyers, treated.customers, control.buyers, control.customers
    )
    if conversion is not None:
        conversion = Interval(100 * conversion.estimate, 100 * conversion.low,
                              100 * conversion.high)  # fmt: skip
    revenue = mean_difference([m / 100 for _, m in recipients], [m / 100 for _, m in holdout])
    return treated, control, conversion, revenue


async def report(biz: Business, campaign: Campaign, session: AsyncSession) -> CampaignReport:
    days = biz.settings.campaigns.report_days
    source = source_of(campaign.id)
    counts = await _outbox_counts(session, source)
    outcomes = await _member_outcomes(session, campaign.id, days)
    treated, control, conversion, revenue = compare(
        [(n, m) for held, n, m in outcomes if not held],
        [(n, m) for held, n, m in outcomes if held],
    )
    made, used = (
        await session.execute(
            select(func.count(Offer.id), func.count(Offer.used_at)).where(Offer.source == source)
        )
    ).one()
    last = await session.scalar(
        select(func.max(CampaignMember.enrolled_at)).where(
            CampaignMember.campaign_id == campaign.id
        )
    )
    return CampaignReport(
        campaign_id=campaign.id,
        kind=campaign.kind,
        name=campaign.name,
        state=campaign.state,
        created_at=campaign.created_at,
        delivered=counts.get(OutboxState.SENT, 0),
        blocked=counts.get("blocked", 0),
        failed=counts.get(OutboxState.FAILED, 0),
        stopped=sum(counts.get(s, 0) for s in NEVER_SENT),
        pending=counts.get(OutboxState.PENDING, 0),
        offers_made=int(made or 0),
        offers_used=int(used or 0),
        recipients=treated,
        holdout=control,
        conversion_uplift=conversion,
        revenue_uplift=revenue,
        window_open=last is not None and biz.clock.now() < last + timedelta(days=days),
        report_days=days,
    )


async def recent(biz: Business, limit: int = MAX_CAMPAIGNS) -> list[CampaignReport]:
    """Reports of the latest broadcasts and every job campaign, newest first."""
    async with biz.db.read() as session:
        rows = await session.scalars(
            select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc()).limit(limit)
        )
        return [await report(biz, campaign, session) for campaign in rows]

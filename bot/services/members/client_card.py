"""The owner's profile card of one customer, laid out as seed 000 describes it: general
information, relationship history, satisfaction, profitability, prospectiveness, value,
and the strategy the sources assign (with their own wording, so the owner sees why)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

import scoring
from bot.db.models import CustomerScore, Note, Purchase, Visit
from bot.money import CENT, MINOR_PER_UNIT, from_minor, points_value
from bot.services.context import Business
from bot.services.counter.offers_at_counter import OfferView, live_views
from bot.services.insight.satisfaction import CustomerSatisfaction, for_customer
from bot.services.money.live_purchases import IS_LIVE, NET_AMOUNT, NET_MINOR
from bot.services.money.programme_costs import given_to
from bot.services.people.customers import CustomerView, require_customer, view
from scoring.calendar import add_months

RECENT_PURCHASES = 5


class SourceWording(BaseModel):
    title: str
    essence: str
    source: str


class Profitability(BaseModel):
    """Seed 003: revenue minus direct costs, the programme's own included (scoring.profit):
    all time and over the trailing 12 months, with what the programme gave."""

    points_given: int  # net of expiry and take-backs
    points_value: Decimal
    discounts: Decimal  # money taken off by offers
    profit: Decimal  # margin on what was paid minus the programme's cost
    profit_year: Decimal  # the same over the trailing 12 months ("profitable now")


class ClientCard(BaseModel):
    customer: CustomerView
    joined_at: datetime
    purchases: int
    visits: int
    first_purchase: datetime | None
    last_purchase: datetime | None
    total_spend: Decimal
    average_check: Decimal | None  # live: total_spend / purchases, as of now
    scores_pending: bool = False  # bought since the scores were computed
    recent: list[tuple[int, datetime, Decimal, str | None]]
    last_note: str | None
    score: dict[str, object] | None
    strategy: SourceWording | None
    service: SourceWording | None
    long_term: SourceWording | None  # seed 001: for every rated customer but the released
    value_basis: str | None  # what ranked the value: "clv" (model) or "monthly_spend"
    offers: list[OfferView] = []  # live offers, each with a button on the card
    satisfaction: CustomerSatisfaction | None = None  # post-visit surveys (seed 000)
    profitability: Profitability | None = None


def _wording(text: scoring.value.SourceText | None, locale: str) -> SourceWording | None:
    if text is None:
        return None
    return SourceWording(
        title=getattr(text, f"title_{locale}"),
        essence=getattr(text, f"essence_{locale}") or "",
        source=text.source,
    )


def strategy_wordings(locale: str) -> dict[str, SourceWording]:
    """Each seed 001 strategy as the source words it (title, what it means to do)."""
    return {
        key: wording
        for key, text in scoring.STRATEGY_TEXT.items()
        if (wording := _wording(text, locale)) is not None
    }


async def client_card(biz: Business, token: str, locale: str) -> ClientCard:
    async with biz.db.read() as session:
        customer = await require_customer(session, token, biz.settings.business.phone_region)
        live = (Purchase.customer_id == customer.id) & IS_LIVE
        count, first, last, net_minor = (
            await session.execute(
                select(
                    func.count(Purchase.id),
                    func.min(Purchase.created_at),
                    func.max(Purchase.created_at),
                    func.coalesce(func.sum(NET_MINOR), 0),
                ).where(live)
            )
        ).one()
        visits = await session.scalar(
            select(func.count(Visit.id)).where(Visit.customer_id == customer.id)
        )
        recent = (
            await session.execute(
                select(Purchase.id, Purchase.created_at, NET_AMOUNT, Purchase.service_tag)
                .where(live)
                .order_by(Purchase.id.desc())
                .limit(RECENT_PURCHASES)
            )
        ).all()
        note = await _last_note(session, customer.id)
        score = await session.get(CustomerScore, customer.id)
        offers = await live_views(session, customer.id, biz.clock.now())
        satisfaction = await for_customer(session, customer.id, biz.clock.now())
        profitability = await _profitability(biz, session, customer.id)
    return ClientCard(
        customer=view(customer, biz.settings.loyalty.point_value),
        joined_at=customer.created_at,
        purchases=int(count or 0),
        visits=int(visits or 0),
        first_purchase=first,
        last_purchase=last,
        total_spend=from_minor(int(net_minor)),
        average_check=(from_minor(int(net_minor)) / int(count)).quantize(CENT) if count else None,
        scores_pending=bool(score and last and last > score.computed_at),
        recent=[(r[0], r[1], r[2], r[3]) for r in recent],
        last_note=note,
        score=_score_fields(score),
        strategy=_wording(scoring.STRATEGY_TEXT.get(score.strategy) if score else None, locale),
        service=_wording(scoring.SERVICE_TEXT.get(score.service) if score else None, locale),
        value_basis=scoring.value_basis(score.clv_method) if score else None,
        offers=offers,
        satisfaction=satisfaction,
        profitability=profitability,
        long_term=_wording(
            scoring.LONG_TERM_TEXT
            if score and score.strategy in scoring.STRATEGIES and score.strategy != "release"
            else None,
            locale,
        ),
    )


async def _last_note(session: AsyncSession, customer_id: int) -> str | None:
    return await session.scalar(
        select(Note.text).where(Note.customer_id == customer_id).order_by(Note.id.desc()).limit(1)
    )


async def _profitability(biz: Business, session: AsyncSession, customer_id: int) -> Profitability:
    """Profit after the programme's costs, all time and over the trailing 12 months."""
    now = biz.clock.now()
    since = add_months(now.astimezone(biz.settings.business.zone), -12)
    live = (Purchase.customer_id == customer_id) & IS_LIVE
    spend, spend_year = (
        await session.execute(
            select(
                func.coalesce(func.sum(NET_MINOR), 0),
                func.coalesce(
                    func.sum(case((Purchase.created_at >= since, NET_MINOR), else_=0)), 0
                ),
            ).where(live)
        )
    ).one()
    points, points_year, off, off_year = await given_to(session, customer_id, since)
    margin = biz.settings.scoring.clv_margin
    value = float(biz.settings.loyalty.point_value)

    def profit(paid: int, pts: int, discount: int) -> Decimal:
        net = scoring.net_margin(
            paid / MINOR_PER_UNIT, pts, discount / MINOR_PER_UNIT, value, margin
        )
        return Decimal(str(round(float(net), 2)))

    return Profitability(
        points_given=points,
        points_value=points_value(points, biz.settings.loyalty.point_value),
        discounts=from_minor(off),
        profit=profit(int(spend), points, off),
        profit_year=profit(int(spend_year), points_year, off_year),
    )


def _score_fields(score: CustomerScore | None) -> dict[str, object] | None:
    if score is None:
        return None
    return {
        column: getattr(score, column)
        for column in (
            "computed_at",
            "average_check",
            "rfm_code",
            "segment",
            "lifecycle",
            "lapsed",
            "value",
            "strategy",
            "clv",
            "p_alive",
            "expected_purchases",
            "clv_method",
            "rating_points",
            "rating_category",
            "recency",
            "frequency",
            "monetary",
        )
    }

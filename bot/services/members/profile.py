"""What a customer sees about themselves: card, balance with tier progress and expiring
points, history pages, offers of their tier; and their settings (language, marketing)."""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal

import segno
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import SUPPORTED_LOCALES
from bot.db.models import Customer, LedgerEntry, Purchase
from bot.money import points_value
from bot.services.context import Business
from bot.services.counter.offers_at_counter import OfferView, live_views
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome, run_once
from bot.services.money.expiry import expiring
from bot.services.money.pending import pending_view, spendable
from bot.services.money.rewards import RewardView, catalogue
from bot.services.money.tiers import TierProgress, ladder_view, progress

HISTORY_PAGE_SIZE = 10


class CardView(BaseModel):
    customer_id: int
    card_code: str
    name: str | None


class BalanceSummary(BaseModel):
    card_code: str
    balance: int
    value: Decimal
    available: int  # spendable now; the rest waits out the return window
    pending: int = 0
    pending_from: datetime | None = None  # when the first pending points become spendable
    tier: TierProgress
    expiring_points: int
    expiring_from: datetime | None
    horizon_days: int


class HistoryLine(BaseModel):
    at: datetime
    kind: str
    points: int
    purchase_id: int | None


class HistoryPage(BaseModel):
    lines: list[HistoryLine]
    page: int
    pages: int


class Offers(BaseModel):
    tier: TierProgress
    ladder: list[dict[str, object]]
    personal: list[OfferView] = []  # live offers made for this customer, soonest to end first
    available: int = 0  # spendable points: what the rewards catalogue is measured against
    rewards: list[RewardView] = []  # the catalogue, cheapest first


class Preferences(BaseModel):
    language: str
    marketing_opt_in: bool


async def _member(session: AsyncSession, tg_id: int) -> Customer:
    customer = await session.scalar(select(Customer).where(Customer.telegram_id == tg_id))
    if customer is None:
        raise ServiceError("not_registered")
    return customer


async def card(biz: Business, tg_id: int) -> CardView:
    async with biz.db.read() as session:
        customer = await _member(session, tg_id)
        return CardView(customer_id=customer.id, card_code=customer.card_code, name=customer.name)


def qr_png(link: str) -> bytes:
    """The card's QR code (the staff deep link) as a PNG big enough to scan off a phone."""
    buffer = io.BytesIO()
    segno.make(link, error="m").save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()


async def balance(biz: Business, tg_id: int) -> BalanceSummary:
    settings = biz.settings
    now = biz.clock.now()
    async with biz.db.read() as session:
        customer = await _member(session, tg_id)
        horizon = settings.expiry.balance_horizon_days
        points, first = await expiring(session, customer.id, settings.expiry.months, now, horizon)
        available, pending, pending_from = await pending_view(session, customer, now)
        return BalanceSummary(
            card_code=customer.card_code,
            balance=customer.balance,
            value=points_value(customer.balance, settings.loyalty.point_value),
            available=available,
            pending=pending,
            pending_from=pending_from,
            tier=await progress(session, settings, customer, now),
            expiring_points=points,
            expiring_from=first,
            horizon_days=horizon,
        )


async def history(biz: Business, tg_id: int, page: int) -> HistoryPage:
    """Ledger entries, newest first, ``HISTORY_PAGE_SIZE`` a page (pages count from 0)."""
    async with biz.db.read() as session:
        customer = await _member(session, tg_id)
        total = await session.scalar(
            select(func.count(LedgerEntry.id)).where(LedgerEntry.customer_id == customer.id)
        )
        pages = max(1, -(-int(total or 0) // HISTORY_PAGE_SIZE))
        page = min(max(page, 0), pages - 1)
        # A referrer's bonus names the friend's purchase: its number is not shown to them.
        own_purchase = Purchase.customer_id == LedgerEntry.customer_id
        rows = await session.execute(
            select(LedgerEntry, Purchase.id)
            .outerjoin(Purchase, (Purchase.id == LedgerEntry.purchase_id) & own_purchase)
            .where(LedgerEntry.customer_id == customer.id)
            .order_by(LedgerEntry.id.desc())
            .offset(page * HISTORY_PAGE_SIZE)
            .limit(HISTORY_PAGE_SIZE)
        )
        lines = [
            HistoryLine(at=e.created_at, kind=e.kind, points=e.points, purchase_id=purchase_id)
            for e, purchase_id in rows.all()
        ]
        return HistoryPage(lines=lines, page=page, pages=pages)


async def offers(biz: Business, tg_id: int) -> Offers:
    async with biz.db.read() as session:
        customer = await _member(session, tg_id)
        now = biz.clock.now()
        tier = await progress(session, biz.settings, customer, now)
        available, _pending = await spendable(session, customer, now)
        return Offers(
            tier=tier,
            ladder=ladder_view(biz.settings, customer.language),
            personal=await live_views(session, customer.id, now),
            available=available,
            rewards=catalogue(biz.settings, customer.language, available),
        )


async def preferences(biz: Business, tg_id: int) -> Preferences:
    async with biz.db.read() as session:
        customer = await _member(session, tg_id)
        return Preferences(language=customer.language, marketing_opt_in=customer.marketing_opt_in)


async def update_preferences(
    biz: Business,
    key: str,
    tg_id: int,
    *,
    language: str | None = None,
    marketing_opt_in: bool | None = None,
) -> Outcome[Preferences]:
    if language is not None and language not in SUPPORTED_LOCALES:
        raise ServiceError("unknown_language", language=language[:8])

    async def work(session: AsyncSession) -> Preferences:
        customer = await _member(session, tg_id)
        if language is not None:
            customer.language = language
        if marketing_opt_in is not None:
            customer.marketing_opt_in = marketing_opt_in
            customer.marketing_opt_in_at = biz.clock.now()  # when the answer was given
        return Preferences(language=customer.language, marketing_opt_in=customer.marketing_opt_in)

    return await run_once(biz.db, biz.clock, key, Preferences, work)

"""Booking a purchase: the one road every purchase takes into the books.

Earn at the tier held before the purchase (SPEC.md, Rules that need one answer) -> the
purchase row -> the EARN entry -> the referral reward -> the tier recheck -> the
customer's notice. Used by a staff ``/purchase`` and by a confirmed redemption against a
purchase amount (the part paid in money earns; the part paid in points does not).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Customer, LedgerKind, Purchase
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.ledger import earned_points, post
from bot.services.notify import notify_customer
from bot.services.referrals import reward_first_purchase
from bot.services.surveys import schedule as schedule_survey
from bot.services.tiers import earn_percent, recheck

EARNED_NOTICE = "customer.points_earned"


@dataclass(frozen=True)
class Booked:
    purchase: Purchase
    points: int  # earned by it


async def book_purchase(
    session: AsyncSession,
    biz: Business,
    customer: Customer,
    *,
    key: str,
    now: datetime,
    author_tg_id: int,
    outlet_code: str,
    amount: Decimal,
    points_redeemed: int = 0,
    service_tag: str | None = None,
    receipt_no: str | None = None,
    notice: str | None = EARNED_NOTICE,
) -> Booked:
    """Book one purchase for a locked ``customer``; ``notice`` None when the caller tells
    the customer itself (a redemption says what was spent and earned in one message)."""
    loyalty = biz.settings.loyalty
    rate = earn_percent(biz.settings, customer.tier)  # the tier held before the purchase
    paid = max(amount - loyalty.point_value * points_redeemed, Decimal("0"))
    points = earned_points(paid, loyalty, rate)
    purchase = Purchase(
        customer_id=customer.id,
        author_tg_id=author_tg_id,
        outlet_code=outlet_code,
        amount=amount,
        refunded_amount=Decimal("0"),
        service_tag=service_tag,
        receipt_no=receipt_no,
        points_earned=points,
        points_redeemed=points_redeemed,
        created_at=now,
    )
    await _insert(session, purchase)
    if points:
        post(
            session,
            customer,
            kind=LedgerKind.EARN,
            points=points,
            key=f"{key}:earn",
            now=now,
            author_tg_id=author_tg_id,
            purchase_id=purchase.id,
        )
    if notice is not None:
        notify_customer(
            session,
            biz,
            customer,
            notice,
            kind="purchase",
            amount=amount,
            points=points,
            balance=customer.balance,
        )
    await reward_first_purchase(session, biz, customer, purchase, key, now)
    await recheck(session, biz, customer, now)
    await schedule_survey(session, biz, customer, purchase, now)  # survey hook (surveys.py)
    return Booked(purchase, points)


async def _insert(session: AsyncSession, purchase: Purchase) -> None:
    """A receipt number is unique per outlet: a repeated one is refused, and when two
    cashiers enter the same receipt at once the database's constraint decides."""
    if purchase.receipt_no is None:
        session.add(purchase)
        await session.flush()
        return
    await _refuse_repeated_receipt(session, purchase.outlet_code, purchase.receipt_no)
    try:
        async with session.begin_nested():
            session.add(purchase)
            await session.flush()
    except IntegrityError:
        await _refuse_repeated_receipt(session, purchase.outlet_code, purchase.receipt_no)
        raise


async def _refuse_repeated_receipt(session: AsyncSession, outlet: str, receipt: str) -> None:
    repeated = await session.scalar(
        select(Purchase.id).where(Purchase.outlet_code == outlet, Purchase.receipt_no == receipt)
    )
    if repeated is not None:
        raise ServiceError("receipt_repeated", receipt=receipt, purchase_id=repeated)

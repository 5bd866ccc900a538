"""An offer used at the counter: the purchase path's hook into ``bot.services.money.offers``.

``take`` runs inside the purchase's own write transaction (the lean path's connection,
``bot.services.counter.books``; the offer's ORM helpers on a session bound to it), before the
purchase is booked: it checks the offer (``offers.check``) and says what to book — PERCENT
and FIXED offers take money off, so the purchase is booked at what was paid and earns
points on that; a POINTS offer books the full amount. ``settle`` then claims the offer for
the purchase (``offers.claim``, a conditional UPDATE: of two concurrent uses one wins),
credits a POINTS offer's bonus through the ledger (key ``offers.bonus_key``, so once per
offer ever), counts the bonus among the points the purchase earned (a refund reverses it
pro rata with the rest, by the existing rule) and tells the customer in one message. A
refusal raises ServiceError and the transaction rolls back: no purchase, no ledger entry,
the offer still unused.

Also what staff and customers see of someone's live offers (``OfferView``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import Connection, Integer, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.db.models import LedgerKind, Offer, Purchase
from bot.services.context import Business
from bot.services.counter.books import Account, Books
from bot.services.errors import ServiceError
from bot.services.money import offers
from bot.services.money.offers import OfferUse
from bot.services.outbox.notify import customer_notice

OFFER_NOTICE = "customer.offer_purchase"


class OfferView(BaseModel):
    """A live offer as a card or /offers lists it."""

    code: str
    kind: str
    value: Decimal
    service_tag: str | None
    valid_until: datetime


def offer_view(offer: Offer) -> OfferView:
    return OfferView(
        code=offer.code,
        kind=offer.kind,
        value=offer.value,
        service_tag=offer.service_tag,
        valid_until=offer.valid_until,
    )


async def live_views(session: AsyncSession, customer_id: int, now: datetime) -> list[OfferView]:
    return [offer_view(o) for o in await offers.live_offers(session, customer_id, now)]


async def live_for(biz: Business, customer_id: int) -> list[OfferView]:
    """The customer's live offers, soonest to end first (the staff card's buttons)."""
    async with biz.db.read() as session:
        return await live_views(session, customer_id, biz.clock.now())


def take(
    conn: Connection,
    customer_id: int,
    *,
    code: str | None,
    amount: Decimal,
    service_tag: str | None,
    now: datetime,
) -> OfferUse | None:
    """What the offer ``code`` gives a purchase of ``amount`` (``offers.check``, one read on
    the purchase's connection); None (and no statement) when no offer was named. ``settle``
    claims it once the purchase is booked.

    An offer worth the whole amount is refused (``offer_covers_purchase``): a purchase is
    booked at what was paid, and nothing paid is no purchase.
    """
    if code is None:
        return None
    with Session(bind=conn) as session:
        used = offers.check(
            session,
            code=code,
            customer_id=customer_id,
            amount=amount,
            service_tag=service_tag,
            now=now,
        )
    if used.discount >= amount:
        raise ServiceError("offer_covers_purchase", offer=used.code, amount=amount)
    return used


def to_book(amount: Decimal, used: OfferUse | None) -> Decimal:
    """What the purchase is booked at: the amount less the offer's money off."""
    return amount if used is None else amount - used.discount


_ADD_EARNED = (
    update(Purchase)
    .where(Purchase.id == bindparam("purchase_id"))
    .values(points_earned=Purchase.points_earned + bindparam("bonus", type_=Integer))
)


def settle(
    books: Books,
    customer: Account,
    used: OfferUse,
    purchase_id: int,
    *,
    paid: Decimal,
    earned: int,
    author_tg_id: int,
) -> int:
    """After booking purchase ``purchase_id`` (which earned ``earned`` on ``paid``): claim
    the offer for it (``offers.claim``: refused "offer_used" when a concurrent purchase got
    it first, and this transaction rolls back), credit a POINTS offer's bonus and tell the
    customer. Returns the bonus credited."""
    with Session(bind=books.conn) as session:
        offers.claim(
            session, used, now=books.now, actor_tg_id=author_tg_id, purchase_id=purchase_id
        )
    if used.bonus_points:
        books.post(
            customer,
            kind=LedgerKind.BONUS,
            points=used.bonus_points,
            key=offers.bonus_key(used.offer_id),
            author_tg_id=author_tg_id,
            purchase_id=purchase_id,
            reason=f"offer {used.code}",
        )
        books.conn.execute(_ADD_EARNED, {"purchase_id": purchase_id, "bonus": used.bonus_points})
    books.queue(
        customer_notice(
            books.biz,
            customer,
            OFFER_NOTICE,
            kind="purchase",  # the purchase notice it replaces (booking.book_purchase)
            paid=paid,
            discount=used.discount,
            bonus=used.bonus_points,
            offer=used.code,
            points=earned,
            balance=customer.balance,
        )
    )
    return used.bonus_points

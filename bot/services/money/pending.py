"""Pending points: a purchase's points wait out the return window before they can be spent.

A purchase's ``earn`` entry carries ``available_at`` (the purchase's time plus
``loyalty.pending_days``; None when the setting is 0). The points count in the balance
from the start (the cached balance always equals the ledger sum) but are not spendable
until then: pending = the sum of the customer's entries whose ``available_at`` is still
ahead, computed by the query that reads the balance (no extra write on a purchase).

A refund inside the window takes back the purchase's pending points first: its reversal
carries the same ``available_at``, so pending drops with it; what is left to reverse
comes out of the spendable balance (``ledger.take_back``, up to the balance, shortfall
audited as before). Pending never exceeds the balance: a balance brought down another way
(a referral taken back, a negative adjustment) shrinks pending with it, so the spendable
part can only be understated, never overstated: no point is spent before it is safe.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement, Label

from bot.config import Settings
from bot.db.models import Customer, LedgerEntry, LedgerKind
from bot.services.money.ledger import post

PENDING_AT = "pending_at"  # the bind parameter: the moment pending is computed for


def available_at(settings: Settings, now: datetime) -> datetime | None:
    """When points a purchase earns ``now`` become spendable (None: at once)."""
    days = settings.loyalty.pending_days
    return now + timedelta(days=days) if days else None


def pending_column(customer_id: ColumnElement[int] = Customer.id) -> Label[Any]:
    """The customer's pending points as a scalar subquery correlated to ``customer_id``
    (bind ``pending_at``), selected with the customer's own row at no statement of its own."""
    return (
        select(func.coalesce(func.sum(LedgerEntry.points), 0))
        .where(
            LedgerEntry.customer_id == customer_id,
            LedgerEntry.available_at > bindparam(PENDING_AT),
        )
        .scalar_subquery()
        .label("pending_points")
    )


def split(balance: int, pending_sum: int) -> tuple[int, int]:
    """(spendable, pending) of a balance: pending capped to the balance, never negative."""
    pending = max(0, min(int(pending_sum or 0), balance))
    return balance - pending, pending


async def pending_of(session: AsyncSession, customer_id: int, now: datetime) -> int:
    """The sum of the customer's entries still pending at ``now`` (``split`` caps it)."""
    total = await session.scalar(
        select(pending_column(bindparam("customer_id", type_=Integer))),
        {"customer_id": customer_id, PENDING_AT: now},
    )
    return int(total or 0)


async def spendable(session: AsyncSession, customer: Any, now: datetime) -> tuple[int, int]:
    """(spendable, pending) of a customer's balance at ``now``."""
    return split(customer.balance, await pending_of(session, customer.id, now))


async def pending_view(
    session: AsyncSession, customer: Any, now: datetime
) -> tuple[int, int, datetime | None]:
    """(spendable, pending, when the first pending points become spendable) for /balance."""
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(LedgerEntry.points), 0), func.min(LedgerEntry.available_at)
            ).where(LedgerEntry.customer_id == customer.id, LedgerEntry.available_at > now)
        )
    ).one()
    available, pending = split(customer.balance, int(row[0] or 0))
    return available, pending, (row[1] if pending else None)


async def take_back_pending(
    session: AsyncSession,
    customer: Customer,
    points: int,
    *,
    purchase_id: int,
    key: str,
    now: datetime,
    author_tg_id: int | None,
) -> int:
    """A refund inside the window: reverse up to ``points`` of what ``purchase_id`` still
    has pending (never more than the balance), dated like the earn so pending drops with
    it; returns what was taken (the caller takes the rest from the spendable balance)."""
    if points <= 0:
        return 0
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(LedgerEntry.points), 0), func.max(LedgerEntry.available_at)
            ).where(
                LedgerEntry.customer_id == customer.id,
                LedgerEntry.purchase_id == purchase_id,
                LedgerEntry.available_at > now,
            )
        )
    ).one()
    left, until = int(row[0] or 0), row[1]
    taken = max(0, min(points, left, customer.balance))
    if taken:
        post(
            session, customer, kind=LedgerKind.REVERSAL, points=-taken, key=key, now=now,
            author_tg_id=author_tg_id, purchase_id=purchase_id,
            reason="refund: pending points reversed", available_at=until,
        )  # fmt: skip
    return taken

"""The points ledger: append-only entries and a cached balance that always equals their sum."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import LoyaltySettings
from bot.db.models import Customer, LedgerEntry, LedgerKind
from bot.services.errors import ServiceError


def earned_points(
    amount: Decimal,
    loyalty: LoyaltySettings,
    percent: Decimal | None = None,
    factor: int | Decimal = 1,
) -> int:
    """Points for a purchase: earn percent (the tier's, when given) of the amount in point
    values, times ``factor`` (an earn rule's multipliers, bot.services.rules), rounded down."""
    rate = loyalty.earn_percent if percent is None else percent
    raw = amount * rate / Decimal(100) / loyalty.point_value * factor
    return int(raw.to_integral_value(rounding=ROUND_FLOOR))


def max_redeemable(amount: Decimal, loyalty: LoyaltySettings) -> int:
    raw = amount * loyalty.max_redeem_share / loyalty.point_value
    return int(raw.to_integral_value(rounding=ROUND_FLOOR))


async def lock_customer(session: AsyncSession, customer_id: int) -> Customer:
    """Load the customer for a balance change, row-locked on PostgreSQL.

    SQLite needs no row lock: write sessions start with BEGIN IMMEDIATE.
    """
    customer = await session.scalar(
        select(Customer)
        .where(Customer.id == customer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if customer is None:
        raise ServiceError("customer_not_found", token=str(customer_id))
    return customer


def entry_row(
    customer: Any,
    *,
    kind: LedgerKind,
    points: int,
    key: str,
    now: datetime,
    author_tg_id: int | None,
    purchase_id: int | None = None,
    redemption_id: int | None = None,
    reason: str | None = None,
    available_at: datetime | None = None,
) -> dict[str, Any]:
    """The one rule for a ledger entry: refuse a zero or overdrawing entry, move the
    cached balance of ``customer`` (an ORM ``Customer`` or a
    ``bot.services.counter.books.Account``), and return the ``ledger_entries`` row to insert.
    ``available_at``: pending until then (``bot.services.money.pending``)."""
    if points == 0:
        raise ValueError("a ledger entry must move points")
    if customer.balance + points < 0:
        raise ServiceError("insufficient_points", balance=customer.balance, points=-points)
    customer.balance += points
    return {
        "customer_id": customer.id,
        "kind": kind,
        "points": points,
        "author_tg_id": author_tg_id,
        "purchase_id": purchase_id,
        "redemption_id": redemption_id,
        "reason": reason,
        "idempotency_key": key,
        "created_at": now,
        "available_at": available_at,
    }


def post(
    session: AsyncSession,
    customer: Customer,
    *,
    kind: LedgerKind,
    points: int,
    key: str,
    now: datetime,
    author_tg_id: int | None,
    purchase_id: int | None = None,
    redemption_id: int | None = None,
    reason: str | None = None,
    available_at: datetime | None = None,
) -> LedgerEntry:
    """Append one entry and move the cached balance; the customer must be locked."""
    entry = LedgerEntry(
        **entry_row(
            customer,
            kind=kind,
            points=points,
            key=key,
            now=now,
            author_tg_id=author_tg_id,
            purchase_id=purchase_id,
            redemption_id=redemption_id,
            reason=reason,
            available_at=available_at,
        )
    )
    session.add(entry)
    return entry


def take_back(
    session: AsyncSession,
    customer: Customer,
    points: int,
    *,
    key: str,
    now: datetime,
    author_tg_id: int | None,
    purchase_id: int | None,
    reason: str,
) -> int:
    """Reverse up to ``points`` (> 0) of the locked ``customer``'s balance and return what
    was taken: a balance never goes below zero, so the caller audits the shortfall."""
    taken = min(points, customer.balance)
    if taken:
        post(
            session,
            customer,
            kind=LedgerKind.REVERSAL,
            points=-taken,
            key=key,
            now=now,
            author_tg_id=author_tg_id,
            purchase_id=purchase_id,
            reason=reason,
        )
    return taken


async def ledger_sum(session: AsyncSession, customer_id: int) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
            LedgerEntry.customer_id == customer_id
        )
    )
    return int(total or 0)

"""Points expiry: FIFO lots, a warning ahead, and an idempotent daily job (SPEC.md, Ledger).

Lots are derived from the append-only ledger, never stored: every positive entry (earn,
bonus, positive adjustment, points given back by a refund) opens a lot that expires
``expiry.months`` after it was credited; every negative entry (redeem, expire, reversal,
negative adjustment) consumes the oldest open lots first. Since every lot lives equally
long, the oldest lot is also the first to expire, so spending always uses the points that
would expire soonest.

The job handles one customer per transaction. An expired lot is written as an ``expire``
entry whose idempotency key names the lot (``expire:<entry id>``), and a warning claims
``expiry-warning:<entry id>`` in ``processed_updates`` in the same transaction as its
outbox row, so a job killed half-way and run again neither expires nor warns twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Customer, LedgerEntry, LedgerKind, ProcessedUpdate
from bot.services.context import Business
from bot.services.ledger import lock_customer, post
from bot.services.notify import notify_customer
from scoring.calendar import add_months

WARNING_KEY = "expiry-warning:"
EXPIRE_KEY = "expire:"


@dataclass
class Lot:
    entry_id: int
    credited_at: datetime
    expires_at: datetime
    remaining: int


async def open_lots(session: AsyncSession, customer_id: int, months: int) -> list[Lot]:
    """The customer's lots with points left, oldest first (FIFO over the ledger)."""
    entries = await session.execute(
        select(LedgerEntry.id, LedgerEntry.points, LedgerEntry.created_at)
        .where(LedgerEntry.customer_id == customer_id)
        .order_by(LedgerEntry.id)
    )
    lots: list[Lot] = []
    first = 0  # index of the oldest lot with points left
    for entry_id, points, created_at in entries.all():
        if points > 0:
            lots.append(Lot(entry_id, created_at, add_months(created_at, months), points))
            continue
        owed = -points
        while owed and first < len(lots):
            taken = min(owed, lots[first].remaining)
            lots[first].remaining -= taken
            owed -= taken
            if lots[first].remaining == 0:
                first += 1
    return [lot for lot in lots[first:] if lot.remaining > 0]


async def expiring(
    session: AsyncSession, customer_id: int, months: int, now: datetime, days: int
) -> tuple[int, datetime | None]:
    """Points that expire within ``days`` and the first date they do (for /balance)."""
    if months == 0:
        return 0, None
    horizon = now + timedelta(days=days)
    due = [
        lot for lot in await open_lots(session, customer_id, months) if lot.expires_at <= horizon
    ]
    return sum(lot.remaining for lot in due), (due[0].expires_at if due else None)


async def _process_customer(biz: Business, customer_id: int) -> tuple[int, int]:
    """Expire what is due and warn about what is near, in one transaction; (expired, warned)."""
    settings = biz.settings.expiry
    now = biz.clock.now()
    async with biz.db.write() as session:
        customer = await lock_customer(session, customer_id)
        lots = await open_lots(session, customer.id, settings.months)
        expired = 0
        for lot in lots:
            if lot.expires_at > now:
                break
            post(
                session,
                customer,
                kind=LedgerKind.EXPIRE,
                points=-lot.remaining,
                key=f"{EXPIRE_KEY}{lot.entry_id}",
                now=now,
                author_tg_id=None,
                reason="expired",
            )
            expired += lot.remaining
        if expired:
            notify_customer(
                session,
                biz,
                customer,
                "customer.points_expired",
                points=expired,
                months=settings.months,
                balance=customer.balance,
            )
        horizon = now + timedelta(days=settings.warn_days)
        near = [lot for lot in lots if now < lot.expires_at <= horizon]
        warned = await _warn(session, biz, customer, near, now)
    return expired, warned


async def _warn(
    session: AsyncSession, biz: Business, customer: Customer, near: list[Lot], now: datetime
) -> int:
    if not near:
        return 0
    keys = {f"{WARNING_KEY}{lot.entry_id}": lot for lot in near}
    claimed = set(
        await session.scalars(select(ProcessedUpdate.key).where(ProcessedUpdate.key.in_(keys)))
    )
    fresh = [lot for key, lot in keys.items() if key not in claimed]
    if not fresh:
        return 0
    for lot in fresh:
        session.add(
            ProcessedUpdate(
                key=f"{WARNING_KEY}{lot.entry_id}",
                result={"customer_id": customer.id, "points": lot.remaining},
                created_at=now,
            )
        )
    points = sum(lot.remaining for lot in fresh)
    notify_customer(
        session,
        biz,
        customer,
        "customer.expiry_warning",
        points=points,
        expires_at=fresh[0].expires_at,
        balance=customer.balance,
    )
    return points


async def run_daily(biz: Business) -> dict[str, int]:
    """The expiry job: every customer with points, one transaction each."""
    if biz.settings.expiry.months == 0:
        return {"customers": 0, "expired": 0, "warned": 0}
    async with biz.db.read() as session:
        ids = list(
            await session.scalars(
                select(Customer.id).where(Customer.balance > 0).order_by(Customer.id)
            )
        )
    expired = warned = 0
    for customer_id in ids:
        done = await _process_customer(biz, customer_id)
        expired += done[0]
        warned += done[1]
    return {"customers": len(ids), "expired": expired, "warned": warned}

"""Points expiry: FIFO lots, a warning ahead, and an idempotent daily job (SPEC.md, Ledger).

Lots are derived from the append-only ledger, never stored. Every positive entry opens a
lot that expires ``expiry.months`` after it was credited; negative entries consume lots:
- a refund's reversal (negative ``reversal`` entry naming a purchase) takes the points that
  purchase credited (its ``earn``, and the referral ``bonus`` paid on it) first, then FIFO;
- points a refund gives back (positive ``reversal`` naming a purchase) refill the lots the
  purchase's ``redeem`` took, most recently taken first, with their original dates: giving
  back is not a way to make points younger (a date already passed expires at the next run);
- everything else (redeem, expire, negative adjustment) takes the lot that expires first.
Spending therefore uses the points that would expire soonest.

The job handles one customer per transaction. An expired lot is written as an ``expire``
entry whose idempotency key names the lot (``expire:<lot key>``), and a warning claims
``expiry-warning:<lot key>`` in ``processed_updates`` in the same transaction as its
outbox row, so a job killed half-way and run again neither expires nor warns twice. A
lot's key is the id of the entry that credited it; points given back carry the id of the
giving-back entry and of the lot whose date they keep (``<entry id>:<origin id>``), so
they never collide with the original lot's own expiry or warning.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Customer, LedgerEntry, LedgerKind, ProcessedUpdate
from bot.services.context import Business
from bot.services.money.ledger import lock_customer, post
from bot.services.outbox.contact import ContactVerdict, queue_for
from bot.services.outbox.notify import customer_notice
from bot.services.outbox.rows import enqueue
from scoring.calendar import add_months

WARNING_KEY = "expiry-warning:"
EXPIRE_KEY = "expire:"
# Entries whose points a refund of their purchase takes back first.
_PURCHASE_CREDITS = (LedgerKind.EARN, LedgerKind.BONUS)


@dataclass
class Lot:
    entry_id: int  # the entry that credited these points
    origin_id: int  # the entry whose date they carry (entry_id, unless given back)
    credited_at: datetime
    expires_at: datetime
    remaining: int

    @property
    def key(self) -> str:
        """What the job's idempotency keys name: unique per lot, stable across runs."""
        if self.origin_id == self.entry_id:
            return str(self.entry_id)
        return f"{self.entry_id}:{self.origin_id}"


def _fifo(lot: Lot) -> tuple[datetime, int, int]:
    return lot.expires_at, lot.origin_id, lot.entry_id


@dataclass
class _Taken:
    """Points a redemption took from one lot: what a refund may give back, with its date."""

    origin_id: int
    credited_at: datetime
    expires_at: datetime
    points: int


class _Lots:
    """The lots of one customer while their ledger is replayed in entry order."""

    def __init__(self, months: int) -> None:
        self.months = months
        self.open: list[Lot] = []  # lots with points left, in FIFO order
        self.by_purchase: dict[int, list[Lot]] = {}  # lots each purchase credited
        self.redeemed: dict[int, list[_Taken]] = {}  # what each purchase's redemption took

    def credit(self, entry_id: int, at: datetime, points: int) -> Lot:
        lot = Lot(entry_id, entry_id, at, add_months(at, self.months), points)
        insort(self.open, lot, key=_fifo)
        return lot

    def give_back(self, entry_id: int, at: datetime, points: int, purchase_id: int) -> None:
        """Refill what the purchase's redemption took, latest taken first, at its dates."""
        taken = self.redeemed.get(purchase_id, [])
        refilled: dict[int, Lot] = {}
        while points and taken:
            last = taken[-1]
            share = min(points, last.points)
            last.points -= share
            points -= share
            if not last.points:
                taken.pop()
            lot = refilled.get(last.origin_id)
            if lot is None:
                lot = Lot(entry_id, last.origin_id, last.credited_at, last.expires_at, 0)
                refilled[last.origin_id] = lot
            lot.remaining += share
        for lot in refilled.values():
            insort(self.open, lot, key=_fifo)
        if points:  # more than the redemption took (not expected): a fresh lot
            self.credit(entry_id, at, points)

    def take(self, points: int, lots: list[Lot]) -> list[_Taken]:
        """Take up to ``points`` from ``lots`` in their order; what was taken, lot by lot."""
        taken: list[_Taken] = []
        for lot in lots:
            if not points:
                break
            share = min(points, lot.remaining)
            if share:
                lot.remaining -= share
                points -= share
                taken.append(_Taken(lot.origin_id, lot.credited_at, lot.expires_at, share))
        self.open = [lot for lot in self.open if lot.remaining]
        return taken

    def debit(self, points: int, purchase_id: int | None, kind: str) -> None:
        if kind == LedgerKind.REVERSAL and purchase_id is not None:
            own = self.take(points, self.by_purchase.get(purchase_id, []))
            points -= sum(t.points for t in own)
        taken = self.take(points, list(self.open))
        if kind == LedgerKind.REDEEM and purchase_id is not None:
            self.redeemed.setdefault(purchase_id, []).extend(taken)


async def open_lots(session: AsyncSession, customer_id: int, months: int) -> list[Lot]:
    """The customer's lots with points left, the first to expire first."""
    entries = await session.execute(
        select(
            LedgerEntry.id,
            LedgerEntry.kind,
            LedgerEntry.points,
            LedgerEntry.purchase_id,
            LedgerEntry.created_at,
        )
        .where(LedgerEntry.customer_id == customer_id)
        .order_by(LedgerEntry.id)
    )
    lots = _Lots(months)
    for entry_id, kind, points, purchase_id, created_at in entries.all():
        if points < 0:
            lots.debit(-points, purchase_id, kind)
        elif kind == LedgerKind.REVERSAL and purchase_id is not None:
            lots.give_back(entry_id, created_at, points, purchase_id)
        else:
            lot = lots.credit(entry_id, created_at, points)
            if kind in _PURCHASE_CREDITS and purchase_id is not None:
                lots.by_purchase.setdefault(purchase_id, []).append(lot)
    return lots.open


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
                key=f"{EXPIRE_KEY}{lot.key}",
                now=now,
                author_tg_id=None,
                reason="expired",
            )
            expired += lot.remaining
        if expired:
            enqueue(
                session,
                customer_notice(
                    biz,
                    customer,
                    "customer.points_expired",
                    points=expired,
                    months=settings.months,
                    balance=customer.balance,
                ),
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
    keys = {f"{WARNING_KEY}{lot.key}": lot for lot in near}
    claimed = set(
        await session.scalars(select(ProcessedUpdate.key).where(ProcessedUpdate.key.in_(keys)))
    )
    fresh = [lot for key, lot in keys.items() if key not in claimed]
    if not fresh:
        return 0
    for lot in fresh:
        session.add(
            ProcessedUpdate(
                key=f"{WARNING_KEY}{lot.key}",
                result={"customer_id": customer.id, "points": lot.remaining},
                created_at=now,
            )
        )
    points = sum(lot.remaining for lot in fresh)
    # Through contact discipline: no chat or a blocked bot gets nothing (the claim stays:
    # a warning is not owed later), quiet hours delay it; no opt-in or cap (not marketing).
    verdict = await queue_for(
        session,
        biz,
        customer,
        "customer.expiry_warning",
        kind="expiry_warning",
        source=None,
        now=now,
        deadline=min(lot.expires_at for lot in fresh),  # no use after the points are gone
        points=points,
        expires_at=fresh[0].expires_at,
        balance=customer.balance,
    )
    return points if verdict is ContactVerdict.OK else 0


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

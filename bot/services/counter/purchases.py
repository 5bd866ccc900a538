"""Staff actions on a customer's account: purchase, visit, refund, adjustment, note."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from functools import partial

from pydantic import BaseModel
from sqlalchemy import Connection, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import LedgerKind, Note, Purchase, Visit
from bot.services.context import Business
from bot.services.counter import approvals, surveys
from bot.services.counter import offers_at_counter as counter_offers
from bot.services.counter.adjustments import AdjustResult as AdjustResult  # moved: /adjust
from bot.services.counter.adjustments import adjust as adjust  # and its second owner
from bot.services.counter.booking import EARNED_NOTICE, book_purchase, credit_statement
from bot.services.counter.books import Books, account_of
from bot.services.counter.referrals import reverse_on_refund
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome, Replay, personal, run_once, run_once_core
from bot.services.money.ledger import lock_customer, post, take_back
from bot.services.money.live_purchases import IS_LIVE, NET_AMOUNT
from bot.services.money.pending import take_back_pending
from bot.services.money.tiers import (
    recheck,
    standing_of,
    window_start,
)
from bot.services.outbox.notify import customer_notice
from bot.services.outbox.rows import enqueue
from bot.services.people import mileage
from bot.services.people.audit import audit_act
from bot.services.people.customers import (
    customer_for,
    refuse_ambiguous,
    refuse_own_account,
    token_params,
)
from bot.services.people.roles import Actor, still_holds
from bot.services.requests import (
    NoteRequest,
    PurchaseRequest,
    RefundRequest,
    VisitRequest,
)
from bot.services.rules.earn import EarnTerms, Punch
from bot.services.rules.versions import earn_terms


class PurchaseResult(BaseModel):
    purchase_id: int
    customer_id: int
    card_code: str
    customer_name: str | None = personal()
    amount: Decimal
    points: int
    balance: int
    service_tag: str | None
    receipt_no: str | None
    offer_code: str | None = None  # an offer used on it: amount is what was paid
    discount: Decimal = Decimal("0")
    bonus: int = 0
    approval_id: int | None = None  # over the daily cap: held for an owner, nothing booked
    punch: Punch | None = None  # a punch card's "4 of 6" after it (bot.services.rules)


class VisitResult(BaseModel):
    visit_id: int
    customer_id: int
    card_code: str
    customer_name: str | None = personal()
    service_tag: str | None
    km: int | None = personal()  # a reading identifies a car's use: never stored


class Refundable(BaseModel):
    purchase_id: int
    created_at: datetime
    net_amount: Decimal


REFUNDABLE_SHOWN = 5


async def refundable(biz: Business, customer_id: int) -> list[Refundable]:
    """The customer's latest live purchases: what a refund button on their card offers."""
    async with biz.db.read() as session:
        rows = await session.execute(
            select(Purchase.id, Purchase.created_at, NET_AMOUNT)
            .where(Purchase.customer_id == customer_id, IS_LIVE)
            .order_by(Purchase.id.desc())
            .limit(REFUNDABLE_SHOWN)
        )
        return [Refundable(purchase_id=i, created_at=c, net_amount=a) for i, c, a in rows.all()]


class RefundResult(BaseModel):
    purchase_id: int
    customer_id: int
    card_code: str
    refunded: Decimal
    points_reversed: int
    points_returned: int
    shortfall: int
    balance: int


class NoteResult(BaseModel):
    note_id: int
    customer_id: int
    card_code: str


async def record_purchase(
    biz: Business, actor: Actor, key: str, request: PurchaseRequest
) -> Outcome[PurchaseResult]:
    """A staff ``/purchase`` on prebuilt Core statements: BEGIN (SQLite), one UPDATE that
    finds, locks and credits the customer and returns their row with the update's claim
    and (SQLite) their tier standing, then the purchase, the ledger entry, the outbox row,
    the audit row and the claim. PostgreSQL reads the standing after the lock, with the
    purchase's insert (``Database.serialises_writes``). A change of tier or a referral reward adds
    the customer's write-back (and the referrer's read); an offer used at the counter
    (``counter_offers``) or a post-visit survey (``surveys.schedule``) a few statements; a
    refusal or a replay rolls the credit back."""
    params = token_params(request.customer, biz.settings.business.phone_region)
    if not params:
        raise ServiceError("customer_not_found", token=request.customer)
    now = biz.clock.now()
    terms = await earn_terms(biz, request.service_tag, actor.outlet_code, now)
    work = partial(_book_staff_purchase, biz=biz, actor=actor, key=key, request=request,
                   params=params, now=now, terms=terms)  # fmt: skip
    guard = partial(still_holds, actor=actor)  # the actor may be a kept one
    try:
        return await run_once_core(biz.db, biz.clock, key, PurchaseResult, work, "purchase", guard)
    except approvals.OverCap as over:  # the staff member's daily cap: an owner decides
        return await approvals.hold_purchase(biz, actor, key, request, over, PurchaseResult)


def _book_staff_purchase(
    conn: Connection,
    *,
    biz: Business,
    actor: Actor,
    key: str,
    request: PurchaseRequest,
    params: dict[str, str],
    now: datetime,
    terms: EarnTerms,
) -> PurchaseResult | Replay:
    """``record_purchase``'s transaction: credit and lock the customer, take an offer used
    at the counter, book the purchase, settle the offer, audit, write it all."""
    settings = biz.settings
    folded = biz.db.serialises_writes
    rows = conn.execute(*approvals.with_day_totals(  # the author's day, if their role is capped
        biz, actor, now, credit_statement(frozenset(params), settings, with_standing=folded),
        params | terms.params(settings, request.amount)
        | {"claim_key": key, "since": window_start(settings, now)},
    )).all()  # fmt: skip
    claimed = next((row.claimed for row in rows if row.claimed is not None), None)
    if claimed is not None:
        return Replay(claimed)
    row = refuse_ambiguous(request.customer, sorted(rows, key=lambda r: r.id))
    customer = account_of(row)
    refuse_own_account(actor, customer)
    approvals.check_daily_cap(settings, actor, row, request.amount)
    credited = customer.balance
    # As it stood before the credit: book_purchase posts the same points again (on
    # the amount less an offer's money off: then flush writes the balance back).
    customer.balance -= terms.credited(settings, customer.tier, request.amount)
    books = Books(conn, biz, now)
    books.hold(customer, stored_balance=credited)
    # Offer hook (bot.services.counter.offers_at_counter): checked here, claimed by settle.
    offer = counter_offers.take(
        conn, customer.id, code=request.offer_code, amount=request.amount,
        service_tag=request.service_tag, now=now,
    )  # fmt: skip
    paid = counter_offers.to_book(request.amount, offer)
    booked = book_purchase(
        books, customer, standing_of(row) if folded else None, key=key,
        author_tg_id=actor.tg_id, outlet_code=actor.outlet_code, amount=paid,
        service_tag=request.service_tag, receipt_no=request.receipt_no,
        notice=EARNED_NOTICE if offer is None else None, terms=terms,
    )  # fmt: skip
    bonus = 0 if offer is None else counter_offers.settle(
        books, customer, offer, booked.purchase_id, paid=paid, earned=booked.points,
        author_tg_id=actor.tg_id,
    )  # fmt: skip
    used = {"offer_id": offer.offer_id} if offer else {}
    books.act(actor, "purchase", key, customer.id, purchase_id=booked.purchase_id, **used)
    books.flush()
    return PurchaseResult(
        purchase_id=booked.purchase_id, customer_id=customer.id, card_code=customer.card_code,
        customer_name=customer.name, amount=paid, points=booked.points + booked.rewards,
        balance=customer.balance, service_tag=request.service_tag,
        receipt_no=request.receipt_no, offer_code=offer.code if offer else None,
        discount=offer.discount if offer else Decimal("0"), bonus=bonus, punch=booked.punch,
    )  # fmt: skip


async def record_visit(
    biz: Business, actor: Actor, key: str, request: VisitRequest
) -> Outcome[VisitResult]:
    now = biz.clock.now()

    async def work(session: AsyncSession) -> VisitResult:
        customer = await customer_for(session, biz, actor, request.customer)
        visit = Visit(
            customer_id=customer.id,
            author_tg_id=actor.tg_id,
            outlet_code=actor.outlet_code,
            service_tag=request.service_tag,
            created_at=now,
        )
        session.add(visit)
        await session.flush()
        if request.km is not None:  # refused (nothing written) below the last reading
            await mileage.report(
                session,
                biz.settings.reminders,
                customer.id,
                request.km,
                now,
                author_tg_id=actor.tg_id,
                visit_id=visit.id,
            )
        await recheck(session, biz, await lock_customer(session, customer.id), now)
        audit_act(session, actor, "visit", key, now, customer.id, visit_id=visit.id)
        return VisitResult(
            visit_id=visit.id,
            customer_id=customer.id,
            card_code=customer.card_code,
            customer_name=customer.name,
            service_tag=request.service_tag,
            km=request.km,
        )

    return await run_once(biz.db, biz.clock, key, VisitResult, work, event="visit")


def _share(points: int, part: Decimal, whole: Decimal) -> int:
    return int((Decimal(points) * part / whole).to_integral_value(rounding=ROUND_FLOOR))


async def refund(
    biz: Business, actor: Actor, key: str, request: RefundRequest
) -> Outcome[RefundResult]:
    """Full or partial refund: reverse the earned points (up to the balance) pro rata,
    give back points redeemed on the purchase pro rata, and audit any shortfall."""
    work = partial(_refund, biz=biz, actor=actor, key=key, request=request, now=biz.clock.now())
    return await run_once(biz.db, biz.clock, key, RefundResult, work, event="refund")


async def _refunded_purchase(session: AsyncSession, request: RefundRequest) -> Purchase:
    """The purchase, locked; refused when missing or already refunded in full."""
    purchase = await session.scalar(
        select(Purchase).where(Purchase.id == request.purchase_id).with_for_update()
    )
    if purchase is None:
        raise ServiceError("purchase_not_found", purchase_id=request.purchase_id)
    if purchase.amount - purchase.refunded_amount <= 0:
        raise ServiceError("already_refunded", purchase_id=purchase.id)
    return purchase


def _refund_amount(purchase: Purchase, request: RefundRequest) -> Decimal:
    """What this refund gives back: the rest of the purchase unless an amount is named,
    never more than the rest."""
    remaining = purchase.amount - purchase.refunded_amount
    amount = request.amount if request.amount is not None else remaining
    if amount > remaining:
        raise ServiceError("refund_too_large", purchase_id=purchase.id, remaining=remaining)
    return amount


def _pro_rata(points: int, purchase: Purchase, amount: Decimal) -> int:
    """The part of ``points`` (earned or redeemed on ``purchase``) that refunding
    ``amount`` more moves: the share after it less the share before."""
    before = purchase.refunded_amount
    return _share(points, before + amount, purchase.amount) - _share(
        points, before, purchase.amount
    )


async def _refund(
    session: AsyncSession,
    *,
    biz: Business,
    actor: Actor,
    key: str,
    request: RefundRequest,
    now: datetime,
) -> RefundResult:
    """``refund``'s transaction: the points moved pro rata, the survey withdrawn on a full
    refund, the referral reversed when it stops qualifying, tier, notice and audit."""
    purchase = await _refunded_purchase(session, request)
    amount = _refund_amount(purchase, request)
    to_reverse = _pro_rata(purchase.points_earned, purchase, amount)
    to_return = _pro_rata(purchase.points_redeemed, purchase, amount)
    customer = await lock_customer(session, purchase.customer_id)
    refuse_own_account(actor, customer)
    moved = {"now": now, "author_tg_id": actor.tg_id, "purchase_id": purchase.id}
    if to_return:
        post(
            session, customer, kind=LedgerKind.REVERSAL, points=to_return,
            key=f"{key}:return", reason="refund: redeemed points returned", **moved,
        )  # fmt: skip
    reversed_points = await take_back_pending(
        session, customer, to_reverse, key=f"{key}:reverse-pending", **moved
    )  # inside the return window: the purchase's pending points first
    reversed_points += take_back(
        session, customer, to_reverse - reversed_points, key=f"{key}:reverse",
        reason="refund: earned points reversed", **moved,
    )  # fmt: skip
    shortfall = to_reverse - reversed_points
    purchase.refunded_amount += amount
    if purchase.refunded_amount >= purchase.amount:
        await surveys.withdraw_question(session, purchase.id)
    await session.flush()
    await reverse_on_refund(session, biz, purchase, key=key, now=now, actor=actor)
    await recheck(session, biz, customer, now)
    enqueue(session, customer_notice(
        biz, customer, "customer.refunded", amount=amount, reversed=reversed_points,
        returned=to_return, balance=customer.balance,
    ))  # fmt: skip
    audit_act(
        session, actor, "refund", key, now, customer.id, purchase_id=purchase.id,
        amount=str(amount), reversed=reversed_points, returned=to_return, shortfall=shortfall,
    )  # fmt: skip
    return RefundResult(
        purchase_id=purchase.id, customer_id=customer.id, card_code=customer.card_code,
        refunded=amount, points_reversed=reversed_points, points_returned=to_return,
        shortfall=shortfall, balance=customer.balance,
    )  # fmt: skip


async def add_note(
    biz: Business, actor: Actor, key: str, request: NoteRequest
) -> Outcome[NoteResult]:
    now = biz.clock.now()

    async def work(session: AsyncSession) -> NoteResult:
        customer = await customer_for(session, biz, actor, request.customer)
        note = Note(
            customer_id=customer.id, author_tg_id=actor.tg_id, text=request.text, created_at=now
        )
        session.add(note)
        await session.flush()
        audit_act(session, actor, "note", key, now, customer.id, note_id=note.id)
        return NoteResult(note_id=note.id, customer_id=customer.id, card_code=customer.card_code)

    return await run_once(biz.db, biz.clock, key, NoteResult, work)
